"""promote's image: its main.py reaches neither the model runtime nor the training libraries."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO

# MLflow may load, once promote moves aliases; nothing promote does needs these.
NOT_PROMOTES = ("numpy", "onnxruntime", "torch", "sklearn", "xgboost")


def test_promote_imports_neither_onnxruntime_nor_numpy(tmp_path):
    script = f"""
import sys
import functions_framework
functions_framework.create_app("promote", {str(REPO / "functions/promote/main.py")!r})
print(sorted({{name.split(".")[0] for name in sys.modules}} & set({NOT_PROMOTES!r})))
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "RPS_PROJECT_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
