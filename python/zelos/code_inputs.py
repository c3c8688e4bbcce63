"""Which code inputs concern an emulator, and the values it holds them at (CAMB and CLASS).

An emulator takes its spec's parameters; every other input of its code keeps the value in its
spec's ``code.settings`` or, failing that, the code's default at the pinned version. A point
that sets such an input to another value is not the emulator's to answer. The router compares
numeric inputs with these *fixed* values at every point (``Router.add(fixed=...)``); inputs that
are not numbers (CLASS's ``YHe: BBN``, ``non_linear: halofit``...) do not change along a chain
and are compared once, when a plugin plans its run. Inputs that cannot change an emulator's
outputs (tau does not move H(z); n_s does not move rdrag) never send a point to the fallback.

Framework-independent: used by the MontePython plugin (``zelos.montepython``) and, for
CLASS-trained emulators, by the Cobaya plugin (``zelos/cobaya/params.py``, which keeps its own
CAMB variant).
"""

from __future__ import annotations

import inspect
import math

from ._zelos import FIXED_VALUE_RTOL
from .physics import T_CMB

# -- CLASS 3.4.1 -------------------------------------------------------------------------------
#: CLASS's defaults (source/input.c, ``input_default_params``) for the physical inputs zelos
#: compares, in canonical names (see ``zelos.montepython.class_inputs``). Reionization is set by
#: z_reio by default (tau_reio is then derived); Omega_Lambda closes the budget (no default).
CLASS_DEFAULTS = {
    "h": 0.67810,
    "omega_b": 0.0223828,
    "omega_cdm": 0.1201075,
    "A_s": 2.100549e-09,
    "n_s": 0.9660499,
    "alpha_s": 0.0,
    "k_pivot": 0.05,
    "z_reio": 7.6711,
    "T_cmb": T_CMB,
    "N_ur": 3.044,
    "N_ncdm": 0.0,
    "T_ncdm": 0.71611,
    "deg_ncdm": 1.0,
    "Omega_k": 0.0,
    "w0_fld": -1.0,
    "wa_fld": 0.0,
    "cs2_fld": 1.0,
    "YHe": "bbn",
    "recombination": "hyrec",
    "reio_parametrization": "reio_camb",
    "modes": "s",
    "ic": "ad",
    "use_ppf": "yes",
    "non_linear": "none",
}
CLASS_PRIMORDIAL = {"A_s", "n_s", "alpha_s", "k_pivot", "r", "n_t", "alpha_t", "modes", "ic"}
CLASS_REIONIZATION = {"tau_reio", "z_reio", "reio_parametrization", "reionization_width",
                      "helium_fullreio_redshift", "helium_fullreio_width"}
CLASS_NONLINEAR = {"non_linear", "hmcode_version"}
#: CAMB keyword (and zelos's logA) -> the CLASS input of the same quantity in the same units.
#: CLASS takes ``H0`` as it is (and ``h``), so H0 needs no entry. Cobaya users may sample with
#: CAMB's names when the emulators were trained with CLASS (``zelos.cobaya.classy_names``).
CAMB_TO_CLASS = {"ombh2": "omega_b", "omch2": "omega_cdm", "As": "A_s", "ns": "n_s", "nrun": "alpha_s",
                 "tau": "tau_reio", "zrei": "z_reio", "TCMB": "T_cmb", "omk": "Omega_k", "w": "w0_fld",
                 "wa": "wa_fld", "logA": "ln10^{10}A_s"}
#: The setting that holds the CMB temperature, per code (units of emulated D_l; both default 2.7255 K).
T_CMB_SETTING = {"camb": "TCMB", "classy": "T_cmb"}

# -- CAMB ----------------------------------------------------------------------------------------
CAMB_PRIMORDIAL = {"logA"}
CAMB_REIONIZATION = {"tau", "zrei", "deltazrei", "max_zrei"}
CAMB_LENSING = {"Alens"}
#: CAMB accuracy settings that reach only the C_l (the line-of-sight k integration, the l
#: sampling, the Bessel functions, the lensing of the C_l): not P(k), sigma8 or the background.
#: CAMB_omk_CMB trains with IntkAccuracyBoost raised (curved models' C_l are noisy in Omega_k at
#: CAMB's defaults: docs/accuracy.md), which must not set apart the background it also serves.
CAMB_CL_ACCURACY = {"lSampleBoost", "Accuracy.lSampleBoost", "Accuracy.IntkAccuracyBoost",
                    "Accuracy.NonFlatIntAccuracyBoost", "Accuracy.BessIntBoost", "Accuracy.BesselBoost",
                    "Accuracy.LensingBoost"}
_CAMB = None


def _signature_defaults(*functions) -> dict:
    out = {}
    for f in functions:
        for name, p in inspect.signature(f).parameters.items():
            if name != "self" and p.default is not inspect.Parameter.empty:
                out[name] = p.default
    return out


