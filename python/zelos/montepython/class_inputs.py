"""CLASS inputs as zelos reads them: which are physics, their canonical names, what the run asks
CLASS to compute, and the translation to CAMB.

MontePython hands CLASS one dict per point: sampled parameters (``omega_b``, ``omega_cdm``,
``100*theta_s``, ``A_s``, ``n_s``, ``tau_reio``...), fixed physics (``N_ur``, ``N_ncdm``,
``m_ncdm``...), what to compute (``output``, ``lensing``, ``l_max_scalars``, ``P_k_max_h/Mpc``...)
and precision settings. :func:`read_inputs` sorts them:

- *physics*: the inputs that define the cosmology, under canonical names (``H0`` -> ``h``,
  ``ln10^{10}A_s`` -> ``A_s``, ``theta_s_100`` -> ``100*theta_s``, ``Omega_b`` -> ``omega_b``
  when h is known...). These are compared with what each emulator holds fixed.
- *other*: output, precision, file and verbosity settings (:data:`NON_PHYSICAL`, the precision
  parameters of the installed CLASS's ``include/precisions.h``, and ``zelos_ignore``): they do
  not change the cosmology, so they never stop an emulator from serving a point.
- *unknown*: anything else. zelos cannot tell whether it changes the physics, so no emulator
  serves the run (the reason names the key); list it in ``zelos_ignore`` if it does not.

:func:`to_camb` translates the physics to ``camb.set_params`` keywords (docs/montepython.md has
the table). Exact except for ``100*theta_s``, which CAMB cannot take: it becomes CAMB's
``thetastar`` (theta_s / 100), which is not the same angle (CAMB's theta_* differs from CLASS's
theta_s by -7e-4 relative at the Planck 2018 best fit).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

from ..code_inputs import CLASS_DEFAULTS, number
from ..physics import NU_T_RATIO
from ..serving.names import CLASS_ALIASES, NEEDS_H

#: CLASS input -> (canonical name, conversion from the input's value; ``h`` when it needs it).
ALIASES = CLASS_ALIASES

#: The physical inputs zelos knows, in canonical names.
PHYSICAL = frozenset({
    "h", "100*theta_s", "omega_b", "omega_cdm", "Omega_b", "Omega_cdm",
    "A_s", "n_s", "alpha_s", "k_pivot", "r", "n_t", "alpha_t", "modes", "ic",
    "tau_reio", "z_reio", "reio_parametrization", "reionization_width", "helium_fullreio_redshift",
    "helium_fullreio_width", "T_cmb", "YHe", "recombination",
    "N_ur", "N_ncdm", "m_ncdm", "T_ncdm", "deg_ncdm", "Omega_k",
    "Omega_Lambda", "Omega_fld", "w0_fld", "wa_fld", "cs2_fld", "use_ppf",
    "non_linear", "hmcode_version", "log10T_heat_hmcode",
})

#: CAMB's own names, accepted as they are when the run computes with CAMB (CAMB-trained
#: emulators): a .param file may sample CAMB's ``cosmomc_theta`` or ``logA`` directly (CLASS
#: itself would refuse them).
CAMB_NATIVE = frozenset({"ombh2", "omch2", "cosmomc_theta", "thetastar", "tau", "zrei", "As", "logA", "ns", "nrun",
                         "mnu", "nnu", "num_massive_neutrinos", "omk", "TCMB", "w", "wa", "Alens",
                         "HMCode_logT_AGN"})

#: What to compute, where to write, how loud: never physics.
NON_PHYSICAL = frozenset({
    "output", "lensing", "l_max_scalars", "l_max_tensors", "l_max_lss", "P_k_max_h/Mpc",
    "P_k_max_1/Mpc", "z_pk", "z_max_pk", "root", "headers", "format", "sBBN file", "base_path",
    "overwrite_root", "k_output_values", "gauge", "write warnings", "write parameters",
    "write background", "write thermodynamics", "write primordial", "write exotic injection",
    "write noninjection", "write distortions", "output_verbose", "extrapolation_method",
    "halofit_min_k_max", "hmcode_min_k_max", "nonlinear_min_k_max", "selection", "selection_mean",
    "selection_width", "number count contributions", "l_switch_limber",
})
_NON_PHYSICAL_PATTERN = re.compile(r"(_verbose$|^write[ _]|^tol_|_accuracy$|_sampling|_stepsize$)")


def precision_names() -> frozenset:
    """CLASS's precision parameters, read from the installed classy's include/precisions.h
    (empty when classy is not installed)."""
    global _PRECISION
    if _PRECISION is None:
        names = set()
        from .errors import real_classy

        classy = real_classy()
        if classy is not None:
            path = os.path.join(os.path.dirname(classy.__file__), "include", "precisions.h")
            try:
                text = open(path, encoding="utf-8", errors="replace").read()
                names = set(re.findall(r"class_\w+_parameter\(\s*(\w+)", text))
            except OSError:
                pass
        _PRECISION = frozenset(names)
    return _PRECISION


_PRECISION = None


def value_of(value):
    """A CLASS value as zelos compares it: a float; a tuple of floats for a list ("0.02,0.02"
    or [0.02, 0.02]); else the stripped string."""
    if isinstance(value, (list, tuple)):
        items = [number(v) for v in value]
        return tuple(items) if None not in items else tuple(value)
    v = number(value)
    if v is not None:
        return v
    if isinstance(value, str):
        parts = [p for p in re.split(r"[,\s]+", value.strip()) if p]
        if len(parts) > 1 and all(number(p) is not None for p in parts):
            return tuple(float(p) for p in parts)
        return value.strip()
    return value


@dataclass
class ClassInputs:
    """One point's CLASS inputs, sorted: ``physics`` (canonical names), ``other`` (never
    physics), ``unknown`` (keys zelos does not know), ``camb`` (CAMB's own names: physics when
    the run computes with CAMB, unknown to CLASS)."""

    physics: dict
    other: dict
    unknown: tuple
    camb: dict

    @property
    def h(self) -> float | None:
        h = self.physics.get("h")
        return h if isinstance(h, float) else None


def read_inputs(arguments, ignore=()) -> ClassInputs:
    """Sorts CLASS ``arguments`` (already without ``zelos_*`` keys); see the module docstring."""
    physics, other, unknown, camb = {}, {}, [], {}
    ignore = set(ignore)
    precision = None
    for key, value in arguments.items():
        if key in NON_PHYSICAL or key in ignore:
            other[key] = value
            continue
        if key in ALIASES or key in PHYSICAL:
            physics[key] = value_of(value)
            continue
        if key in CAMB_NATIVE:
            camb[key] = value_of(value)
            continue
        if _NON_PHYSICAL_PATTERN.search(key):
            other[key] = value
            continue
        if precision is None:
            precision = precision_names()
        if key in precision:
            other[key] = value
        else:
            unknown.append(key)
    # Canonical names; h first, since Omega_b and Omega_cdm need it.
    if "H0" in physics and isinstance(physics["H0"], float):
        physics["h"] = physics.pop("H0") / 100.0
    h = physics.get("h")
    for key in list(physics):
        if key not in ALIASES or key == "H0":
            continue
        target, convert = ALIASES[key]
        if key in NEEDS_H and not isinstance(h, float):
            continue  # Omega_b with 100*theta_s: kept as given
        v = physics.pop(key)
        physics[target] = convert(v, h) if isinstance(v, float) else v
    for key in ("non_linear", "YHe", "recombination", "use_ppf", "modes", "ic", "reio_parametrization"):
        if isinstance(physics.get(key), str):
            physics[key] = physics[key].strip().lower()
    return ClassInputs(physics, other, tuple(unknown), camb)


# -- what the run asks CLASS to compute ----------------------------------------------------------
@dataclass(frozen=True)
class Request:
    """The run's ``output`` and related settings, as CLASS reads them."""

    tCl: bool = False
    pCl: bool = False
    lCl: bool = False
    mPk: bool = False
    lensing: bool = False
    l_max_scalars: int = 2500
    k_max: float | None = None  # 1/Mpc, when given in 1/Mpc
    k_max_h: float = 1.0  # h/Mpc (CLASS's default), when k_max is None
    z_max_pk: float = 0.0
    z_pk: tuple = ()
    nonlinear: str = "none"  # "none", "halofit", "hmcode"
    hmcode_version: str = "2020"

    @property
    def has_cl(self) -> bool:
        return self.tCl or self.pCl or self.lCl

    def cl_keys(self, lensed: bool) -> tuple:
        """The keys of CLASS's ``lensed_cl`` (``raw_cl``) dict for this output, 'ell' aside."""
        keys = []
        if self.tCl:
            keys.append("tt")
        if self.pCl:
            keys.append("ee")
            if self.tCl:
                keys.append("te")
            keys.append("bb")
        if self.lCl:
            keys.append("pp")
            if self.tCl:
                keys.append("tp")
        return tuple(keys)

    def k_max_mpc(self, h: float) -> float:
        return self.k_max if self.k_max is not None else self.k_max_h * h

    def z_max(self) -> float:
        return max((self.z_max_pk,) + tuple(self.z_pk))


