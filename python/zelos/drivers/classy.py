"""The CLASS driver: an emulator's parameters and code settings in, its outputs in one schema out.

The same interface as :class:`zelos.drivers.camb.CambDriver` (docs/drivers.md): ``compute``,
``output_shapes``, ``describe``, ``set_threads``. Parameters and settings are classy input names
(``omega_b``, ``omega_cdm``, ``h`` or ``100*theta_s``, ``ln10^{10}A_s``, ``n_s``, ``tau_reio``,
``N_ur``, ``N_ncdm``, ``m_ncdm``, ``non_linear``...), passed to ``classy.Class.set`` verbatim;
the request decides what CLASS computes (``output``, ``lensing``, ``l_max_scalars``,
``P_k_max_1/Mpc``, ``z_pk``), so settings may not set those.
"""

from __future__ import annotations

import sys

import numpy as np

from ..physics import C_KM_S, s8
from .common import ComputationError, OutputRequest, VersionMismatch, finite_in_request_order

__all__ = ["ClassyDriver", "OutputRequest"]

# classy inputs the request sets (docs/spec.md: "settings" may not set them).
RESERVED = frozenset({"output", "l_max_scalars", "P_k_max_1/Mpc", "P_k_max_h/Mpc", "z_pk", "z_max_pk", "lensing"})
# k_max [1/Mpc] when only sigma8 needs P(k): CLASS's sigma8 wants k up to about 1 h/Mpc.
KMAX_SIGMA8 = 1.2
# classy's effective_f_sigma8 differentiates sigma8(z) over this step, as Cobaya's classy calls it.
FSIGMA8_Z_STEP = 0.1
# emulator derived name -> classy derived-parameter name
DERIVED_NAMES = {"rdrag": "rs_d", "thetastar": "100*theta_star", "zdrag": "z_d", "zstar": "z_star",
                 "rstar": "rs_star", "age": "age", "omegam": "Omega_m", "zre": "z_reio"}


def _classy():
    """The installed classy module (under the MontePython launcher ``classy`` is zelos's
    stand-in: then the real one behind it)."""
    try:
        import classy
    except ImportError:
        raise ImportError("the classy driver needs classy (pip install classy)") from None
    if getattr(classy, "__zelos__", False):
        from ..montepython.errors import real_classy

        classy = real_classy()
    return classy


def _new_class(classy):
    if getattr(sys.modules.get("classy"), "__zelos__", False):
        from ..montepython.errors import new_real_class  # finds classy's data files, not the stand-in's

        return new_real_class()
    return classy.Class()


