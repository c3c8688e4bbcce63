"""classy's exceptions, and the real classy module behind the stand-in.

MontePython tells two failures apart by class: ``CosmoComputationError`` rejects a point (the
code could not compute it), ``CosmoSevereError`` stops the run (a bad input). When the real
classy is installed its own classes are re-exported, so ``except classy.CosmoComputationError``
catches what the real CLASS raises in a fallback and what zelos raises alike.
"""

from __future__ import annotations

import importlib
import sys

CLASS_VERSION = "v3.4.1"  # what `classy.__version__` says when classy is not installed


def real_classy():
    """The installed classy module (not the zelos stand-in, even when the launcher has put
    ``zelos.montepython`` in ``sys.modules["classy"]``), or None."""
    global _REAL
    if _REAL is not _UNSET:
        return _REAL
    mine = sys.modules.get("classy")
    if mine is not None and getattr(mine, "__zelos__", False):
        del sys.modules["classy"]  # look past the stand-in for the real package
    try:
        _REAL = importlib.import_module("classy")
    except ImportError:
        _REAL = None
    finally:
        if mine is not None and getattr(mine, "__zelos__", False):
            sys.modules["classy"] = mine
    return _REAL


_UNSET = object()
_REAL = _UNSET


def new_real_class():
    """A real ``classy.Class``. Made with the real module in ``sys.modules["classy"]``: classy
    finds its data files (HyRec, BBN tables) through ``importlib.resources.files("classy")``
    when an instance is made, which would otherwise find the stand-in's folder."""
    classy = real_classy()
    saved = sys.modules.get("classy")
    sys.modules["classy"] = classy
    try:
        return classy.Class()
    finally:
        if saved is None:
            del sys.modules["classy"]
        else:
            sys.modules["classy"] = saved

_classy = real_classy()
if _classy is not None:
    CosmoSevereError = _classy.CosmoSevereError
    CosmoError = CosmoSevereError.__mro__[1]  # classy's base class (not exported by its package)
    CosmoComputationError = _classy.CosmoComputationError
    __version__ = _classy.__version__
else:
    class CosmoError(Exception):
        """Base of classy's errors (classy is not installed; zelos defines them alike)."""

        def __init__(self, message=""):
            self.message = message.decode() if isinstance(message, bytes) else message

        def __str__(self):
            return "\n\nError in Class: " + self.message

    class CosmoSevereError(CosmoError):
        """A bad input or set-up: MontePython stops the run."""

    class CosmoComputationError(CosmoError):
        """The point cannot be computed: MontePython rejects it."""

    __version__ = CLASS_VERSION

del _classy