def _yes(value) -> bool:
    return str(value).strip().lower() in ("yes", "y", "true", "1")


def read_request(arguments) -> Request:
    """What CLASS would compute for these arguments (its defaults otherwise)."""
    output = str(arguments.get("output", ""))
    tokens = {t.lower() for t in re.split(r"[,\s]+", output) if t}
    nl = str(arguments.get("non_linear", arguments.get("non linear", "none"))).strip().lower()
    nonlinear = "halofit" if "halofit" in nl else "hmcode" if "hmcode" in nl else "none"
    z_pk = value_of(arguments.get("z_pk", ()))
    z_pk = (z_pk,) if isinstance(z_pk, float) else tuple(z_pk) if isinstance(z_pk, tuple) else ()
    k_max = number(arguments.get("P_k_max_1/Mpc"))
    version = arguments.get("hmcode_version", arguments.get("HMcode_version", "2020"))
    return Request(
        tCl="tcl" in tokens, pCl="pcl" in tokens, lCl="lcl" in tokens,
        mPk="mpk" in tokens, lensing=_yes(arguments.get("lensing", "no")),
        l_max_scalars=int(number(arguments.get("l_max_scalars")) or 2500),
        k_max=k_max, k_max_h=number(arguments.get("P_k_max_h/Mpc")) or 1.0,
        z_max_pk=number(arguments.get("z_max_pk")) or 0.0, z_pk=z_pk,
        nonlinear=nonlinear, hmcode_version=str(version).strip().lower(),
    )


