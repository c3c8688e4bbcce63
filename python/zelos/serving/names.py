"""Names: the parameter aliases of each code, and which emulator output answers each derived
parameter in each framework's names.

Emulator outputs (docs/model.md) are named once (``rdrag``, ``thetastar``, ``omegam``...); each
framework asks for them under its code's names:

- Cobaya with CAMB: CAMB's names after Cobaya's ``renames`` (:data:`CAMB_DERIVED`);
- Cobaya with CLASS: CLASS's names, or Cobaya's classy's ``rs_drag`` (:data:`COBAYA_CLASS_DERIVED`);
- MontePython: classy's ``get_current_derived_parameters`` names (:data:`CLASSY_DERIVED`).
"""

from __future__ import annotations

import math

from ..drivers.classy import DERIVED_NAMES as CLASS_NAME  # emulator output -> CLASS's derived name
from ..physics import s8

_FROM_CLASS = {name: output for output, name in CLASS_NAME.items()}

#: Derived parameter (Cobaya's CAMB name, after renames) -> emulator output.
CAMB_DERIVED = {"H0": "H0", "sigma8": "sigma8", "S8": "S8", "rdrag": "rdrag", "thetastar": "thetastar",
                "zdrag": "zdrag", "zstar": "zstar", "rstar": "rstar", "age": "age", "omegam": "omegam",
                "omegal": "omegal", "omega_de": "omegal"}
#: Derived parameter (CLASS's name, or Cobaya's classy's ``rs_drag``) -> emulator output; the
#: CLASS driver computes each output from that CLASS name (``drivers.classy.DERIVED_NAMES``).
COBAYA_CLASS_DERIVED = {**_FROM_CLASS, "rs_drag": "rdrag", "theta_star_100": "thetastar", "H0": "H0",
                        "sigma8": "sigma8", "S8": "S8"}
#: classy's ``get_current_derived_parameters`` name -> emulator output (the MontePython ``Class``).
CLASSY_DERIVED = {**_FROM_CLASS, "theta_star_100": "thetastar", "sigma8": "sigma8", "Omega0_lambda": "omegal",
                  "Omega_Lambda": "omegal"}
#: Emulator output -> the classy derived-parameter name a computed classy-like answers it under.
CLASSY_NAME = {**CLASS_NAME, "H0": "H0", "sigma8": "sigma8"}

#: Derived parameters the codes do not provide: what the fallback asks for instead, and how it
#: combines them (the definitions the drivers use, docs/drivers.md).
CAMB_COMPOSED = {"S8": (("sigma8", "omegam"), s8)}
CLASS_COMPOSED = {"S8": (("sigma8", "Omega_m"), s8)}


def derived_tables(code: str) -> tuple:
    """(derived name -> emulator output, composed derived parameters) in ``code``'s names, as
    the Cobaya theory's fallback (Cobaya's ``camb`` or ``classy``) names them."""
    if code == "classy":
        return COBAYA_CLASS_DERIVED, CLASS_COMPOSED
    return CAMB_DERIVED, CAMB_COMPOSED


# -- parameter aliases -------------------------------------------------------------------------------
#: For each code, emulator parameter names that only restate another input (never compared with
#: what an emulator holds fixed).
EMULATOR_ALIASES = {"camb": {"logA": "As"},
                    "classy": {"H0": "h", "ln10^{10}A_s": "A_s", "ln_A_s_1e10": "A_s", "Omega_b": "omega_b",
                               "Omega_cdm": "omega_cdm", "theta_s_100": "100*theta_s"}}

#: CLASS input -> (canonical name, conversion from the input's value; ``h`` when it needs it).
CLASS_ALIASES = {
    "H0": ("h", lambda v, h: v / 100.0),
    "theta_s_100": ("100*theta_s", lambda v, h: v),
    "ln10^{10}A_s": ("A_s", lambda v, h: math.exp(v) * 1e-10),
    "ln_A_s_1e10": ("A_s", lambda v, h: math.exp(v) * 1e-10),
    "non linear": ("non_linear", lambda v, h: v),
    "HMcode_version": ("hmcode_version", lambda v, h: v),
    "hmcode version": ("hmcode_version", lambda v, h: v),
    "Omega_b": ("omega_b", lambda v, h: v * h * h),
    "Omega_cdm": ("omega_cdm", lambda v, h: v * h * h),
}
#: CLASS aliases whose conversion needs h.
NEEDS_H = {"Omega_b", "Omega_cdm"}


def with_aliases(point: dict, wanted, code: str) -> dict:
    """``point`` (canonical names of ``code``) with the aliases in ``wanted`` that it lacks
    (CAMB ``logA`` from ``As``; CLASS ``H0`` from ``h``...), so every emulator finds its
    parameters under its own names."""
    extra = {}
    for alias, source in EMULATOR_ALIASES[code].items():
        if alias in wanted and alias not in point and isinstance(point.get(source), float):
            v = point[source]
            if alias in ("logA", "ln10^{10}A_s", "ln_A_s_1e10"):
                extra[alias] = math.log(1e10 * v)
            elif alias == "H0":
                extra[alias] = 100.0 * v
            elif alias in ("Omega_b", "Omega_cdm") and isinstance(point.get("h"), float):
                extra[alias] = v / point["h"] ** 2
            elif alias == "theta_s_100":
                extra[alias] = v
    return {**point, **extra} if extra else point


def class_canonical(point: dict) -> dict:
    """The point in CLASS's canonical names (``H0`` -> ``h``, ``ln10^{10}A_s`` -> ``A_s``...),
    restating names dropped; ``Omega_b`` with no h known (``100*theta_s`` runs) is kept as given."""
    out = {k: v for k, v in point.items() if k not in CLASS_ALIASES}
    if "H0" in point and "h" not in out:
        out["h"] = CLASS_ALIASES["H0"][1](point["H0"], None)
    h = out.get("h")
    for name, value in point.items():
        if name == "H0" or name not in CLASS_ALIASES:
            continue
        target, convert = CLASS_ALIASES[name]
        if name in NEEDS_H and h is None:
            out[name] = value
        else:
            out.setdefault(target, convert(value, h))
    return out
