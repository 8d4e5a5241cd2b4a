"""What each function's image holds, without a container engine: its Dockerfile read into a
recipe, the files it copies staged into a tree of their own, and a virtualenv with only its
requirements and the library, so a function runs locally from exactly what its image has.

A file the code needs at run time that the image lacks fails here, not in a cluster.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

FUNCTIONS = ("start_game", "play", "train", "promote")
_UNUSED_SECONDS = 7 * 24 * 3600
_PIP_INSTALL = re.compile(r"\bpip install\b(?P<args>.*)")


@dataclass(frozen=True, slots=True)
class Recipe:
    """The parts of a function's Dockerfile that decide what runs: the build context's files
    it copies (source, destination), its ENV and WORKDIR, its requirements file and its CMD."""

    function: str
    copies: tuple[tuple[str, str], ...]
    env: Mapping[str, str]
    workdir: str
    requirements: str
    command: tuple[str, ...]
    installs_library: bool = False
    folders: tuple[str, ...] = ()  # `mkdir -p` under WORKDIR
    removed: tuple[str, ...] = ()  # `rm -rf` globs under WORKDIR, after the installs
    ignored: tuple[str, ...] = ()  # RUN steps with no local counterpart (users, other indexes)


def _instructions(text: str) -> Iterator[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    logical = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not logical and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):  # a comment inside a continued instruction
            continue
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        logical += stripped
        keyword, _, arguments = logical.partition(" ")
        yield keyword.upper(), arguments.strip()
        logical = ""


def _env_pairs(arguments: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in shlex.split(arguments))


def read_recipe(repo: Path, function: str) -> Recipe:
    """The recipe of functions/<function>/Dockerfile."""
    copies: list[tuple[str, str]] = []
    env: dict[str, str] = {}
    workdir, requirements, command = "/", "", ()
    installs_library = False
    folders: list[str] = []
    removed: list[str] = []
    ignored: list[str] = []
    for keyword, arguments in _instructions(
        (repo / "functions" / function / "Dockerfile").read_text()
    ):
        if keyword == "COPY":
            *sources, destination = shlex.split(arguments)
            copies += [(source, destination) for source in sources]
        elif keyword == "ENV":
            env |= _env_pairs(arguments)
        elif keyword == "WORKDIR":
            workdir = str(PurePosixPath(workdir) / arguments)
        elif keyword == "CMD":
            command = tuple(json.loads(arguments))
        elif keyword == "RUN":
            for step in (s.strip() for s in arguments.split("&&")):
                match = _PIP_INSTALL.search(step)
                options = shlex.split(match["args"]) if match else []
                words = shlex.split(step)
                if "-r" in options:
                    requirements = options[options.index("-r") + 1]
                elif "--no-deps" in options and options[-1] == ".":
                    installs_library = True
                elif words[:2] == ["mkdir", "-p"]:
                    folders += words[2:]
                elif words[:2] == ["rm", "-rf"]:
                    removed += words[2:]
                else:
                    ignored.append(step)
    if not (requirements and command):
        raise ValueError(f"functions/{function}/Dockerfile installs no requirements or has no CMD")
    return Recipe(
        function,
        tuple(copies),
        env,
        workdir,
        requirements,
        command,
        installs_library=installs_library,
        folders=tuple(folders),
        removed=tuple(removed),
        ignored=tuple(ignored),
    )


def _pattern(text: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex over context-relative paths (Go filepath.Match plus
    `**`, as Docker reads it)."""
    parts = []
    for token in re.split(r"(\*\*/?|\*|\?)", text.strip("/")):
        if token.startswith("**"):
            parts.append("(?:.*/)?" if token.endswith("/") else ".*")
        elif token == "*":
            parts.append("[^/]*")
        elif token == "?":
            parts.append("[^/]")
        else:
            parts.append(re.escape(token))
    return re.compile("".join(parts))


@dataclass(frozen=True, slots=True)
class BuildContext:
    """The repository as `docker build` sees it through .dockerignore: the last matching
    pattern wins, and a pattern matching a folder decides for everything inside it."""

    root: Path
    rules: tuple[tuple[re.Pattern[str], bool], ...]

    @classmethod
    def of(cls, root: Path) -> BuildContext:
        ignore = root / ".dockerignore"
        lines = ignore.read_text().splitlines() if ignore.is_file() else []
        rules = tuple(
            (_pattern(line.strip().removeprefix("!")), not line.strip().startswith("!"))
            for line in lines
            if line.strip() and not line.strip().startswith("#")
        )
        return cls(root, rules)

    def excluded(self, relative: str) -> bool:
        parts = relative.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        verdict = False
        for pattern, excludes in self.rules:
            if any(pattern.fullmatch(prefix) for prefix in prefixes):
                verdict = excludes
        return verdict

    def files(self, source: str) -> Iterator[Path]:
        """Every file under `source` (a file or a folder) that the context sends."""
        start = self.root / source
        candidates = [start] if start.is_file() else sorted(start.rglob("*"))
        for path in candidates:
            relative = path.relative_to(self.root).as_posix()
            if path.is_file() and not self.excluded(relative):
                yield path


def _place(destination: str, workdir: str) -> PurePosixPath:
    return PurePosixPath(workdir) / destination