class ClassyDriver:
    """Runs CLASS (through classy) for one :class:`OutputRequest` with fixed ``settings`` (the
    spec's code.settings). ``version``: the pinned classy version (``"3.4.1"``; classy reports
    ``"v3.4.1"``); a different installed version raises :class:`VersionMismatch` unless
    ``allow_version_mismatch``."""

    code = "classy"

    def __init__(self, settings: dict | None, request: OutputRequest, version: str | None = None,
                 allow_version_mismatch: bool = False, threads: int | None = None):
        if not isinstance(request, OutputRequest):
            raise TypeError("ClassyDriver: request must be a zelos.drivers.OutputRequest")
        classy = _classy()
        self._classy = classy
        self.settings = dict(settings or {})
        self.request = request
        self.version = None if version is None else str(version)
        self.installed_version = str(classy.__version__).lstrip("v")
        self.version_note = None
        self.threads = threads
        if self.version is not None and self.version.lstrip("v") != self.installed_version:
            msg = (f"spec pins classy=={self.version} but classy {self.installed_version} is installed; "
                   f"install classy=={self.version} or pass --allow-version-mismatch")
            if not allow_version_mismatch:
                raise VersionMismatch(msg)
            self.version_note = msg
        reserved = sorted(RESERVED.intersection(self.settings))
        if reserved:
            raise ValueError(f"classy driver: settings {reserved} are set from the requested outputs; "
                             "remove them from code.settings")
        if request.pk_nonlinear and not self.settings.get("non_linear"):
            raise ValueError("classy driver: a non-linear P(k) needs the model in code.settings "
                             "(`non_linear: halofit` or `non_linear: hmcode`)")
        self._request_args = _request_args(request)
        self._cosmo = None

    # -- the schema ---------------------------------------------------------------------------
    def output_shapes(self) -> dict:
        """``{name: shape}`` of what :meth:`compute` returns, in the request's order."""
        return self.request.output_shapes()

    def describe(self) -> dict:
        """What determines the outputs (stored with training sets; JSON-able)."""
        return self.request.describe(self.code, self.installed_version, self.settings)

    def set_threads(self, n: int | None) -> None:
        """classy's OpenMP threads are fixed when it is loaded (``OMP_NUM_THREADS``); generation
        workers set that variable before importing it."""
        self.threads = n

    # -- one point ----------------------------------------------------------------------------
    def class_args(self, params: dict) -> dict:
        """The arguments given to ``classy.Class.set`` for ``params``."""
        params = dict(params)
        both = sorted(set(params) & set(self.settings))
        if both:
            raise ValueError(f"classy driver: {both} given both as parameters and in code.settings")
        reserved = sorted(RESERVED.intersection(params))
        if reserved:
            raise ValueError(f"classy driver: {reserved} cannot be parameters (set from the requested outputs)")
        return {**self.settings, **params, **self._request_args}

    def compute(self, params: dict) -> dict:
        """``{output name: float64 array}`` at ``params``; :class:`ComputationError` if CLASS fails."""
        classy = self._classy
        args = self.class_args(params)
        if self._cosmo is None:
            self._cosmo = _new_class(classy)
        cosmo = self._cosmo
        try:
            cosmo.set(args)
            cosmo.compute()
            out = self._collect(cosmo)
        except classy.CosmoSevereError as e:
            if "did not read input parameter" in str(e):
                raise ValueError(f"classy driver: {str(e).strip()}") from None
            raise ComputationError(f"CLASS failed at {_short(params)}: {str(e).strip()}") from e
        except classy.CosmoComputationError as e:
            raise ComputationError(f"CLASS failed at {_short(params)}: {str(e).strip()}") from e
        finally:
            cosmo.struct_cleanup()
            cosmo.empty()
        bad = [name for name, v in out.items() if not np.all(np.isfinite(v))]
        if bad:
            raise ComputationError(f"CLASS gave non-finite {bad} at {_short(params)}")
        return out

    __call__ = compute

    def read_run(self, cosmo, params: dict) -> tuple:
        """``({output: float64 array}, {output: why not})``: this driver's outputs at ``params``
        read from a CLASS run made elsewhere (``cosmo``: a computed ``classy.Class``, e.g.
        Cobaya's classy at a fallback point), without running CLASS again. The caller vouches
        that the run is of ``params`` (a run may name them otherwise: ``H0`` for ``h``); its
        inputs must hold this driver's settings, and ``params`` where it names them alike. What
        the background and thermal history alone determine is then read whatever else it
        computed; C_l, P(k), growth and sigma8 only when its inputs are exactly those
        :meth:`compute` would give."""
        first, rest = self.request.split()
        ours = self.class_args(params)
        theirs = dict(getattr(cosmo, "pars", None) or {})
        physical = {k: v for k, v in ours.items() if k not in RESERVED and (k in self.settings or k in theirs)}
        why_all = _args_differ({k: theirs.get(k) for k in physical}, physical)
        out, missing = {}, {}
        for part, why in ((first, why_all), (rest, why_all or _args_differ(theirs, ours))):
            if part is None:
                continue
            if why is None:
                try:
                    out.update(self._collect(cosmo, part))
                except Exception as e:  # noqa: BLE001 -- classy's errors: what the run did not compute
                    why = f"CLASS could not give it from the run: {str(e).strip()}"
            if why is not None:
                missing.update(dict.fromkeys(part.names(), why))
        return finite_in_request_order(self.request, out, missing)

    def _collect(self, c, r: OutputRequest | None = None) -> dict:
        r = r or self.request
        out = {}
        if r.spectra:
            cl = c.lensed_cl(r.lmax) if r.lensed else c.raw_cl(r.lmax)
            ell = np.arange(r.lmin, r.lmax + 1)
            l2 = ell * (ell + 1.0)
            t = c.T_cmb() * 1e6
            for s in r.spectra:
                v = np.asarray(cl[s], float)[ell]
                if s == "pp":  # C_l^phiphi (dimensionless) -> [l(l+1)]^2 C_l / 2 pi, CAMB's convention
                    out["dl_pp"] = v * l2**2 / (2 * np.pi)
                else:
                    out[f"dl_{s}"] = v * l2 / (2 * np.pi) * t**2
        for nonlinear, name in ((False, "pk_lin"), (True, "pk_nonlin")):
            if r.pk_nonlinear if nonlinear else r.pk_linear:
                f = c.pk if nonlinear else c.pk_lin
                out[name] = np.array([[f(float(k), float(z)) for k in r.k] for z in r.z_pk])
        if r.background:
            z = r.z_bg
            H = np.asarray(c.Hubble(z), float) * C_KM_S
            D_A = np.asarray(c.angular_distance(z), float)
            D_M = (1 + z) * D_A
            funcs = {"H": H, "D_A": D_A, "D_M": D_M, "D_V": np.cbrt(z * D_M**2 * C_KM_S / H)}
            if r.growth:  # as Cobaya's classy computes them
                funcs["sigma8_z"] = np.array([c.sigma(8.0, float(zi), h_units=True) for zi in z])
                funcs["fsigma8"] = np.array([c.effective_f_sigma8(float(zi), FSIGMA8_Z_STEP) for zi in z])
            out.update({b: funcs[b] for b in r.background})
        if r.derived:
            names = [DERIVED_NAMES[d] for d in r.derived if d in DERIVED_NAMES]
            d = c.get_current_derived_parameters(names) if names else {}
            for name in r.derived:
                if name in DERIVED_NAMES:
                    v = d[DERIVED_NAMES[name]]
                elif name == "H0":
                    v = 100.0 * c.h()
                elif name == "sigma8":
                    v = c.sigma8()
                elif name == "S8":
                    v = s8(c.sigma8(), c.Omega_m())
                elif name == "omegal":  # dark energy today: Lambda and a fluid
                    v = c.Omega_Lambda() + c.Omega_fld()
                out[name] = np.array(float(v))
        return {name: np.asarray(out[name], dtype=np.float64) for name in r.names()}


