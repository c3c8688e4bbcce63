"""CAMB behind classy's accessors: the live code of CAMB-trained emulators in MontePython.

:class:`CambClass` runs CAMB for a point given in CLASS's names (translated by
``class_inputs.to_camb``) with the emulators' CAMB settings, computing what the run's CLASS
``output`` asks for, and answers the accessors MontePython's likelihoods call, in CLASS's
conventions (distances in Mpc, ``Hubble`` in 1/Mpc, P(k) in Mpc^3 with k in 1/Mpc, dimensionless
C_l). The values are CAMB's: they differ from CLASS's at the 1e-4 level (different codes). An
accessor it does not implement raises ``AttributeError`` naming it.
"""

from __future__ import annotations

import math

import numpy as np

from ..physics import C_KM_S, s8
from .class_inputs import Request
from .errors import CosmoComputationError, CosmoSevereError

LEVELS = ("background", "full")


class CallableFloat(float):
    """A float that returns itself when called: classy's accessors are properties that also
    work as methods (``cosmo.h`` and ``cosmo.h()``)."""

    def __call__(self):
        return self


def _like(z, values):
    """classy's convention: a scalar for a scalar z, else an array."""
    values = np.asarray(values, dtype=float)
    return float(values.reshape(-1)[0]) if np.isscalar(z) else values


def _at_z(z_nodes, table, z):
    """A row of ``table`` (values at ``z_nodes``, increasing) at redshift ``z``: the row itself at a
    node (CAMB's value, unchanged), else a cubic spline of its log in z."""
    node = np.flatnonzero(np.abs(z_nodes - z) <= 1e-9 * max(1.0, abs(z)))
    if node.size:
        return table[node[0]]
    if not z_nodes[0] <= z <= z_nodes[-1]:
        raise CosmoSevereError(f"zelos (CAMB): sigma(R, z) is known for z in [{z_nodes[0]:g}, {z_nodes[-1]:g}] "
                               f"(z_max_pk, z_pk); asked for z = {z:g}")
    from scipy.interpolate import CubicSpline

    return np.exp(CubicSpline(z_nodes, np.log(table), axis=0)(z))