def stage_tree(recipe: Recipe, repo: Path, target: Path) -> None:
    """Replace `target` by exactly the files the Dockerfile's COPY steps put in the image,
    laid out under the image's root (`target` stands for `/`)."""
    context = BuildContext.of(repo)
    shutil.rmtree(target, ignore_errors=True)
    for source, destination in recipe.copies:
        base = repo / source
        placed = _place(destination, recipe.workdir)
        found = list(context.files(source))
        if not found:
            raise FileNotFoundError(f"{recipe.function}: COPY {source} sends nothing")
        for path in found:
            if base.is_file():
                name = placed / path.name if destination.endswith("/") else placed
            else:
                name = placed / path.relative_to(base).as_posix()
            out = target / str(name).lstrip("/")
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, out)


def _digest(*parts: bytes) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(hashlib.sha256(part).digest())
    return hasher.hexdigest()[:16]


def _tree_digest(root: Path) -> str:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return _digest(*(p.relative_to(root).as_posix().encode() + p.read_bytes() for p in files))


@dataclass(frozen=True, slots=True)
class StagedFunction:
    """A function as its image would run it: root folder, virtualenv and command. The library
    is installed beside the tree, not into the shared venv, so that stagings of different
    checkouts never rewrite each other's code."""

    recipe: Recipe
    root: Path  # stands for the image's `/`
    venv: Path  # the requirements only, shared by every staging with the same ones
    library: Path | None = None  # `pip install --no-deps .` as a --target folder

    @property
    def workdir(self) -> Path:
        return self.local_path(self.recipe.workdir)

    def local_path(self, image_path: str) -> Path:
        return self.root / image_path.lstrip("/")

    def environment(self) -> dict[str, str]:
        """The Dockerfile's ENV with image paths mapped into the staged tree, and PATH."""
        workdir = self.recipe.workdir.rstrip("/") or "/"
        env = {
            name: str(self.local_path(value)) if value.startswith(workdir) else value
            for name, value in self.recipe.env.items()
        }
        path = {"PATH": f"{self.venv / 'bin'}:/usr/local/bin:/usr/bin:/bin"}
        if self.library is not None:
            path["PYTHONPATH"] = str(self.library)
        return {**path, **env}

    def command(self, host: str, port: int) -> list[str]:
        """CMD with the executable from the venv and the port (8080 in the image) set."""
        program, *arguments = self.recipe.command
        if "--port" in arguments:
            arguments[arguments.index("--port") + 1] = str(port)
        return [str(self.venv / "bin" / program), *arguments, "--host", host]


def _run(command: list[str], log: Path) -> None:
    with log.open("ab") as output:
        subprocess.run(command, check=True, stdout=output, stderr=subprocess.STDOUT, timeout=1800)


def _venv(recipe: Recipe, repo: Path, cache: Path, log: Path) -> Path:
    """A virtualenv holding only the function's requirements, cached by their content."""
    requirements = (repo / recipe.requirements).read_bytes()
    key = _digest(requirements, sys.version.encode())
    venv = cache / f"{recipe.function}-{key}"
    marker = venv / ".complete"
    if not marker.exists():
        _prune(cache, recipe.function)
        _run([sys.executable, "-m", "venv", str(venv)], log)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        _run([*pip, "--upgrade", "pip>=26"], log)  # pip 23 backtracks for minutes on mlflow
        _run([*pip, "-r", str(repo / recipe.requirements)], log)
    marker.touch()  # last used: what _prune goes by
    return venv


def _prune(cache: Path, function: str) -> None:
    """Drop the function's venvs unused for a week: older requirements that no checkout on
    this machine has staged since (another checkout, or a running stack, may still use a
    recent one)."""
    cutoff = time.time() - _UNUSED_SECONDS
    for stale in cache.glob(f"{function}-*"):
        marker = stale / ".complete"  # without one, it may be another process's venv in the making
        if (marker if marker.exists() else stale).stat().st_mtime < cutoff:
            shutil.rmtree(stale, ignore_errors=True)


def stage(function: str, repo: Path, target: Path, cache: Path, log: Path) -> StagedFunction:
    """The function's image contents under `target`, and its virtualenv from `cache` with
    the library installed from the staged tree (`pip install --no-deps .` as in the image)."""
    recipe = read_recipe(repo, function)
    stage_tree(recipe, repo, target)
    venv = _venv(recipe, repo, cache, log)
    library = target.with_name(f"{target.name}.library") if recipe.installs_library else None
    if library is not None:
        digest = _tree_digest(target / recipe.workdir.lstrip("/"))
        marker = library / ".digest"
        if not marker.exists() or marker.read_text() != digest:
            shutil.rmtree(library, ignore_errors=True)
            pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps"]
            _run([*pip, "--target", str(library), str(target / recipe.workdir.lstrip("/"))], log)
            marker.write_text(digest)
    staged = StagedFunction(recipe, target, venv, library)
    for pattern in recipe.removed:
        for leftover in staged.workdir.glob(pattern):
            if leftover.is_dir():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
    for folder in recipe.folders:
        (staged.workdir / folder).mkdir(parents=True, exist_ok=True)
    return staged