def camb_tables() -> tuple:
    """CAMB's keyword groups and defaults, read from the installed camb's own signatures:
    (lmax options, primordial, non-linear, defaults)."""
    global _CAMB
    if _CAMB is None:
        import camb

        lmax = set(_signature_defaults(camb.CAMBparams.set_for_lmax))
        power = set(_signature_defaults(camb.initialpower.InitialPowerLaw.set_params)) | CAMB_PRIMORDIAL
        nonlinear = set(_signature_defaults(camb.nonlinear.Halofit.set_params))
        defaults = _signature_defaults(
            camb.CAMBparams.set_cosmology, camb.CAMBparams.set_dark_energy,
            camb.initialpower.InitialPowerLaw.set_params, camb.CAMBparams.set_accuracy,
            camb.nonlinear.Halofit.set_params, camb.CAMBparams.set_for_lmax)
        accuracy = camb.CAMBparams().Accuracy  # dotted fields as set_params takes them
        defaults.update({f"Accuracy.{name}": getattr(accuracy, name)
                         for name, _ in camb.model.AccuracyParams._fields_ if not name.startswith("_")})
        _CAMB = (lmax, power, nonlinear, defaults)
    return _CAMB


def code_defaults(code: str) -> dict:
    return camb_tables()[3] if code == "camb" else CLASS_DEFAULTS


def irrelevant_inputs(outputs, code: str) -> set:
    """Inputs of ``code`` that cannot change any of these emulator outputs."""
    if code == "camb":
        lmax, power, nonlinear, _ = camb_tables()
        reion, cl_only = CAMB_REIONIZATION, CAMB_LENSING | CAMB_CL_ACCURACY
    else:
        lmax, power, nonlinear = set(), set(CLASS_PRIMORDIAL), set(CLASS_NONLINEAR)
        reion, cl_only = CLASS_REIONIZATION, set()
    background = lmax | power | nonlinear | reion | cl_only
    per_output = []
    for name in outputs:
        if name.startswith("dl_"):
            per_output.append(set())
        elif name == "pk_nonlin":
            per_output.append(lmax | reion | cl_only)
        elif name in ("pk_lin", "sigma8", "S8", "sigma8_z", "fsigma8"):  # linear growth
            per_output.append(lmax | nonlinear | reion | cl_only)
        elif name == "zre":
            per_output.append(lmax | power | nonlinear | cl_only)
        else:  # background functions and background / thermal-history derived parameters
            per_output.append(background)
    return set.intersection(*per_output) if per_output else set()


# CAMB's model of dark-energy perturbations (`fluid`, `ppf`) only matters when w(a) is not -1:
# with w = -1 and wa = 0 both are a cosmological constant, and CAMB 2.0.5 gives bit-identical
# C_l, sigma8 and H(z) with either (checked at the Planck best fit). So a LCDM emulator (trained
# with the default `fluid`) and a w0wa one (trained with `ppf`, which may cross w = -1) can share
# one fallback: the setting is irrelevant to an emulator that holds w = -1, wa = 0.
CAMB_DARK_ENERGY_MODEL = "dark_energy_model"


def irrelevant_settings(emulator, code: str) -> set:
    """Settings that cannot change what ``emulator`` computes, given the values it holds its
    other inputs at (today: CAMB's dark-energy model for an emulator of a cosmological constant)."""
    if code != "camb" or {"w", "wa"} & set(emulator.parameters):
        return set()
    settings = emulator.spec["code"].get("settings") or {}
    defaults = camb_tables()[3]
    w = number(settings.get("w", defaults.get("w", -1.0)))
    wa = number(settings.get("wa", defaults.get("wa", 0.0)))
    return {CAMB_DARK_ENERGY_MODEL} if (w == -1.0 and wa == 0.0) else set()


def unconcerned_settings(emulator, outputs=None) -> set:
    """Code settings that cannot change ``outputs`` of ``emulator`` (all of them by default): its
    parameters, and inputs irrelevant to those outputs at the values it holds."""
    code = emulator.spec["code"]["name"]
    return (irrelevant_inputs(emulator.outputs if outputs is None else outputs, code) | set(emulator.parameters)
            | irrelevant_settings(emulator, code))


def setting_matters(emulator, name: str) -> bool:
    """Whether the code setting ``name`` can change some output of ``emulator``."""
    return name not in unconcerned_settings(emulator)


def setting_conflicts(emulator, settings: dict, used_defaults: dict, outputs=None, used_by="fallback") -> list:
    """Code settings ``settings`` (else ``used_defaults``) gives otherwise than ``emulator`` was
    trained with (its spec's, else its code's defaults), among those that concern its outputs (or
    the given ``outputs`` of it): there the emulator and those runs would not compute the same
    thing. Words for start-up lines, ``used_by`` naming the runs."""
    code = emulator.spec["code"]["name"]
    skip = unconcerned_settings(emulator, outputs)
    trained_settings = emulator.spec["code"].get("settings") or {}
    trained_defaults = code_defaults(code)
    default = f"{'CAMB' if code == 'camb' else 'CLASS'}'s default"
    out = []
    for name in sorted((set(settings) | set(trained_settings)) - skip):
        trained = trained_settings[name] if name in trained_settings else trained_defaults.get(name, default)
        used = settings[name] if name in settings else used_defaults.get(name, default)
        if not same(trained, used):
            out.append(f"`{name}`: trained with {trained!r}, {used_by} uses {used!r}")
    return out