class CambClass:
    """CAMB for one point at a time, answered through classy's accessor names.

    ``settings``: the emulators' CAMB ``code.settings`` (precision and the like; the physics of
    the point overrides them). Call :meth:`run` with the translated point, the run's
    :class:`~zelos.montepython.class_inputs.Request` and a level (``background``: background
    and thermal history, a few ms; ``full``: everything the request asks for).
    """

    #: Marks a CAMB computation for readers of C_l (``outputs.read_output``).
    zelos_camb = True

    def __init__(self, settings: dict | None = None, threads: int | None = None, lmax: int = 0):
        import camb

        self.lmax = int(lmax)  # C_l computed at least to this (the CMB emulators' lmax)
        self.use_settings(settings)
        self.threads = threads
        self.version = camb.__version__
        camb.set_feedback_level(0)
        self.struct_cleanup()

    # -- computing --------------------------------------------------------------------------------
    def use_settings(self, settings: dict | None) -> None:
        """The CAMB settings of the next runs (those the run's output decides are dropped)."""
        settings = {k: v for k, v in (settings or {}).items() if k not in _owned()}
        if settings != getattr(self, "settings", None):
            self.settings = settings
            self._point = None  # recompute with them

    def struct_cleanup(self) -> None:
        self.pars = self.results = None
        self.level = None
        self._point = self._request = None
        self._cache = {}

    empty = struct_cleanup

    @property
    def state(self):
        return True

    def run(self, point: dict, request: Request, level: str = "full") -> None:
        """Computes ``point`` (CAMB keywords, ``halofit_version`` "none" for a linear run) to
        ``level`` with zelos's CAMB driver; nothing when already computed to it.
        ``CosmoComputationError`` when CAMB fails."""
        if self._point == point and self._request == request and self.level in ("full", level):
            return
        driver = _driver()
        # logA rides along for emulators that take it; CAMB takes As (computed from it)
        params = {k: v for k, v in point.items() if k not in ("halofit_version", "logA")}
        settings = dict(self.settings)
        for group in (driver.HUBBLE_KEYS, ("tau", "zrei")):  # the point's choice wins
            if any(k in params for k in group):
                settings = {k: v for k, v in settings.items() if k not in group}
        settings = {k: v for k, v in settings.items() if k not in params}
        model = point.get("halofit_version", "none")
        full = level == "full"
        try:
            run = driver.CambDriver(settings, self._output_request(request, full, model, params),
                                    threads=self.threads)
            pars, results = run.run(params, nonlinear=model if full else None)
        except driver.ComputationError as e:
            raise CosmoComputationError(str(e)) from None
        except ValueError as e:
            raise CosmoSevereError(f"CAMB: {e}") from None
        self.pars, self.results = pars, results
        self.level, self._point, self._request, self._cache = level, dict(point), request, {}

    def _output_request(self, request: Request, full: bool, model: str, params: dict):
        """The driver's request for what the run's ``output`` asks when ``full``: C_l to the
        emulators' lmax at least, as they were trained (CAMB's lensing near lmax depends on it,
        and fallback points log their whole spectra); P(k) at every 0.05 in z to ``z_max_pk``
        and at ``z_pk`` (splined between them). Otherwise, or when it asks for neither, the
        background alone (CAMB without its CMB, as the driver trains background emulators; 6
        times faster)."""
        kw = {}
        if full and request.has_cl:
            kw.update(spectra=("tt",), lmax=max(request.l_max_scalars, self.lmax))
        if full and request.mPk:
            h = params["H0"] / 100.0 if "H0" in params else 1.0  # with theta h is not known yet: h < 1
            z_max = request.z_max()
            zs = set(np.round(np.linspace(0.0, max(z_max, 0.1), max(2, min(100, int(z_max / 0.05) + 2))), 10))
            kw.update({"pk_nonlinear" if model != "none" else "pk_linear": True, "k": [request.k_max_mpc(h)],
                       "z_pk": sorted(zs | set(request.z_pk))})
        if not kw:
            kw.update(background=("H",), z_bg=[0.0])
        return _driver().OutputRequest(**kw)

    def _need(self, level: str = "background"):
        if self.results is None:
            raise CosmoSevereError("zelos (CAMB): no point computed")
        if level == "full" and self.level != "full":
            self.run(self._point, self._request, "full")
        return self.results

    def _derived(self) -> dict:
        d = self._cache.get("derived")
        if d is None:
            d = self._cache["derived"] = self._need().get_derived_params()
        return d

    # -- background ----------------------------------------------------------------------------------
    @property
    def h(self):
        return CallableFloat(self._need().Params.H0 / 100.0)

    @property
    def H0(self):
        return CallableFloat(self._need().Params.H0)

    @property
    def T_cmb(self):
        return CallableFloat(self._need().Params.TCMB)

    @property
    def Neff(self):
        return CallableFloat(self._need().Params.N_eff)

    @property
    def n_s(self):
        return CallableFloat(self._need().Params.InitPower.ns)

    @property
    def Omega_m(self):
        return CallableFloat(self._need().Params.omegam)

    def Omega0_m(self):
        return float(self.Omega_m)

    @property
    def Omega_b(self):
        p = self._need().Params
        return CallableFloat(p.ombh2 / (p.H0 / 100.0) ** 2)

    @property
    def omega_b(self):
        return CallableFloat(self._need().Params.ombh2)

    @property
    def Omega_cdm(self):
        p = self._need().Params
        return CallableFloat(p.omch2 / (p.H0 / 100.0) ** 2)

    def Omega0_cdm(self):
        return float(self.Omega_cdm)

    @property
    def Omega_nu(self):
        p = self._need().Params
        return CallableFloat(p.omnuh2 / (p.H0 / 100.0) ** 2)

    @property
    def Omega_Lambda(self):
        return CallableFloat(self._need().omega_de)

    @property
    def Omega_k(self):
        return CallableFloat(self._need().Params.omk)

    def Omega0_k(self):
        return float(self.Omega_k)

    @property
    def Omega_g(self):
        return CallableFloat(self._need().get_Omega("photon"))

    @property
    def age(self):
        return CallableFloat(self._derived()["age"])

    def Hubble(self, z):
        return _like(z, self._need().hubble_parameter(np.atleast_1d(z)) / C_KM_S)

    def angular_distance(self, z):
        return _like(z, self._need().angular_diameter_distance(np.atleast_1d(z)))

    def luminosity_distance(self, z):
        return _like(z, self._need().luminosity_distance(np.atleast_1d(z)))

    def comoving_distance(self, z):
        return _like(z, self._need().comoving_radial_distance(np.atleast_1d(z), tol=1e-8))

    def z_of_r(self, z):
        r = self.comoving_distance(z)
        return r, self.Hubble(z)

    def scale_independent_growth_factor(self, z):
        return _like(z, self._growth(np.atleast_1d(z))[0])

    def scale_independent_growth_factor_f(self, z):
        return _like(z, self._growth(np.atleast_1d(z))[1])

    def _growth(self, z):
        """D(z) (1 today) and f = dlnD/dlna for CDM + baryons, as CLASS defines them: the
        growing solution of D'' + (2 + dlnH/dlna) D' = 3/2 Omega_cb(a) D in ln a, started in the
        radiation era on the Meszaros growing mode."""
        sol = self._cache.get("growth")
        if sol is None:
            from scipy.integrate import solve_ivp
            from scipy.interpolate import CubicSpline

            res = self._need()
            p = res.Params
            lna = np.linspace(math.log(1e-6), 0.0, 2000)
            a = np.exp(lna)
            H = res.hubble_parameter(1.0 / a - 1.0)
            lnh = CubicSpline(lna, np.log(H))
            om_cb0 = (p.ombh2 + p.omch2) / (p.H0 / 100.0) ** 2
            dens = res.get_background_densities(a[:1], vars=["photon", "neutrino", "nu", "cdm", "baryon"])
            rad = dens["photon"][0] + dens["neutrino"][0] + dens["nu"][0]
            y0 = a[0] * (dens["cdm"][0] + dens["baryon"][0]) / rad  # a / a_eq at the start

            def rhs(x, s):
                ea = math.exp(x)
                om = om_cb0 * (p.H0 / math.exp(lnh(x))) ** 2 / ea**3
                return [s[1], -(2.0 + lnh(x, 1)) * s[1] + 1.5 * om * s[0]]

            out = solve_ivp(rhs, (lna[0], 0.0), [1.0 + 1.5 * y0, 1.5 * y0], rtol=1e-9, atol=1e-12,
                            dense_output=True)
            sol = self._cache["growth"] = out.sol
        x = -np.log1p(np.asarray(z, float))
        d, dd = sol(x)
        d0 = sol(0.0)[0]
        return d / d0, dd / d

    # -- thermal history ------------------------------------------------------------------------------
    @property
    def rs_drag(self):
        return CallableFloat(self._derived()["rdrag"])

    @property
    def theta_s_100(self):
        # CAMB's 100 theta_*: the angle zelos maps CLASS's 100*theta_s to (docs/montepython.md)
        return CallableFloat(self._derived()["thetastar"])

    @property
    def theta_star_100(self):
        return CallableFloat(self._derived()["thetastar"])

    @property
    def tau_reio(self):
        p = self._need().Params
        if p.Reion.use_optical_depth:
            return CallableFloat(p.Reion.optical_depth)
        tau = self._cache.get("tau")
        if tau is None:
            tau = self._cache["tau"] = _tau_of_zre(p)
        return CallableFloat(tau)

    @property
    def z_reio(self):
        p = self._need().Params
        return CallableFloat(p.Reion.get_zre(p) if p.Reion.use_optical_depth else p.Reion.redshift)

    # -- perturbations ----------------------------------------------------------------------------------
    def _pk_interpolator(self, nonlinear: bool):
        key = ("pk", nonlinear)
        interp = self._cache.get(key)
        if interp is None:
            if not self._request.mPk:
                raise CosmoSevereError("No power spectrum computed. You must add mPk to the list of outputs.")
            res = self._need("full")
            interp = self._cache[key] = res.get_matter_power_interpolator(
                nonlinear=nonlinear, var1="delta_tot", var2="delta_tot", hubble_units=False, k_hunit=False,
                silent=True)
        return interp

    def pk(self, k, z):
        return float(self._pk_interpolator(self._request.nonlinear != "none").P(z, k))

    def pk_lin(self, k, z):
        return float(self._pk_interpolator(False).P(z, k))

    @property
    def sigma8(self):
        if not self._request.mPk:
            raise CosmoSevereError("No power spectrum computed. In order to get sigma8, you must add mPk to the "
                                   "list of outputs.")
        return CallableFloat(self._need("full").get_sigma8_0())

    @property
    def S8(self):
        return CallableFloat(s8(self.sigma8, self.Omega_m))

    def sigma(self, R, z, h_units=False):
        """sigma(R, z) of the linear total matter density in spheres of radius R [Mpc, or Mpc/h
        with ``h_units``], shaped as classy's: CAMB's own sigma_R (``get_sigmaR``, the routine of
        its sigma8) at the redshifts it computed P(k) at, and between them a cubic spline of
        ln sigma in z, as CAMB's P(k) interpolator splines in z."""
        if not self._request.mPk:
            raise CosmoSevereError("No power spectrum computed. In order to get sigma(R,z) you must add mPk to the "
                                   "list of outputs.")
        zarr, rarr = np.atleast_1d(z).astype(float), np.atleast_1d(R).astype(float)
        r_mpc = rarr / float(self.h) if h_units else rarr
        z_nodes, table = self._sigma_table(r_mpc)
        out = np.empty((len(zarr), len(rarr)))
        for i, zi in enumerate(zarr):
            out[i] = _at_z(z_nodes, table, zi)
        return float(out[0, 0]) if (np.isscalar(z) and np.isscalar(R)) else np.squeeze(out)

    def _sigma_table(self, r_mpc):
        """CAMB's sigma(R) at its P(k) redshifts, in increasing z: ``(z, sigma[z, R])``."""
        res = self._need("full")
        _, zs, table = res.get_sigmaR(r_mpc, hubble_units=False, return_R_z=True)
        order = np.argsort(zs)
        return np.asarray(zs, float)[order], np.asarray(table, float)[order]

    # -- CMB ------------------------------------------------------------------------------------------
    def _cls(self, lensed: bool, lmax: int, nofail: bool) -> dict:
        r = self._request
        keys = r.cl_keys(lensed)
        if not keys or (lensed and not r.lensing):
            raise CosmoSevereError("No lensed Cl computed" if lensed else "No Cl computed")
        if lmax == -1:
            lmax = r.l_max_scalars
        # as CLASS: no more than the run asked for, unless nofail (CLASS then recomputes; here
        # what was computed for the emulators' lmax may be enough)
        if lmax > (max(r.l_max_scalars, self.lmax) if nofail else r.l_max_scalars):
            raise CosmoSevereError("Can only compute up to lmax=%d" % r.l_max_scalars)
        res = self._need("full")
        powers = res.get_cmb_power_spectra(lmax=lmax, spectra=["total" if lensed else "unlensed_total",
                                                               "lens_potential"], CMB_unit=None, raw_cl=True)
        table = powers["total" if lensed else "unlensed_total"]
        pot = powers["lens_potential"]
        columns = {"tt": (table, 0), "ee": (table, 1), "bb": (table, 2), "te": (table, 3), "pp": (pot, 0),
                   "tp": (pot, 1)}
        cl = {}
        for key in keys:
            t, c = columns[key]
            v = np.zeros(lmax + 1)
            v[2:] = t[2:lmax + 1, c]
            cl[key] = v
        cl["ell"] = np.arange(lmax + 1)
        return cl

    def lensed_cl(self, lmax=-1, nofail=False):
        return self._cls(True, int(lmax), nofail)

    def raw_cl(self, lmax=-1, nofail=False):
        return self._cls(False, int(lmax), nofail)

    # -- derived parameters ---------------------------------------------------------------------------
    def get_current_derived_parameters(self, names):
        if type(names) is not list:
            raise TypeError("Deprecated")
        res = self._need()
        p = res.Params
        h = p.H0 / 100.0
        d = self._derived()
        table = {
            "h": lambda: h, "H0": lambda: p.H0, "Omega_m": lambda: p.omegam, "omega_m": lambda: p.omegam * h * h,
            "Omega0_lambda": lambda: res.omega_de, "Omega_Lambda": lambda: res.omega_de, "age": lambda: d["age"],
            "Neff": lambda: p.N_eff, "rs_d": lambda: d["rdrag"], "rs_d_h": lambda: d["rdrag"] * h,
            "z_d": lambda: d["zdrag"], "z_star": lambda: d["zstar"], "rs_star": lambda: d["rstar"],
            "100*theta_s": lambda: d["thetastar"], "theta_s_100": lambda: d["thetastar"],
            "100*theta_star": lambda: d["thetastar"], "theta_star_100": lambda: d["thetastar"],
            "tau_reio": lambda: float(self.tau_reio), "z_reio": lambda: float(self.z_reio),
            "YHe": lambda: p.YHe, "A_s": lambda: p.InitPower.As,
            "ln10^{10}A_s": lambda: math.log(1e10 * p.InitPower.As),
            "ln_A_s_1e10": lambda: math.log(1e10 * p.InitPower.As), "n_s": lambda: p.InitPower.ns,
            "alpha_s": lambda: p.InitPower.nrun, "sigma8": lambda: float(self.sigma8),
            "m_ncdm_tot": lambda: p.omnuh2 * 93.14, "z_eq": lambda: d["zeq"], "k_eq": lambda: d["keq"],
            "exp_m_2_tau_As": lambda: math.exp(-2.0 * float(self.tau_reio)) * p.InitPower.As,
        }
        out = {}
        for name in names:
            if name not in table:
                raise CosmoSevereError(f"{name} was not recognized as a derived parameter (zelos computes with CAMB "
                                       f"here; it provides {', '.join(table)})")
            out[name] = float(table[name]())
        return out

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        raise AttributeError(f"`{name}` is not available when zelos computes with CAMB (the code the loaded emulators "
                             "were trained with); see docs/montepython.md for the accessors it answers")