# -- CLASS -> CAMB --------------------------------------------------------------------------------
def _per_species(physics, key, n, default):
    v = physics.get(key, default)
    values = list(v) if isinstance(v, tuple) else [v] * n
    if len(values) != n or any(not isinstance(x, float) for x in values):
        raise ValueError(f"`{key}` = {physics.get(key)!r}: expected {n} number(s) (N_ncdm = {n})")
    return values


def camb_neutrinos(physics) -> dict:
    """``N_ur``, ``N_ncdm``, ``m_ncdm``, ``T_ncdm``, ``deg_ncdm`` -> CAMB's ``nnu``, ``mnu``,
    ``num_massive_neutrinos`` (degenerate masses): nnu = N_ur + sum deg (T_ncdm / (4/11)^(1/3))^4,
    which is CLASS's N_eff before the neutrinos become non-relativistic."""
    n = int(round(physics.get("N_ncdm", 0.0)))
    n_ur = physics.get("N_ur", CLASS_DEFAULTS["N_ur"])
    if not isinstance(n_ur, float):
        raise ValueError(f"`N_ur` = {n_ur!r}: expected a number")
    if n == 0:
        return {"nnu": n_ur, "mnu": 0.0, "num_massive_neutrinos": 0}
    masses = _per_species(physics, "m_ncdm", n, 0.0)
    temps = _per_species(physics, "T_ncdm", n, CLASS_DEFAULTS["T_ncdm"])
    degs = _per_species(physics, "deg_ncdm", n, 1.0)
    if len({round(m, 12) for m in masses}) > 1 or len({round(t, 12) for t in temps}) > 1:
        raise ValueError(f"m_ncdm = {masses}, T_ncdm = {temps}: CAMB's degenerate neutrinos need equal masses "
                         "and temperatures")
    if any(abs(d - round(d)) > 1e-12 for d in degs):
        raise ValueError(f"deg_ncdm = {degs}: CAMB's massive neutrinos need whole degeneracies")
    count = int(round(sum(degs)))
    nnu = n_ur + sum(d * (t / NU_T_RATIO) ** 4 for d, t in zip(degs, temps))
    return {"nnu": nnu, "mnu": masses[0] * count, "num_massive_neutrinos": count}


