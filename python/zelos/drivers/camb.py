"""The CAMB driver: an emulator's parameters and code settings in, its outputs in one schema out.

The same object makes training sets, serves as the live fallback and validates, so an emulator and
its fallback run CAMB with the same settings. Names, shapes and units: docs/drivers.md.
"""

from __future__ import annotations

import inspect
import math

import camb
import numpy as np
from camb.baseconfig import CAMBError, CAMBFortranError, CAMBUnknownArgumentError, CAMBValueError
from scipy.interpolate import CubicSpline

from ..physics import C_KM_S, s8
from .common import ComputationError, OutputRequest, VersionMismatch, finite_in_request_order

__all__ = ["CambDriver", "OutputRequest"]

# Keywords the driver derives from the request (docs/spec.md: "settings" may not set them), so
# the multipoles, k range and redshifts have one source.
RESERVED = frozenset({"lmax", "max_l", "kmax", "redshifts", "WantCls", "WantTransfer", "Want_CMB",
                      "NonLinear", "nonlinear", "silent"})
HUBBLE_KEYS = ("H0", "cosmomc_theta", "thetastar")
# set_for_lmax's options: CAMB refuses them without lmax, so they are dropped when no C_l is asked
# for (as Cobaya does); they do not change anything else.
LMAX_OPTIONS = frozenset(inspect.signature(camb.CAMBparams.set_for_lmax).parameters) - {"self", "lmax"}
# CAMB's default kmax [1/Mpc]: sigma8 needs k up to about this, so P(k) requests never go below it.
KMAX_DEFAULT = 1.2


