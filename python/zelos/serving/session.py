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


def shared_settings(emulators: dict, settings_of) -> tuple:
    """``(settings, disagreements)``: the emulators' code settings (``settings_of(emulator)``),
    the first emulator's value winning a conflict, and ``[(name, kept, other, key)]``."""
    settings, disagreements = {}, []
    for key, emu in emulators.items():
        for name, value in settings_of(emu).items():
            if name in settings and not same(settings[name], value):
                disagreements.append((name, settings[name], value, key))
                continue
            settings.setdefault(name, value)
    return settings, disagreements


def emulator_line(key: str, emulator, accuracy: str, extra: str = "") -> str:
    """``KEY (ARCHIVE, sha256 0123456789ab..., ACCURACY[, EXTRA])`` for start-up lines
    (``accuracy``: the report's summary, ``build.report.accuracy_summary``)."""
    return (f"{key} ({os.path.basename(emulator.path)}, sha256 {emulator.sha256[:12]}..., "
            f"{accuracy}{', ' + extra if extra else ''})")
