"""Point a kustomize overlay's `images:` at function images pushed to a registry (`make images`):
`python -m rpsquest.overlay OVERLAY_DIR REGISTRY TAG IMAGE...`.

Only the overlay's top-level `images:` block is rewritten (or added); every other line, comments
included, stays as written, and the result is checked to parse as the same document otherwise.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

KUSTOMIZATION = "kustomization.yaml"
# Docker's tag grammar; a registry is a host[:port] with an optional path, no scheme.
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_REGISTRY = re.compile(r"[A-Za-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*")
_IMAGES_KEY = re.compile(r"images:\s*(#.*)?")


class _Indented(yaml.SafeDumper):
    """Indents list items under their key, as the hand-written kustomizations do."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)


def image_entries(names: Sequence[str], registry: str, tag: str) -> list[dict[str, str]]:
    """kustomize `images:` entries renaming each image to registry/name:tag."""
    return [{"name": name, "newName": f"{registry}/{name}", "newTag": tag} for name in names]


def _block_end(lines: Sequence[str], start: int) -> int:
    """One past the last line of the top-level block starting at `start` (its indented or
    `- ` lines; blank lines only when the block goes on after them)."""
    end = start + 1
    for index in range(start + 1, len(lines)):
        line = lines[index]
        if line.startswith((" ", "\t", "-")):
            end = index + 1
        elif line.strip():
            break
    return end


def set_images(kustomization: Path, entries: list[dict[str, str]]) -> None:
    """Replace the file's top-level `images:` block with `entries`, or append one."""
    text = kustomization.read_text()
    lines = text.splitlines(keepends=True)
    block = yaml.dump({"images": entries}, Dumper=_Indented, sort_keys=False)
    starts = [i for i, line in enumerate(lines) if _IMAGES_KEY.fullmatch(line.rstrip("\n"))]
    if starts:
        start = starts[0]
        lines[start : _block_end(lines, start)] = [block]
    else:
        lines.append(("" if not lines or text.endswith("\n") else "\n") + block)
    updated = "".join(lines)
    expected: dict[str, Any] = {**(yaml.safe_load(text) or {}), "images": entries}
    if yaml.safe_load(updated) != expected:
        raise ValueError(f"{kustomization}: its images: block is not one this tool can rewrite")
    kustomization.write_text(updated)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rpsquest.overlay", description=__doc__)
    parser.add_argument("overlay", type=Path, help="the overlay's directory")
    parser.add_argument("registry", help="host[:port][/path], e.g. ghcr.io/you")
    parser.add_argument("tag")
    parser.add_argument("images", nargs="+", help="image names as in the base, rps-quest/play…")
    args = parser.parse_args(argv)
    registry = args.registry.rstrip("/")
    if not _REGISTRY.fullmatch(registry):
        parser.error(f"registry {args.registry!r} is not host[:port][/path] (no scheme)")
    if not _TAG.fullmatch(args.tag):
        parser.error(f"tag {args.tag!r} is not a valid image tag")
    path = args.overlay / KUSTOMIZATION
    set_images(path, image_entries(args.images, registry, args.tag))
    print(f"{path}: {', '.join(args.images)} now {registry}/…:{args.tag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
