"""Image contents without a container engine: Dockerfiles read into recipes, build-context
filtering as .dockerignore says, and staged trees holding exactly what the images copy."""

from __future__ import annotations

from pathlib import Path

import pytest

from rpsquest.images import FUNCTIONS, BuildContext, StagedFunction, read_recipe, stage_tree
from tests.conftest import REPO


@pytest.mark.parametrize("name", FUNCTIONS)
def test_a_recipe_has_the_dockerfiles_requirements_env_workdir_and_command(name):
    recipe = read_recipe(REPO, name)

    assert recipe.requirements == f"functions/{name}/requirements.txt"
    assert recipe.installs_library
    assert recipe.workdir == "/app"
    assert recipe.env["RPS_PROJECT_DIR"] == "/app"
    assert recipe.command == (
        "functions-framework",
        "--target",
        name,
        "--source",
        f"functions/{name}/main.py",
        "--port",
        "8080",
    )
    assert "var" in recipe.folders


def test_the_recipe_names_the_run_steps_it_does_not_reproduce():
    recipe = read_recipe(REPO, "train")

    assert any("download.pytorch.org" in step for step in recipe.ignored)
    assert any(step.startswith("useradd") for step in recipe.ignored)


def test_the_build_context_sends_what_dockerignore_lets_through(tmp_path):
    (tmp_path / ".dockerignore").write_text("*\n!shared/\n**/__pycache__\n!keep.txt\n")
    for name in (
        "shared/a.py",
        "shared/__pycache__/a.pyc",
        "shared/deep/__pycache__/b.pyc",
        "tests/t.py",
        "keep.txt",
        "drop.txt",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    context = BuildContext.of(tmp_path)

    sent = sorted(p.relative_to(tmp_path).as_posix() for p in context.files("."))

    assert sent == ["keep.txt", "shared/a.py"]


def _tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_a_staged_tree_holds_exactly_what_the_image_copies(name, tmp_path):
    recipe = read_recipe(REPO, name)

    stage_tree(recipe, REPO, tmp_path)

    files = _tree(tmp_path / "app")
    assert _tree(tmp_path) == {f"app/{f}" for f in files}
    assert f"functions/{name}/main.py" in files
    assert "pyproject.toml" in files
    assert "shared/rpsquest/__init__.py" in files
    others = {f"functions/{n}/main.py" for n in FUNCTIONS if n != name}
    assert files & others == set()
    assert not any(
        "__pycache__" in f or f.startswith(("tests/", "knative/", "var/")) for f in files
    )
    assert any(f.startswith("configs/") for f in files) == (name in ("train", "promote"))


def test_a_staged_function_runs_its_cmd_from_the_venv_on_the_given_port(tmp_path):
    staged = StagedFunction(read_recipe(REPO, "play"), tmp_path, tmp_path / "venv")

    command = staged.command("127.0.0.1", 18082)
    env = staged.environment()

    assert command[0] == str(tmp_path / "venv" / "bin" / "functions-framework")
    assert command[command.index("--port") + 1] == "18082"
    assert command[-2:] == ["--host", "127.0.0.1"]
    assert env["RPS_PROJECT_DIR"] == str(tmp_path / "app")
    assert env["PATH"].startswith(str(tmp_path / "venv" / "bin"))
    assert staged.workdir == tmp_path / "app"
