"""What the dev broker raises for a manifest it cannot honour."""

from __future__ import annotations


class ManifestError(ValueError):
    """A manifest the dev broker cannot honour; raised at load so a typo never routes silently."""
