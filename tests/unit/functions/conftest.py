"""Each function's main.py in a test client (functions-framework's create_app), one project."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import functions_framework
import pytest
from flask.testing import FlaskClient

from tests.conftest import REPO

ADMIN_TOKEN = "unit-admin-token"
PAGE_ORIGIN = "http://127.0.0.1:8081"


@pytest.fixture
def client_for(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., FlaskClient]:
    """A test client of functions/<name>/main.py; its settings come from `env`."""

    def create(name: str, **env: str) -> FlaskClient:
        monkeypatch.setenv("RPS_PROJECT_DIR", str(tmp_path))
        for variable, value in env.items():
            monkeypatch.setenv(variable, value)
        source = REPO / "functions" / name / "main.py"
        return functions_framework.create_app(name, str(source)).test_client()

    return create