def _tau_of_zre(params) -> float:
    """The optical depth of CAMB's reionization at the run's z_reio (CLASS's default 7.6711 when
    the run gives neither): the tau for which CAMB's own ``get_zre`` gives that redshift (CAMB
    has no tau-from-z_reio routine; ``get_zre`` is smooth, so the root is found to 1e-12). The
    bracket holds z_reio in (0, 45): CAMB's solver fails beyond tau ~ 0.8."""
    from scipy.optimize import brentq

    zre = params.Reion.redshift
    try:
        return brentq(lambda tau: params.Reion.get_zre(params, tau) - zre, 1e-3, 0.7, xtol=1e-14, rtol=1e-12)
    except ValueError:
        raise CosmoComputationError(f"zelos (CAMB): no optical depth in [0.001, 0.7] gives z_reio = {zre:g}") from None


def _driver():
    """zelos's CAMB driver (``zelos.drivers.camb``), which makes this class's runs: imported when
    CAMB computes (it imports camb; a CLASS run never needs it)."""
    from ..drivers import camb as driver

    return driver


def _owned() -> frozenset:
    """CAMB keywords the run's CLASS ``output`` decides (set here, never taken from the
    settings): the driver's reserved keywords, and the non-linear model (CLASS's ``non_linear``)."""
    return _driver().RESERVED | {"halofit_version"}
