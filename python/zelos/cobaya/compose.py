"""How the Cobaya theory's plan combines emulators: H0 derived by one emulator for another that
takes it (a run that samples the angle), and emulators seen without the outputs whose training
settings differ from the fallback's."""

from __future__ import annotations

#: The angles a run may give in place of H0 (CAMB's names): an emulator taking H0 then serves
#: with the H0 an emulator taking the angle derives (:func:`compose_h0`).
THETA_INPUTS = frozenset({"cosmomc_theta", "thetastar"})


def compose_h0(usable: dict, wants_h0: dict, excluded: dict) -> tuple:
    """Emulators that take H0, in a run that gives the angle (``cosmomc_theta``) instead,
    serve with the H0 that an emulator taking the angle derives (a CMB emulator's ``H0``): at
    each point the router first answers every output it can, then, with that H0, the rest.

    ``usable``: ``{key: (emulator, fixed)}``, to which they are added; ``wants_h0``: ``{key:
    (emulator, fixed, blockers)}``; without an emulator deriving H0 they go to ``excluded``
    with the reason. Returns ``(h0 sources, {composed key: h0 sources})``."""
    sources = sorted(k for k, (e, _) in usable.items() if "H0" in e.outputs)
    composed = {}
    for key, (emu, fixed, blockers) in wants_h0.items():
        if not sources:
            excluded[key] = "; ".join([*blockers.values(), "it takes `H0`, which is not an input of this run, "
                                       "and no loaded emulator derives H0 from it"])
            continue
        usable[key] = (emu, fixed)
        composed[key] = sources
    return sources, composed


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
