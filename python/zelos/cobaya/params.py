"""Which parameters concern an emulator, and the values it holds them at, for CAMB and CLASS.

An emulator takes its spec's parameters; every other input of its code keeps the value in its
spec's ``code.settings`` or, failing that, the code's default at the pinned version. A point
that sets such an input to another value is not the emulator's to answer. The router compares
the point with these *fixed* values (``Router.add(fixed=...)``); this module works them out, and
knows which inputs cannot change an emulator's outputs at all (tau does not move H(z); n_s does
not move rdrag), so those never send a point to the fallback.

CAMB's tables are read from the installed camb (``code_inputs.camb_tables``); CLASS's are the
MontePython plugin's (``code_inputs.CLASS_DEFAULTS``), with the point in canonical CLASS names
(``classy_names``).
"""

from __future__ import annotations

import numpy as np

from .. import code_inputs

# `classy_names` is imported where needed: a CAMB run never needs CLASS's names.

# CAMB's input groups and defaults, shared with the MontePython plugin (zelos.code_inputs).
PRIMORDIAL = code_inputs.CAMB_PRIMORDIAL
REIONIZATION = code_inputs.CAMB_REIONIZATION
LENSING = code_inputs.CAMB_LENSING


def code_of(emulator) -> str:
    return emulator.spec["code"]["name"]


def tables():
    """(lmax options, primordial, non-linear, defaults) of the installed camb."""
    return code_inputs.camb_tables()


def irrelevant_inputs(outputs, code: str = "camb") -> set:
    """Inputs of ``code`` that cannot change any of these emulator outputs."""
    return code_inputs.irrelevant_inputs(outputs, code)


def fixed_values(emulator, run_inputs) -> tuple:
    """For the router: ``(fixed, blockers)``.

    ``run_inputs``: the names of this run's inputs (after ``renames``). ``fixed``: ``{name:
    value}``: the numeric settings of the spec, plus, for each input of this run that concerns
    the emulator but that it neither takes nor sets, the code's default. ``blockers``: ``{name:
    why}``: inputs of this run that concern the emulator and have no value to compare with;
    the emulator can serve no point of this run.
    """
    if code_of(emulator) == "classy":
        from . import classy_names

        return code_inputs.fixed_values(emulator, classy_names.run_inputs(run_inputs),
                                        aliases=classy_names.restated(emulator))
    # logA and As are the same parameter: the router sees logA computed from As
    return code_inputs.fixed_values(emulator, run_inputs, aliases=("As",) if "logA" in emulator.parameters else ())


def missing_parameters(emulator, run_inputs) -> list:
    """The emulator's parameters that no input of this run gives, under any of its names."""
    given = set(for_emulators(dict.fromkeys(run_inputs, 1.0), set(emulator.parameters), code_of(emulator)))
    return [p for p in emulator.parameters if p not in given]


def fallback_defaults(code: str) -> dict:
    """What the fallback uses for a setting no one gives: the code's default, except where
    Cobaya's interface sets its own (Cobaya's classy turns CLASS's non-linear model on)."""
    if code == "camb":
        return tables()[3]
    from cobaya.theories.classy.classy import non_linear_default_code

    return {**code_inputs.CLASS_DEFAULTS, "non_linear": non_linear_default_code}


def training_settings(emulator) -> dict:
    """The emulator's code settings, plus, for CLASS, the non-linear model when its outputs
    depend on it (lensed C_l): CLASS's default is none, Cobaya's classy's is HMcode, and the
    fallback must compute what the emulator was trained on."""
    settings = dict(emulator.spec["code"].get("settings") or {})
    if code_of(emulator) == "classy" and "non_linear" not in irrelevant_inputs(emulator.outputs, "classy"):
        settings.setdefault("non_linear", code_inputs.CLASS_DEFAULTS["non_linear"])
    return settings


setting_matters = code_inputs.setting_matters


def setting_conflicts(emulator, extra_args: dict, outputs=None) -> list:
    """Fallback settings that differ from those the emulator was trained with, among those that
    concern its outputs (or the given ``outputs`` of it): there the emulator and the fallback
    would not compute the same thing."""
    return code_inputs.setting_conflicts(emulator, extra_args, fallback_defaults(code_of(emulator)), outputs)


def to_camb(point: dict) -> dict:
    """Translated input parameters -> CAMB keywords (``logA`` becomes ``As``)."""
    if "logA" not in point:
        return point
    out = dict(point)
    out["As"] = 1e-10 * np.exp(out.pop("logA"))
    return out


def for_code(point: dict, code: str) -> dict:
    """Translated input parameters -> the fallback code's inputs (CLASS takes them as they are)."""
    return to_camb(point) if code == "camb" else point


def for_emulators(point: dict, wanted: set, code: str = "camb") -> dict:
    """The point as emulators see it: for CAMB, ``logA`` from ``As`` when an emulator takes
    logA; for CLASS, canonical names and aliases (``classy_names.for_emulators``)."""
    if code == "classy":
        from .classy_names import for_emulators as classy_view

        return classy_view(point, wanted)
    if "logA" in wanted and "logA" not in point and "As" in point:
        point = dict(point)
        point["logA"] = float(np.log(1e10 * point["As"]))
    return point
