"""classy's computation levels: the modules CLASS runs in order; a level asks for its module and
every one before it (``Class.compute(level)``)."""

from __future__ import annotations

from .errors import CosmoSevereError

__all__ = ["BACKGROUND", "LEVELS", "expand"]

#: classy 3.4.1's modules in order (``Class._levellist``); a level asks for its module and all before.
LEVELS = ("input", "background", "thermodynamics", "perturbations", "primordial", "fourier", "transfer",
          "harmonic", "lensing", "distortions")
BACKGROUND = {"input", "background", "thermodynamics"}


def expand(level) -> frozenset:
    """The classy modules ``level`` (a name or a list of names) asks for."""
    if isinstance(level, str):
        level = [level]
    out = set()
    for item in level:
        if item not in LEVELS:
            raise CosmoSevereError("Unknown computation level: '{}'".format(item))
        out.update(LEVELS[:LEVELS.index(item) + 1])
    return frozenset(out)