def number(value):
    """``value`` as a finite float, or None (booleans, strings, lists, non-finite numbers)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def same_number(value: float, held: float) -> bool:
    """Whether ``value`` is the number ``held``, as the router decides it for a parameter an emulator
    holds fixed: to ``FIXED_VALUE_RTOL`` (1e-9) of ``held``; a held zero takes only zero. Every
    "is this the emulator's setting?" question in zelos is answered here or in the router, so the
    two never disagree."""
    return value == held or abs(value - held) <= FIXED_VALUE_RTOL * abs(held)


def same(a, b) -> bool:
    """Equal as numbers (:func:`same_number`), else as normalised strings (CLASS reads `BBN` and
    `bbn` alike)."""
    x, y = number(a), number(b)
    if x is not None and y is not None:
        return same_number(x, y)
    if isinstance(a, str) and isinstance(b, str):
        return a.strip().lower() == b.strip().lower()
    a, b = _numbers(a), _numbers(b)
    if a is not None and b is not None:  # lists: CLASS's "0.02,0.02" or [0.02, 0.02]
        return len(a) == len(b) and all(same_number(x, y) for x, y in zip(a, b))
    return False


def _numbers(value):
    """A list of numbers from a list/tuple or a comma-separated string, else None."""
    items = value.replace(",", " ").split() if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        return None
    out = [number(v) for v in items]
    return None if None in out or not out else out


#: A run input's value in :func:`fixed_values` when it is a number given at every point.
PER_POINT = object()


def held_value(emulator, name: str) -> tuple:
    """(known, value): the value at which ``emulator`` holds input ``name`` (its spec's setting,
    else its code's default); known is False when there is none to compare with (the code
    computes it, e.g. CAMB's YHe from BBN, or CLASS's Omega_Lambda from the budget)."""
    settings = emulator.spec["code"].get("settings") or {}
    if name in settings:
        return True, settings[name]
    defaults = code_defaults(emulator.spec["code"]["name"])
    if name not in defaults or defaults[name] is None:
        return False, None
    return True, defaults[name]


def fixed_values(emulator, run_inputs, aliases=()) -> tuple:
    """For the router and the plan: ``(fixed, blockers)``.

    ``run_inputs``: ``{name: value}`` of the run's physical inputs, in the emulator's code's
    names; or just their names when each is a number given anew at every point (a Cobaya
    run). ``aliases``: names that only restate one of the emulator's parameters (``logA`` for
    ``As``; ``H0`` for ``h``), never compared.

    ``fixed``: ``{name: number}``: the parameters the spec's settings hold fixed
    (``emulator.fixed_settings``, the core's one definition) that can change its outputs (not
    a linear-P(k) emulator's tau), plus, for each numeric run input that concerns the emulator
    but that it neither takes nor sets, the code's default.
    ``blockers``: ``{name: why}``: run inputs that concern the emulator and either have no value
    to compare with, or are not numbers and differ from the value it holds. The emulator can
    serve no point of such a run.
    """
    code = emulator.spec["code"]["name"]
    params = set(emulator.parameters)
    # settings that cannot change the emulator's outputs (a linear-P(k) emulator's tau) are not
    # compared either: a run that sets them otherwise is still the emulator's to answer
    irrelevant = irrelevant_inputs(emulator.outputs, code) | irrelevant_settings(emulator, code)
    fixed = {k: v for k, v in emulator.fixed_settings.items() if k not in irrelevant}
    blockers = {}
    skip = irrelevant | params | set(aliases)
    items = run_inputs.items() if isinstance(run_inputs, dict) else ((n, PER_POINT) for n in run_inputs)
    for name, value in items:
        if name in skip:
            continue
        known, held = held_value(emulator, name)
        if not known:
            blockers[name] = (f"`{name}` is an input of this run; `{emulator.name}` was trained with {code} "
                              f"computing it ({name} not among its parameters or settings)")
        elif value is PER_POINT and number(held) is None:
            blockers[name] = (f"`{name}` is a numeric input of this run; `{emulator.name}` was trained with "
                              f"{name} = {held!r}")
        elif value is PER_POINT:
            fixed.setdefault(name, number(held))
        elif number(value) is None or number(held) is None:
            if not same(value, held):
                blockers[name] = (f"this run sets `{name}` = {value!r}; `{emulator.name}` was trained with "
                                  f"{held!r}")
        elif name not in fixed:
            fixed[name] = number(held)
    return fixed, blockers
