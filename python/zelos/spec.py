"""Emulator specs: parsed and validated by the Rust core, returned as plain dicts."""

from __future__ import annotations

import json
import os

import numpy as np

from . import _zelos


def load_spec(path: str | os.PathLike) -> dict:
    """Reads and validates a spec file; returns it as a dict (covariance files inlined).

    Raises ``zelos.SpecError`` naming the file, the key, what was found and what was expected.
    Beyond the spec's own rules (checked in Rust), ``code.settings`` are checked against the
    driver's names and types (:func:`zelos.drivers.check_settings`; docs/reliability.md).
    """
    canonical = _zelos.load_spec(os.fspath(path))
    spec = json.loads(_zelos.parse_spec(canonical, os.fspath(path)))
    check_code_settings(spec, path)
    return spec


def canonical_yaml(path: str | os.PathLike) -> str:
    """The canonical, self-contained YAML of a spec file (what archives store), checked as
    :func:`load_spec` checks it."""
    canonical = _zelos.load_spec(os.fspath(path))
    check_code_settings(json.loads(_zelos.parse_spec(canonical, os.fspath(path))), path)
    return canonical


def check_code_settings(spec: dict, path: str | os.PathLike = "spec") -> str | None:
    """Raises ``zelos.SpecError`` (one line per problem, each naming the file, the key
    `code.settings.NAME`, what was found, what was expected and a close name for a typo) when the
    driver of the spec's code would refuse its settings or, for CAMB, a parameter's name. Returns
    a note when something could not be checked (the code not installed, another version)."""
    from .drivers import check_settings

    code = spec["code"]
    problems, note = check_settings(code["name"], code.get("settings") or {}, code.get("version"),
                                    parameters=list(spec.get("parameters") or ()))
    if problems:
        raise _zelos.SpecError("\n".join(f"{os.fspath(path)}: {p.message()}" for p in problems))
    return note


def constraint_filter(parameters: list, constraints: list):
    """Which rows of an ``(m, d)`` array satisfy the spec's linear ``constraints``
    (``min <= sum of coefficient * parameter <= max``), as a function; None without constraints."""
    if not constraints:
        return None
    rows = []
    for c in constraints:
        coef = np.zeros(len(parameters))
        for name, value in c["terms"].items():
            coef[parameters.index(name)] = float(value)
        rows.append((coef, c.get("min"), c.get("max")))

    def accept(x: np.ndarray) -> np.ndarray:
        ok = np.ones(len(x), dtype=bool)
        for coef, lo, hi in rows:
            v = x @ coef
            if lo is not None:
                ok &= v >= lo
            if hi is not None:
                ok &= v <= hi
        return ok

    return accept
