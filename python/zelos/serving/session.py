"""What a plugin's session checks once, whatever the framework: emulator keys, the one code
the emulators share, the code version they pin, the code settings they share, and the line
naming an emulator at start-up. The plugins word the errors in their framework's terms."""

from __future__ import annotations

import os

from ..code_inputs import same


def add_keyed(emulators: dict, emulator) -> str:
    """Adds ``emulator`` to ``emulators`` under its name, or ``NAME#2``, ``NAME#3``... when the
    name is taken (the same archive twice, or two of one name); returns the key."""
    key, n = emulator.name, 2
    while key in emulators:
        key, n = f"{emulator.name}#{n}", n + 1
    emulators[key] = emulator
    return key


def codes(emulators: dict) -> list:
    """The codes the emulators were trained with, sorted (one zelos session falls back to one)."""
    return sorted({e.spec["code"]["name"] for e in emulators.values()})


def bare_version(v) -> str:
    """A version as compared: classy says "v3.4.1", its specs "3.4.1"."""
    return str(v).strip().lstrip("v")


def version_mismatches(emulators: dict, installed) -> list:
    """``[(key, pinned version)]`` of the emulators pinning another version than ``installed``."""
    return [(key, emu.spec["code"]["version"]) for key, emu in emulators.items()
            if bare_version(emu.spec["code"]["version"]) != bare_version(installed)]


def ranked(emulators: dict) -> dict:
    """``emulators`` (key -> Emulator) in the router's rank order: validated likelihood accuracy,
    then held-out relative error (docs/trust-regions.md)."""
    from ..routing import Router

    return {key: emulators[key] for key in Router(emulators).keys()}


def shared_settings(emulators: dict, settings_of, matters=None, defaults=None, listed_by=None) -> tuple:
    """``(settings, disagreements)``: the code settings for the fallback's runs from the
    emulators' (``settings_of(emulator)``), and ``[(name, kept, other, key)]``.

    Each setting some emulator lists takes the value of the first emulator (in load order) it
    matters to (``matters(emulator, name)``): its listed value, or else the code's default
    (``defaults``), for an emulator that leaves a setting at the default was trained there as
    much as one that writes it. So a P(k) emulator trained with HMcode's feedback does not move
    the CMB emulators' lensing to it. A setting that matters to none takes the first listed
    value. Without ``matters``, every listed value matters and unlisted ones are not compared.
    ``listed_by`` (a wider dict of emulators, in load order: every loaded one): the settings
    they list are chosen too, by ``emulators`` first (a setting the non-linear P(k) emulator
    lists is chosen by the CMB emulators it reaches, at their default, not by that emulator
    when it cannot serve the run); one that matters to none of ``emulators`` and that none of
    them lists is chosen by the same rule among ``listed_by`` (an emulator out of play still
    tells the value its outputs were trained with), without disagreements."""
    settings, disagreements = {}, []
    listed = {key: settings_of(emu) for key, emu in emulators.items()}
    wider = listed if listed_by is None else {key: settings_of(emu) for key, emu in listed_by.items()}
    names = list(dict.fromkeys(name for values in [*listed.values(), *wider.values()] for name in values))
    for name in names:
        chosen = _first_setting(name, emulators, listed, matters, defaults, disagreements)
        if chosen is None and listed_by is not None:
            chosen = _first_setting(name, listed_by, wider, matters, defaults, [])
        if chosen is not None:
            settings[name] = chosen
    return settings, disagreements


def _first_setting(name: str, emulators: dict, listed: dict, matters, defaults, disagreements: list):
    """The value of setting ``name`` that :func:`shared_settings` chooses among ``emulators``
    (``listed``: their listed settings), recording disagreements; None where none gives one."""
    chosen = None
    for key, emu in emulators.items():
        if matters is None:
            if name not in listed[key]:
                continue
        elif not matters(emu, name):
            continue
        if name in listed[key]:
            value = listed[key][name]
        elif defaults is not None and name in defaults:
            value = defaults[name]
        else:
            continue
        if chosen is None:
            chosen = value
        elif not same(chosen, value):
            disagreements.append((name, chosen, value, key))
    if chosen is None:  # matters to no emulator: the first listed value
        chosen = next((values[name] for values in listed.values() if name in values), None)
    return chosen


class OutputsSetAside:
    """An emulator as a plan sees it: without the outputs whose training settings differ from
    the code runs' (the router still holds the whole emulator; the plan never routes those
    outputs to it)."""

    def __init__(self, emulator, aside):
        self._emulator = emulator
        self.outputs = {name: info for name, info in emulator.outputs.items() if name not in aside}

    def __getattr__(self, name):
        return getattr(self._emulator, name)


def without(emulator, aside):
    """``emulator``, or its view without the outputs of ``aside`` (``(outputs, why)`` or None)."""
    return emulator if not aside else OutputsSetAside(emulator, aside[0])


def split_by_settings(emulator, conflicts, runs: str = "the code runs' settings") -> tuple:
    """``(excluded, set aside)`` for an emulator whose training settings differ from the code
    runs': ``conflicts(outputs)`` lists the differing settings that reach those outputs (all
    outputs with None); ``runs`` names those runs in the reason. ``(None, None)``: none differ;
    ``(why, None)``: every output differs; ``(None, (outputs, why))``: only those (HMcode's
    settings reach a P(k) emulator's non-linear P(k), not its linear P(k) or growth)."""
    found = conflicts(None)
    if not found:
        return None, None
    why = f"its training settings differ from {runs}: " + "; ".join(found)
    aside = {o for o in emulator.outputs if conflicts([o])}
    return (why, None) if aside == set(emulator.outputs) else (None, (aside, why))


def emulator_line(key: str, emulator, accuracy: str, extra: str = "") -> str:
    """``KEY (ARCHIVE, sha256 0123456789ab..., ACCURACY[, EXTRA])`` for start-up lines
    (``accuracy``: the report's summary, ``build.report.accuracy_summary``)."""
    return (f"{key} ({os.path.basename(emulator.path)}, sha256 {emulator.sha256[:12]}..., "
            f"{accuracy}{', ' + extra if extra else ''})")
