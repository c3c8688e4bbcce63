"""Emulator specs: parsed and validated by the Rust core, returned as plain dicts."""

from __future__ import annotations

import json
import os

from . import _zelos


def load_spec(path: str | os.PathLike) -> dict:
    """Reads and validates a spec file; returns it as a dict (covariance files inlined).

    Raises ``zelos.SpecError`` naming the file, the key, what was found and what was expected.
    """
    canonical = _zelos.load_spec(os.fspath(path))
    return json.loads(_zelos.parse_spec(canonical, os.fspath(path)))


def canonical_yaml(path: str | os.PathLike) -> str:
    """The canonical, self-contained YAML of a spec file (what archives store)."""
    return _zelos.load_spec(os.fspath(path))
