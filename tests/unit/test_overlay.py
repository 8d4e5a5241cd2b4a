"""`make images` and rpsquest.overlay: the function images built from the repository root,
pushed as REGISTRY/rps-quest/<name>:TAG, and the k3s overlay pointed at them.

No container engine runs here: the Makefile is checked by its dry run (`make -n`) and by a real
run with a stand-in engine that records its arguments, against a copy of knative/.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from rpsquest.overlay import KUSTOMIZATION, image_entries, main, set_images
from tests.conftest import REPO
from tests.manifests import KNATIVE, KSVC, load, problems, render

MAKE = shutil.which("make")
OVERLAY = KNATIVE / "overlays" / "k3s"
FUNCTIONS = sorted(p.parent.name for p in (REPO / "functions").glob("*/Dockerfile"))


def base_function_images() -> list[str]:
    """Our images as knative/base/kustomization.yaml names them (not postgres, minio, …)."""
    (kustomization,) = load(KNATIVE / "base" / KUSTOMIZATION)
    return sorted(i["name"] for i in kustomization["images"] if i["name"].startswith("rps-quest/"))


def make(*args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    """make in the repository, the venv taken as installed; PATH replaced when given."""
    env = os.environ | ({"PATH": path} if path is not None else {})
    command = [MAKE, "--no-print-directory", "-o", ".venv/.installed", *args]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


def executable(path: Path, script: str = "exit 0") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_every_function_has_an_image_named_in_the_base() -> None:
    names = [f"rps-quest/{function.replace('_', '-')}" for function in FUNCTIONS]

    assert sorted(names) == base_function_images()
    assert len(names) == 4


@pytest.mark.parametrize(
    ("on_path", "tool"), [(["podman"], "podman"), (["docker", "podman"], "docker")]
)
def test_make_images_builds_and_pushes_each_function_with_docker_else_podman(
    on_path: list[str], tool: str, tmp_path: Path
) -> None:
    for name in on_path:
        executable(tmp_path / "bin" / name)

    dry_run = make(
        "-n", "images", "REGISTRY=reg.example:5000/rps", "TAG=1.2.3", path=f"{tmp_path}/bin"
    )

    assert dry_run.returncode == 0, dry_run.stderr
    lines = dry_run.stdout.splitlines()
    for function in FUNCTIONS:
        image = f"reg.example:5000/rps/rps-quest/{function.replace('_', '-')}:1.2.3"
        assert f"{tool} build -f functions/{function}/Dockerfile -t {image} ." in lines
        assert f"{tool} push {image}" in lines
    helper, images = lines[-1].split()[:6], lines[-1].split()[6:]
    assert helper == [
        ".venv/bin/python", "-m", "rpsquest.overlay", "knative/overlays/k3s",
        "reg.example:5000/rps", "1.2.3",
    ]  # fmt: skip
    assert sorted(images) == base_function_images()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["TAG=t"], "make images needs REGISTRY="),
        (["REGISTRY=r", "TAG=t"], "make images needs docker or podman on PATH"),
    ],
)
def test_make_images_says_what_it_is_missing(args: list[str], message: str, tmp_path: Path):
    result = make("-n", "images", *args, path=str(tmp_path))  # no docker, no podman

    assert result.returncode != 0
    assert message in result.stderr


def test_make_images_pushes_what_it_built_and_the_overlay_renders_with_it(tmp_path: Path):
    knative = tmp_path / "knative"
    shutil.copytree(KNATIVE, knative)
    log = tmp_path / "engine.log"
    engine = executable(tmp_path / "engine", f'echo "$*" >> {log}')

    result = make(
        "images", "REGISTRY=r.example/team", "TAG=t1", f"CONTAINER_TOOL={engine}",
        f"OVERLAY={knative / 'overlays' / 'k3s'}",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    assert len(calls) == 2 * len(FUNCTIONS)
    for build, push in zip(calls[::2], calls[1::2], strict=True):
        image = push.removeprefix("push ")
        assert build.startswith("build -f functions/") and build.endswith(f" -t {image} .")
    documents = render(knative / "overlays" / "k3s")
    images = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"]
        for d in documents
        if (d["apiVersion"], d["kind"]) == KSVC
    }
    assert sorted(images.values()) == sorted(
        f"r.example/team/{n}:t1" for n in base_function_images()
    )
    assert sorted(push.removeprefix("push ") for push in calls[1::2]) == sorted(images.values())
    assert problems(documents) == []


# The overlay helper on its own.


def test_set_images_adds_the_block_and_keeps_every_other_line(tmp_path: Path) -> None:
    kustomization = tmp_path / KUSTOMIZATION
    shutil.copy(OVERLAY / KUSTOMIZATION, kustomization)
    before = kustomization.read_text()
    entries = image_entries(["rps-quest/play"], "r", "0.2")

    set_images(kustomization, entries)

    after = kustomization.read_text()
    assert after.startswith(before)
    assert yaml.safe_load(after) == {**yaml.safe_load(before), "images": entries}
    assert "  - name: rps-quest/play\n    newName: r/rps-quest/play\n    newTag: '0.2'\n" in after


def test_set_images_rewrites_its_block_in_place(tmp_path: Path) -> None:
    kustomization = tmp_path / KUSTOMIZATION
    kustomization.write_text(
        "resources:\n  - ../../base\n"
        "images:\n  - name: rps-quest/play\n    newTag: old\n\n  - name: rps-quest/train\n"
        "# patches, kept\npatches:\n  - path: storage-class.yaml\n"
    )

    set_images(kustomization, image_entries(["rps-quest/play"], "r", "a"))
    set_images(kustomization, image_entries(["rps-quest/play"], "r", "b"))

    text = kustomization.read_text()
    assert text.count("images:") == 1
    assert "# patches, kept\npatches:\n" in text
    assert yaml.safe_load(text) == {
        "resources": ["../../base"],
        "images": [{"name": "rps-quest/play", "newName": "r/rps-quest/play", "newTag": "b"}],
        "patches": [{"path": "storage-class.yaml"}],
    }


@pytest.mark.parametrize(
    ("registry", "tag"), [("https://r.example", "t"), ("r.example", "bad tag"), ("", "t")]
)
def test_a_bad_registry_or_tag_is_a_usage_error(registry: str, tag: str, tmp_path: Path):
    shutil.copy(OVERLAY / KUSTOMIZATION, tmp_path / KUSTOMIZATION)

    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path), registry, tag, "rps-quest/play"])

    assert exit_info.value.code == 2
    assert (tmp_path / KUSTOMIZATION).read_text() == (OVERLAY / KUSTOMIZATION).read_text()
