"""How the Cobaya theory's plan sees emulators without the outputs whose training settings differ
from the fallback's. (H0 derived by one emulator for another: ``zelos.serving.compose``.)"""

from __future__ import annotations


class OutputsSetAside:
    """An emulator as the plan sees it: without the outputs whose training settings differ from
    the fallback's (the router still holds the whole emulator, and never routes those to it)."""

    def __init__(self, emulator, aside):
        self._emulator = emulator
        self.outputs = {name: info for name, info in emulator.outputs.items() if name not in aside}

    def __getattr__(self, name):
        return getattr(self._emulator, name)


def without(emulator, aside):
    """``emulator``, or its view without the outputs of ``aside`` (``(outputs, why)`` or None)."""
    return emulator if not aside else OutputsSetAside(emulator, aside[0])