HALOFIT = {("halofit", ""): "takahashi", ("hmcode", "2020"): "mead2020", ("hmcode", "2015"): "mead2015",
           ("hmcode", "2016"): "mead", ("hmcode", "15"): "mead2015", ("hmcode", "16"): "mead",
           ("hmcode", "2020_baryonic_feedback"): "mead2020_feedback"}


def camb_nonlinear(physics) -> str:
    """CLASS's non-linear model as CAMB's ``halofit_version``, or "none"."""
    nl = physics.get("non_linear", "none")
    model = "halofit" if "halofit" in nl else "hmcode" if "hmcode" in nl else "none"
    if model == "none":
        return "none"
    key = (model, "" if model == "halofit" else physics.get("hmcode_version", "2020"))
    if key not in HALOFIT:
        raise ValueError(f"`non_linear` = {nl!r} with hmcode_version {key[1]!r}: no CAMB equivalent known to zelos")
    return HALOFIT[key]


def to_camb(physics: dict, native: dict | None = None) -> tuple:
    """CLASS physics (canonical names) -> ``(camb, problems)``: ``camb.set_params`` keywords for
    the same cosmology, CLASS's defaults filled in, and ``{CLASS key: why}`` for inputs with no
    CAMB translation (then CAMB cannot compute the point). ``halofit_version`` is "none" for
    linear CLASS runs (not a CAMB keyword: the caller sets CAMB's ``NonLinear``).

    ``native``: inputs given in CAMB's own names (``cosmomc_theta``, ``logA``...); they replace
    the translation (and the CLASS defaults) of the same quantity; giving one quantity both
    ways is a problem."""
    out, problems = _to_camb(physics)
    for key, value in (native or {}).items():
        if not isinstance(value, float):
            problems[key] = f"`{key}` = {value!r}: expected a number"
            continue
        target = "As" if key == "logA" else key
        v = math.exp(value) * 1e-10 if key == "logA" else value
        source = CAMB_SOURCE.get(target)
        if source is not None and any(s in physics for s in source):
            problems[key] = f"`{key}` and CLASS's {' / '.join(f'`{s}`' for s in source)} both given"
        if target in ("H0", "cosmomc_theta", "thetastar"):
            for other in ("H0", "cosmomc_theta", "thetastar"):
                out.pop(other, None)
        if target in ("tau", "zrei"):
            out.pop("tau", None)
            out.pop("zrei", None)
        out[target] = v
        if key == "logA":
            out["logA"] = value
    if "num_massive_neutrinos" in out:
        out["num_massive_neutrinos"] = int(round(out["num_massive_neutrinos"]))
    return out, problems


#: CAMB name -> the CLASS inputs that translate to it (both given: ambiguous).
CAMB_SOURCE = {"ombh2": ("omega_b", "Omega_b"), "omch2": ("omega_cdm", "Omega_cdm"), "As": ("A_s",),
                "ns": ("n_s",), "nrun": ("alpha_s",), "tau": ("tau_reio", "z_reio"), "zrei": ("tau_reio", "z_reio"),
                "H0": ("h", "100*theta_s"), "cosmomc_theta": ("h", "100*theta_s"),
                "thetastar": ("h", "100*theta_s"), "TCMB": ("T_cmb",), "omk": ("Omega_k",),
                "mnu": ("m_ncdm", "N_ncdm"), "nnu": ("N_ur",), "num_massive_neutrinos": ("N_ncdm",),
                "w": ("w0_fld",), "wa": ("wa_fld",), "HMCode_logT_AGN": ("log10T_heat_hmcode",)}