def _args_differ(theirs: dict, ours: dict) -> str | None:
    """Why CLASS inputs ``theirs`` (a run's) are not ``ours`` (None: they are); numbers compared
    to 1e-12, ``output`` as a set of words, anything else as text. Stricter than the router's
    "same setting" (``code_inputs.same_number``, which needs the Rust extension this package
    never imports): a run not reused when it could be costs a CLASS run, never a wrong value."""
    for key in sorted(set(theirs) | set(ours)):
        a, b = theirs.get(key), ours.get(key)
        if key == "output" and a is not None and b is not None:
            same = set(str(a).replace(",", " ").split()) == set(str(b).replace(",", " ").split())
        else:
            try:
                same = np.isclose(float(a), float(b), rtol=1e-12, atol=0.0)
            except (TypeError, ValueError):
                same = str(a).strip() == str(b).strip()
        if not same:
            return f"the run's CLASS input `{key}` is {a!r}, this driver's {b!r}"
    return None


def _request_args(r: OutputRequest) -> dict:
    """classy inputs for the request: what to compute, to which l, k and z."""
    tokens = []
    if r.spectra:
        if {"tt", "te"} & set(r.spectra):
            tokens.append("tCl")
        if {"te", "ee", "bb"} & set(r.spectra):
            tokens.append("pCl")
        if "pp" in r.spectra or r.lensed:
            tokens.append("lCl")  # CLASS lenses only with the lensing potential computed
    pk = r.pk_linear or r.pk_nonlinear
    # sigma8, S8 and the growth functions need CLASS's matter power, if only to k of about 1 h/Mpc
    needs_sigma = bool({"sigma8", "S8"} & set(r.derived)) or bool(r.growth)
    if pk or needs_sigma:
        tokens.append("mPk")
    args = {"output": " ".join(tokens)}
    if r.spectra:
        args["l_max_scalars"] = r.lmax
        args["lensing"] = "yes" if r.lensed else "no"
    if pk or needs_sigma:
        args["P_k_max_1/Mpc"] = max(KMAX_SIGMA8, 1.05 * float(r.k[-1])) if pk else KMAX_SIGMA8
        zs = sorted(set(r.z_pk.tolist()) if pk else set())
        args["z_max_pk"] = max(zs + (r.z_bg.tolist() if r.growth else []), default=0.0)
        if zs:
            args["z_pk"] = ", ".join(repr(float(z)) for z in zs)
    return args


def _short(params: dict) -> str:
    def one(v):
        try:
            return f"{float(v):.6g}"
        except (TypeError, ValueError):
            return repr(v)

    return "{" + ", ".join(f"{k}: {one(v)}" for k, v in params.items()) + "}"


def check_settings(settings: dict, version: str | None = None, parameters=()) -> tuple:
    """``(problems, note)``: the settings classy cannot hand to CLASS as written, as
    :class:`zelos.drivers.SettingProblem`; CLASS is not run.

    classy passes ``str(value)`` to CLASS: a number or a string is what CLASS reads. null
    (``'None'``), booleans (``'True'``: CLASS reads a flag from its first letter, y or n, and
    refuses or ignores ``True``), lists (``'[0.06, 0.0]'``; CLASS wants ``'0.06, 0.0'``) and
    mappings are refused, with what to write instead. Names are not checked here: CLASS says
    which input it did not read only once it runs (the build's first point stops on it), and which
    inputs it reads depends on the others (``m_ncdm`` only with ``N_ncdm`` > 0)."""
    from .common import SettingProblem, describe_value

    problems = []
    for key in sorted(RESERVED.intersection(settings or {})):
        problems.append(SettingProblem(key, f"`{key}`, which the driver sets from `outputs` (multipoles, k range and "
                                       "redshifts have one source)", "it left out of the settings"))
    for key, value in (settings or {}).items():
        if key in RESERVED:
            continue
        if value is None:
            expected = "a number or a string (classy would pass CLASS the text 'None'; leave the setting out for CLASS's default)"
        elif isinstance(value, bool):
            expected = (f"a number or a string: write {'yes' if value else 'no'!r} (classy would pass CLASS "
                        f"'{value}', which CLASS does not read as {'yes' if value else 'no'})")
        elif isinstance(value, (list, tuple)):
            joined = ", ".join(str(v) for v in value)
            expected = f"a number or a string: write a list as one comma-separated string, e.g. {joined!r}"
        elif isinstance(value, dict):
            expected = "a number or a string (CLASS inputs are flat)"
        else:
            continue
        problems.append(SettingProblem(key, describe_value(value), expected))
    return problems, None