class CambDriver:
    """Runs CAMB for one :class:`OutputRequest` with fixed ``settings`` (the spec's code.settings).

    ``threads``: CAMB's OpenMP threads (None: CAMB's default). ``version``: the pinned camb version;
    a different installed version raises :class:`VersionMismatch` unless
    ``allow_version_mismatch`` (then ``version_note`` says what differs).
    """

    code = "camb"

    def __init__(self, settings: dict | None, request: OutputRequest, version: str | None = None,
                 allow_version_mismatch: bool = False, threads: int | None = None):
        if not isinstance(request, OutputRequest):
            raise TypeError("CambDriver: request must be a zelos.drivers.OutputRequest")
        self.settings = dict(settings or {})
        self.request = request
        self.version = None if version is None else str(version)
        self.installed_version = camb.__version__
        self.version_note = None
        self.threads = threads
        if self.version is not None and self.version != self.installed_version:
            msg = (f"spec pins camb=={self.version} but camb {self.installed_version} is installed; "
                   f"install camb=={self.version} or pass --allow-version-mismatch")
            if not allow_version_mismatch:
                raise VersionMismatch(msg)
            self.version_note = msg
        reserved = sorted(RESERVED.intersection(self.settings))
        if reserved:
            raise ValueError(f"camb driver: settings {reserved} are set from the requested outputs; "
                             "remove them from code.settings")
        self._request_kwargs = _request_kwargs(request)
        self._needs_perts = bool(request.spectra or request.pk_linear or request.pk_nonlinear or request.growth
                                 or {"sigma8", "S8"} & set(request.derived))
        camb.set_feedback_level(0)

    # -- the schema ---------------------------------------------------------------------------
    def output_shapes(self) -> dict:
        """``{name: shape}`` of what :meth:`compute` returns, in the request's order."""
        return self.request.output_shapes()

    def describe(self) -> dict:
        """What determines the outputs (stored with training sets; JSON-able)."""
        return self.request.describe(self.code, self.installed_version, self.settings)

    def set_threads(self, n: int | None) -> None:
        self.threads = n
        if n is not None:
            camb.config.ThreadNum = int(n)

    # -- one point ----------------------------------------------------------------------------
    def camb_kwargs(self, params: dict) -> dict:
        """The keywords given to ``camb.set_params`` for ``params`` (settings and request included)."""
        params = dict(params)
        both = sorted(set(params) & set(self.settings))
        if both:
            raise ValueError(f"camb driver: {both} given both as parameters and in code.settings")
        reserved = sorted(RESERVED.intersection(params))
        if reserved:
            raise ValueError(f"camb driver: {reserved} cannot be parameters (set from the requested outputs)")
        kw = {**self.settings, **params}
        hubble = [key for key in HUBBLE_KEYS if kw.get(key) is not None]
        if len(hubble) != 1:
            raise ValueError("camb driver: give exactly one of H0, cosmomc_theta, thetastar "
                             f"(parameters or settings); got {hubble or 'none'}")
        for key in ("cosmomc_theta", "thetastar"):
            if kw.get(key) is not None and kw[key] > 0.1:
                raise ValueError(f"camb driver: {key}={kw[key]} looks like 100 theta; CAMB takes theta "
                                 "itself (about 0.0104)")
        for key in HUBBLE_KEYS:
            if kw.get(key, 0) is None:
                del kw[key]
        if "logA" in kw:
            if "As" in kw:
                raise ValueError("camb driver: give logA or As, not both")
            kw["As"] = 1e-10 * math.exp(kw.pop("logA"))
        if not self.request.spectra:
            kw = {k: v for k, v in kw.items() if k not in LMAX_OPTIONS}
        kw.update(self._request_kwargs)
        return kw

    def compute(self, params: dict) -> dict:
        """``{output name: float64 array}`` at ``params``; :class:`ComputationError` if CAMB fails."""
        pars, results = self.run(params)
        try:
            out = self._collect(pars, results)
        except (CAMBError, CAMBValueError, CAMBFortranError) as e:
            raise ComputationError(f"CAMB failed at {_short(params)}: {e}") from e
        bad = [name for name, v in out.items() if not np.all(np.isfinite(v))]
        if bad:
            raise ComputationError(f"CAMB gave non-finite {bad} at {_short(params)}")
        return out

    def run(self, params: dict, nonlinear: str | None = None) -> tuple:
        """``(CAMBparams, CAMBdata)``: CAMB run at ``params`` for this request, for callers that
        read more than the schema (MontePython's classy accessors). ``nonlinear``: None, the
        request's model (the build's and the Cobaya fallback's); "none", everything linear, the
        lensing too (a CLASS run without ``non_linear``); else the ``halofit_version`` of P(k)
        and of the lensing both (CLASS's ``non_linear``). :class:`ComputationError` if CAMB fails,
        ``ValueError`` for a keyword ``camb.set_params`` does not take."""
        kw = self.camb_kwargs(params)
        if nonlinear not in (None, "none"):
            kw["halofit_version"] = nonlinear
        if self.threads is not None:
            camb.config.ThreadNum = int(self.threads)
        try:
            pars = camb.set_params(**kw)  # one CAMBparams per point: no state carried between points
            if nonlinear is not None:
                pars.NonLinear = camb.model.NonLinear_none if nonlinear == "none" else camb.model.NonLinear_both
            elif self.request.pk_nonlinear:
                # Not through set_params: its `nonlinear` keyword also reaches set_for_lmax and
                # would change the lensing of the C_l.
                lensing = pars.NonLinear in (camb.model.NonLinear_lens, camb.model.NonLinear_both)
                pars.NonLinear = camb.model.NonLinear_both if lensing else camb.model.NonLinear_pk
            results = camb.get_results(pars) if self._needs_perts else camb.get_background(pars)
        except CAMBUnknownArgumentError as e:
            raise ValueError(f"camb driver: {e} (not a camb.set_params keyword)") from None
        except (CAMBError, CAMBValueError, CAMBFortranError) as e:
            raise ComputationError(f"CAMB failed at {_short(params)}: {e}") from e
        return pars, results

    __call__ = compute

    def read_run(self, results, params: dict) -> tuple:
        """``({output: float64 array}, {output: why not})``: this driver's outputs at ``params``
        read from a CAMB run made elsewhere (``results``: its ``camb.CAMBdata``, e.g. Cobaya's
        CAMB at a fallback point), without running CAMB again. What the background and thermal
        history alone determine is read whatever else the run computed; C_l, P(k), growth and
        sigma8 only when the run's CAMBparams are those :meth:`compute` would use (else they
        would differ from this driver's in their l and k ranges, redshifts or accuracy) and
        give the reason otherwise. Outputs that are not finite are left out too."""
        first, rest = self.request.split()
        out, missing = {}, {}
        for part, only in ((first, BACKGROUND_FIELDS), (rest, None)):
            if part is None:
                continue
            why = self._run_differs(results.Params, params, only)
            if why is None:
                try:
                    out.update(self._collect(results.Params, results, part))
                except (CAMBError, CAMBValueError, CAMBFortranError, ValueError) as e:
                    why = f"CAMB could not give it from the run: {e}"
            if why is not None:
                missing.update(dict.fromkeys(part.names(), why))
        return finite_in_request_order(self.request, out, missing)

    def _run_differs(self, run_params, params: dict, only: tuple | None = None) -> str | None:
        """Why a run with ``run_params`` (CAMBparams after the run) did not compute what
        :meth:`compute` would at ``params`` (None: it did): every field compared, or those whose
        dotted names start with one of ``only``. CAMB changes a few fields while it runs
        (:data:`RUN_SET_FIELDS`); the run's ``kmax`` must be at least the one asked for here."""
        mine = camb.set_params(**self.camb_kwargs(params))
        if self.request.pk_nonlinear:
            lensing = mine.NonLinear in (camb.model.NonLinear_lens, camb.model.NonLinear_both)
            mine.NonLinear = camb.model.NonLinear_both if lensing else camb.model.NonLinear_pk
        theirs, ours = _fields(run_params), _fields(mine)
        keys = sorted(set(theirs) | set(ours))
        if only is not None:
            keys = [k for k in keys if k.startswith(only)]
        differ = [k for k in keys if theirs.get(k) != ours.get(k)]
        if differ:
            k = differ[0]
            return (f"the run's CAMB settings differ from this driver's ({len(differ)} field"
                    f"{'s' * (len(differ) > 1)}, e.g. {k}: {theirs.get(k)} against {ours.get(k)})")
        if only is None and mine.WantTransfer and run_params.Transfer.kmax < mine.Transfer.kmax:
            return f"the run computed P(k) to kmax {run_params.Transfer.kmax:.4g}, this driver to {mine.Transfer.kmax:.4g}"
        return None

    def _collect(self, pars, results, r: OutputRequest | None = None) -> dict:
        r = r or self.request
        out = {}
        if r.spectra:
            out.update(self._cmb(results, r))
        for nonlinear, name in ((False, "pk_lin"), (True, "pk_nonlin")):
            if (r.pk_nonlinear if nonlinear else r.pk_linear):
                out[name] = self._pk(results, nonlinear, r)
        if r.background:
            z = r.z_bg
            H = results.hubble_parameter(z)
            D_A = results.angular_diameter_distance(z)
            D_M = (1 + z) * D_A
            funcs = {"H": H, "D_A": D_A, "D_M": D_M, "D_V": np.cbrt(z * D_M**2 * C_KM_S / H)}
            if r.growth:
                funcs.update(self._growth(results, r))
            out.update({b: np.asarray(funcs[b], dtype=np.float64) for b in r.background})
        if r.derived:
            out.update(self._derived(results, r))
        return {name: out[name] for name in r.names()}

    def _cmb(self, results, r: OutputRequest) -> dict:
        which = "total" if r.lensed else "unlensed_total"
        wanted = [which] + ["lens_potential"] * ("pp" in r.spectra)
        # No `pars` here: given params, CAMB recomputes everything (it doubled the time per point).
        powers = results.get_cmb_power_spectra(lmax=r.lmax, spectra=wanted, CMB_unit="muK", raw_cl=False)
        column = {"tt": 0, "ee": 1, "bb": 2, "te": 3}
        sl = slice(r.lmin, r.lmax + 1)
        out = {}
        for s in r.spectra:
            table = powers["lens_potential"] if s == "pp" else powers[which]
            out[f"dl_{s}"] = np.array(table[sl, 0 if s == "pp" else column[s]], dtype=np.float64)
        return out

    def _pk(self, results, nonlinear: bool, r: OutputRequest) -> np.ndarray:
        # CAMB's own k nodes, then a cubic spline of ln P in ln k onto the requested grid (what
        # CAMB's interpolator does); the requested redshifts were given to CAMB, so no z interpolation.
        k, z, pk = results.get_linear_matter_power_spectrum(
            var1="delta_tot", var2="delta_tot", hubble_units=False, k_hunit=False, nonlinear=nonlinear)
        rows = [int(np.argmin(np.abs(z - zi))) for zi in r.z_pk]
        pk = pk[rows]
        if not np.all(pk > 0):
            raise CAMBError("non-positive matter power")
        lnk, lnp, want = np.log(k), np.log(pk), np.log(r.k)
        res = CubicSpline(lnk, lnp, axis=1)(want)
        # Outside CAMB's nodes (rare: its grid starts near 1e-5 1/Mpc and ends above kmax) a power law
        # through the end nodes is safer than the cubic's extrapolation.
        for mask, (a, b) in ((want < lnk[0], (0, 1)), (want > lnk[-1], (-2, -1))):
            if mask.any():
                slope = (lnp[:, b] - lnp[:, a]) / (lnk[b] - lnk[a])
                res[:, mask] = lnp[:, [a]] + slope[:, None] * (want[mask] - lnk[a])
        return np.exp(res)

    def _growth(self, results, r: OutputRequest) -> dict:
        # CAMB computes sigma8 and f sigma8 at its transfer redshifts (the z_bg grid was added to
        # them), latest time last, as Cobaya's CAMB reads them.
        z = np.array(results.Params.Transfer.PK_redshifts[:results.Params.Transfer.PK_num_redshifts])
        rows = [int(np.argmin(np.abs(z - zi))) for zi in r.z_bg]
        return {"sigma8_z": results.get_sigma8()[rows], "fsigma8": results.get_fsigma8()[rows]}

    def _derived(self, results, r: OutputRequest) -> dict:
        d = results.get_derived_params()  # theta values there are already x100
        values = {"H0": results.Params.H0, "rdrag": d["rdrag"], "thetastar": d["thetastar"],
                  "zdrag": d["zdrag"], "zstar": d["zstar"], "rstar": d["rstar"], "age": d["age"],
                  "omegam": results.Params.omegam, "omegal": results.omega_de}
        want = set(r.derived)
        if want & {"sigma8", "S8"}:
            values["sigma8"] = results.get_sigma8_0()
            values["S8"] = s8(values["sigma8"], values["omegam"])
        if "zre" in want:
            # Only a CMB run fills Reion.redshift from tau; ask CAMB's own solver otherwise.
            reion = results.Params.Reion
            values["zre"] = reion.get_zre(results.Params) if hasattr(reion, "get_zre") else reion.redshift
        return {name: np.array(float(values[name]), dtype=np.float64) for name in r.derived}