#: HMcode-2020's AGN heating temperature, log10(T / K), where neither CLASS nor CAMB is told one.
LOGT_AGN_DEFAULT = 7.8


def _to_camb(physics: dict) -> tuple:
    p, problems = physics, {}
    out = {}
    theta, h = p.get("100*theta_s"), p.get("h")
    if isinstance(theta, float):
        out["thetastar"] = theta / 100.0  # CAMB's theta_*, not CLASS's theta_s: see the module docstring
    else:
        out["H0"] = 100.0 * (h if isinstance(h, float) else CLASS_DEFAULTS["h"])
    for key, target in (("omega_b", "ombh2"), ("omega_cdm", "omch2"), ("A_s", "As"), ("n_s", "ns"),
                        ("alpha_s", "nrun"), ("T_cmb", "TCMB"), ("Omega_k", "omk")):
        v = p.get(key, CLASS_DEFAULTS.get(key))
        if isinstance(v, float):
            out[target] = v
        else:
            problems[key] = f"`{key}` = {p.get(key)!r} has no CAMB translation"
    for key in ("Omega_b", "Omega_cdm"):
        if key in p:
            problems[key] = f"`{key}` with `100*theta_s` (h unknown before the computation): use omega_b, omega_cdm"
    if isinstance(p.get("tau_reio"), float):
        out["tau"] = p["tau_reio"]
    else:
        out["zrei"] = p["z_reio"] if isinstance(p.get("z_reio"), float) else CLASS_DEFAULTS["z_reio"]
    yhe = p.get("YHe", "bbn")
    if isinstance(yhe, float):
        out["YHe"] = yhe
    elif yhe != "bbn":
        problems["YHe"] = f"`YHe` = {yhe!r}: expected a number or 'BBN'"
    try:
        out.update(camb_neutrinos(p))
    except ValueError as e:
        problems["m_ncdm"] = str(e)
    if any(k in p for k in ("w0_fld", "wa_fld", "Omega_fld")):
        if p.get("Omega_Lambda") != 0.0:
            problems["w0_fld"] = ("a CLASS fluid (`w0_fld`, `wa_fld`) translates to CAMB's dark energy only with "
                                  "`Omega_Lambda` = 0 (the fluid then fills the budget)")
        if p.get("cs2_fld", 1.0) != 1.0:
            problems["cs2_fld"] = "`cs2_fld` other than 1: no CAMB translation known to zelos"
        out["w"] = p.get("w0_fld", -1.0)
        out["wa"] = p.get("wa_fld", 0.0)
        out["dark_energy_model"] = "ppf" if p.get("use_ppf", "yes") in ("yes", "y") else "fluid"
    elif "Omega_Lambda" in p or "Omega_fld" in p:
        problems["Omega_Lambda"] = "`Omega_Lambda` without a CLASS fluid: CAMB closes the budget itself"
    for key, expected in (("modes", "s"), ("ic", "ad"), ("reio_parametrization", "reio_camb")):
        if key in p and p[key] != expected:
            problems[key] = f"`{key}` = {p[key]!r}: zelos translates only {expected!r} to CAMB"
    for key in ("r", "n_t", "alpha_t", "k_pivot", "reionization_width", "helium_fullreio_redshift",
                "helium_fullreio_width"):
        if key in p and not (key == "k_pivot" and p[key] == 0.05):
            problems[key] = f"`{key}`: no CAMB translation in zelos"
    try:
        out["halofit_version"] = camb_nonlinear(p)
    except ValueError as e:
        problems["non_linear"] = str(e)
    # CLASS's log10T_heat_hmcode is CAMB's HMCode_logT_AGN; it acts only in HMcode-2020 with feedback
    if out.get("halofit_version") == "mead2020_feedback":
        logt = p.get("log10T_heat_hmcode", LOGT_AGN_DEFAULT)
        if isinstance(logt, float):
            out["HMCode_logT_AGN"] = logt
        else:
            problems["log10T_heat_hmcode"] = f"`log10T_heat_hmcode` = {logt!r}: expected a number"
    return out, problems