#: CAMBparams fields CAMB itself sets while it runs (the reionization fraction and redshift, the
#: Limber switch, kmax raised for accuracy), left out when a run's settings are compared.
RUN_SET_FIELDS = frozenset({"Transfer.kmax", "Reion.fraction", "Reion.redshift", "SourceTerms.limber_windows"})
#: CAMBparams fields that say how results are stored, not what is computed: a run that differs
#: from this driver's only in them gives the same C_l. Cobaya's camb sets Want_cl_2D_array False
#: (the 2D array of source-window cross-spectra), set_params True; without this, no Cobaya
#: fallback point logged a CMB emulator's spectra (0 of 349 in a w0wa chain).
STORAGE_ONLY_FIELDS = frozenset({"Want_cl_2D_array"})
#: The CAMBparams fields the background and thermal history depend on (the cosmology, the
#: neutrinos, dark energy, recombination, reionization): compared when only those are read.
BACKGROUND_FIELDS = ("ombh2", "omch2", "omk", "omnuh2", "H0", "TCMB", "YHe", "num_nu_massless", "num_nu_massive",
                     "nu_mass_", "share_delta_neff", "DarkEnergy.", "Recomb.", "Reion.")


def _fields(pars) -> dict:
    """``{dotted field: value text}`` of a CAMBparams' own dump (its ``str``), but
    :data:`RUN_SET_FIELDS` and :data:`STORAGE_ONLY_FIELDS`."""
    out, stack, name = {}, [], None
    for line in str(pars).splitlines()[1:]:
        key, eq, value = line.strip().partition(" = ")
        if not eq and not key.endswith(">"):  # a long value's next line
            if name is not None:
                out[name] += "\n" + line.strip()
            continue
        stack[max(0, (len(line) - len(line.lstrip(" ")) - 1) // 2):] = []
        if not eq:  # a section: `Transfer: <TransferParams>`
            stack.append(key.split(":")[0])
            name = None
            continue
        name = ".".join(stack + [key])
        out[name] = value
    return {k: v for k, v in out.items() if k not in RUN_SET_FIELDS | STORAGE_ONLY_FIELDS}


def _request_kwargs(r: OutputRequest) -> dict:
    kw = {}
    if r.spectra:
        kw["lmax"] = r.lmax  # set_for_lmax adds CAMB's lensing margin above it
    else:
        kw["WantCls"] = False
        kw["Want_CMB"] = False
    pk = r.pk_linear or r.pk_nonlinear
    sigma8 = bool({"sigma8", "S8"} & set(r.derived))
    if pk or sigma8 or r.growth:
        zs = set(r.z_pk.tolist()) if pk else set()
        if sigma8:
            zs.add(0.0)  # get_sigma8_0 reads the lowest redshift computed
        if r.growth:
            zs.update(r.z_bg.tolist())  # sigma8(z), f sigma8(z) at exactly these (no z interpolation)
        kw["WantTransfer"] = True
        kw["redshifts"] = sorted(zs, reverse=True)  # CAMB's order: no re-sorting note printed
        kw["silent"] = True  # no kmax advice printed: kmax is chosen below
        if pk:
            kmax = max(KMAX_DEFAULT, 1.05 * float(r.k[-1]))
            if r.pk_nonlinear:
                # Halofit needs the linear P(k) well past the non-linear scale (CAMB's own advice).
                kmax = max(kmax, 20.0 if max(zs) > 4 else 5.0)
            kw["kmax"] = kmax
    return kw


def _short(params: dict) -> str:
    return "{" + ", ".join(f"{k}: {float(v):.6g}" if _is_number(v) else f"{k}: {v!r}"
                           for k, v in params.items()) + "}"


def _is_number(v) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False
