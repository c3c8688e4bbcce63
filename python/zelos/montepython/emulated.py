"""classy's accessors answered from emulated outputs, in CLASS's conventions.

:class:`Served` holds one emulated point: the outputs the router served (``H``, ``D_M``,
``rdrag``, ``dl_tt``, ``pk_lin``...), which emulator served each, and the point's inputs. Each
accessor returns what classy's would, or raises :class:`NotServed` (with the reason) when the
emulators cannot answer that call (a redshift beyond the emulated grid, a spectrum no emulator
has): the plugin then asks the real code. Conventions, as classy 3.4.1:

- ``Hubble(z)``: H(z)/c in 1/Mpc; distances in Mpc; ``z_of_r(z)``: (comoving distance, H/c);
- ``lensed_cl(lmax)``: dimensionless C_l for l = 0..lmax (0 below l = 2): D_l [muK^2] times
  2 pi / (l (l+1)) / (T_cmb 1e6)^2; ``pp``: C_l^phiphi = dl_pp 2 pi / [l (l+1)]^2;
- ``pk(k, z)``, ``pk_lin(k, z)``: Mpc^3, k in 1/Mpc (``pk`` is the non-linear spectrum when the
  run sets ``non_linear``);
- scalars as ``CallableFloat`` (both ``cosmo.h`` and ``cosmo.h()`` work).

Redshifts between grid nodes: a cubic spline, precomputed as a matrix per (emulator, output,
z array). Distances are splined as D_M/z, smooth and finite at z = 0 (c/H0), so with H0 known
(``h`` an input, or an emulated ``H0``) requests below the grid's first redshift are answered
too (H(0) = H0 is the extra node for H): the serving layer's splines (``zelos.serving``), as in
the Cobaya plugin.
"""

from __future__ import annotations

import math

import numpy as np

from ..code_inputs import CLASS_DEFAULTS
from ..physics import C_KM_S, s8
from ..serving import background
from ..serving.background import SplineMaps
from ..serving.cmb import dl_to_cl
from ..serving.names import CLASSY_DERIVED
from ..serving.pk import LogPk
from .camb_class import CallableFloat
from .errors import CosmoSevereError


class NotServed(Exception):
    """The emulators cannot answer this call; the message says why. ``output``/``fallback``: when
    the call needs an output that some loaded emulator has but none covers at this point, that
    output and the router's reason (``zelos.routing.Fallback``)."""

    def __init__(self, message, output=None, fallback=None):
        super().__init__(message)
        self.output, self.fallback = output, fallback


#: The classy module an emulator output needs, when the code computes it instead.
FOURIER_OUTPUTS = frozenset({"pk_lin", "pk_nonlin", "sigma8", "S8", "sigma8_z", "fsigma8"})


def output_level(name: str) -> str:
    """The classy level the code must reach to give emulator output ``name``."""
    if name.startswith("dl_"):
        return "lensing"
    return "fourier" if name in FOURIER_OUTPUTS else "thermodynamics"


class ClDict(dict):
    """classy's C_l dict; a spectrum CLASS would return but no emulator provides raises a
    KeyError that says so (``zelos_missing_cl: compute`` asks the real code instead)."""

    def __init__(self, *args, missing=(), **kw):
        super().__init__(*args, **kw)
        self.missing = tuple(missing)

    def __missing__(self, key):
        if key in self.missing:
            raise KeyError(f"{key!r}: no loaded emulator provides C_l^{key}, so zelos left it out; set "
                           "data.cosmo_arguments['zelos_missing_cl'] = 'compute' to have the code compute the "
                           "whole dict at every point")
        raise KeyError(key)


def _like(z, values):
    values = np.asarray(values, dtype=float)
    return float(values.reshape(-1)[0]) if np.isscalar(z) else values


class Served:
    """One emulated point. ``values``/``keys``: the router's served outputs and the key of the
    emulator serving each; ``unserved``: ``{output: Fallback}``, the wanted outputs no emulator
    covers at this point (a call needing one raises NotServed with the fallback: the code answers
    it); ``physics``: the run's CLASS inputs (canonical names); ``request``: what the run's CLASS
    output asks for; ``code``: the emulators' code."""

    def __init__(self, values: dict, keys: dict, emulators: dict, physics: dict, request, code: str,
                 maps: SplineMaps, missing_cl: str = "omit", asked=None, unserved=None, used=None):
        self.values, self.keys, self.emulators = values, keys, emulators
        self.unserved = unserved or {}
        self.physics, self.request, self.code = physics, request, code
        self.maps, self.missing_cl = maps, missing_cl
        self.asked = asked  # asked(output, z_max): the plan learns how far the run reaches (Plan.asked)
        self.used = used  # used(output): the plan learns which outputs the run's calls read (Plan.used)
        self._pk = {}

    # -- inputs ------------------------------------------------------------------------------------
    def _input(self, name):
        v = self.physics.get(name, CLASS_DEFAULTS.get(name))
        if not isinstance(v, float):
            raise NotServed(f"`{name}` is not an input of this run")
        return v

    def h(self) -> float:
        h = self.physics.get("h")
        if isinstance(h, float):
            return h
        if "H0" in self.values or "H0" in self.unserved:
            return float(self._output("H0")) / 100.0
        if "100*theta_s" not in self.physics:
            return CLASS_DEFAULTS["h"]
        raise NotServed("h is solved from 100*theta_s and no emulator emulates H0")

    def _h0_or_none(self):
        try:
            return 100.0 * self.h()
        except NotServed:
            return None

    def _output(self, name):
        """An emulated output; NotServed when no emulator has it, or none covers this point
        (then with the output and the router's fallback)."""
        if self.used is not None and (name in self.values or name in self.unserved):
            self.used(name)
        fb = self.unserved.get(name)
        if fb is not None:
            raise NotServed(f"no loaded emulator covers `{name}` at this point: {fb.detail}", output=name,
                            fallback=fb)
        if name not in self.values:
            raise NotServed(f"no emulator emulates `{name}`")
        return self.values[name]

    def _distance_output(self) -> str:
        """D_M, else D_A: the served one first, then one no emulator covers here (NotServed)."""
        for have in (self.values, self.unserved):
            for output in ("D_M", "D_A"):
                if output in have:
                    self._output(output)
                    return output
        raise NotServed("no emulator emulates D_M or D_A")

    # -- scalars -------------------------------------------------------------------------------------
    def scalar(self, name: str) -> CallableFloat:
        """classy's scalar properties (``h``, ``Omega_m``, ``rs_drag``...)."""
        return CallableFloat(self._scalar(name))

    def _scalar(self, name):
        v = self.values
        if name == "h":
            return self.h()
        if name == "H0":
            return 100.0 * self.h()
        if name in ("Omega_m", "Omega0_m"):
            return float(self._output("omegam"))
        if name == "rs_drag":
            return float(self._output("rdrag"))
        if name in ("sigma8", "S8"):
            if not self.request.mPk:
                raise CosmoSevereError(f"No power spectrum computed. In order to get {name}, you must add mPk to the "
                                       "list of outputs.")
            if name == "S8" and "S8" in v:
                return float(self._output("S8"))
            sigma8 = float(self._output("sigma8"))
            return sigma8 if name == "sigma8" else s8(sigma8, float(self._output("omegam")))
        if name == "age":
            return float(self._output("age"))
        if name == "z_reio":
            return float(self._output("zre"))
        if name == "Omega_Lambda":
            if any(k in self.physics for k in ("w0_fld", "wa_fld", "Omega_fld")):
                raise NotServed("with a CLASS fluid, Omega_Lambda is not the emulated dark energy (omegal)")
            return float(self._output("omegal"))
        if name == "theta_star_100":
            return float(self._output("thetastar"))
        if name == "theta_s_100":
            if isinstance(self.physics.get("100*theta_s"), float):
                return self.physics["100*theta_s"]
            if self.code == "camb":  # CAMB's 100 theta_*, the angle CLASS's theta_s maps to for CAMB
                return float(self._output("thetastar"))
            raise NotServed("CLASS's 100*theta_s is not an emulated output (thetastar is 100*theta_star)")
        if name in ("n_s", "T_cmb", "omega_b", "A_s", "alpha_s"):
            return self._input(name)
        if name in ("Omega_b", "Omega_cdm"):
            return self._input(name.lower()) / self.h() ** 2
        if name in ("Omega0_cdm",):
            return self._input("omega_cdm") / self.h() ** 2
        if name in ("Omega_k", "Omega0_k"):
            return self._input("Omega_k")
        if name == "tau_reio":
            if isinstance(self.physics.get("tau_reio"), float):
                return self.physics["tau_reio"]
            raise NotServed("tau_reio is not an input of this run")
        raise NotServed(f"`{name}` is not emulated")

    # -- background functions of z ---------------------------------------------------------------------
    def _grid(self, output):
        self._output(output)
        key = self.keys[output]
        emu = self.emulators[key]
        return key, emu.grids[emu.outputs[output].axes[0]]

    def _on_grid(self, output, z, node0):
        """CubicSpline through the emulated grid (plus a z = 0 node worth ``node0`` below it)."""
        key, grid = self._grid(output)
        lo, hi = grid[0], grid[-1]
        if z.size == 0:
            return key, grid, np.zeros(0), False
        if self.asked is not None:
            self.asked(output, float(z.max()))
        below = background.below(z, grid)
        if background.above(z, grid) or (below and (node0 is None or z.min() < -background.tolerance(grid))):
            raise NotServed(f"`{key}` emulates {output} for z in [{lo:g}, {hi:g}]; asked for [{z.min():g}, {z.max():g}]"
                            + (" (below the grid only with H0 known)" if below and node0 is None else ""))
        w = self.maps.get((key, output, below), background.nodes(grid, below), np.ascontiguousarray(z, float))
        return key, grid, w, below

    def hubble_kms(self, z: np.ndarray) -> np.ndarray:
        h0 = self._h0_or_none()
        _, _, w, below = self._on_grid("H", z, h0)
        return background.hubble(w, self._output("H"), h0, below)

    def comoving_transverse(self, z: np.ndarray) -> np.ndarray:
        """D_M(z) [Mpc] from an emulated D_M or D_A."""
        output = self._distance_output()
        h0 = self._h0_or_none()
        key, grid, w, below = self._on_grid(output, z, None if h0 is None else C_KM_S / h0)
        return background.transverse_distance(output, self.values[output], grid, z, w, h0, below)

    def _flat(self) -> bool:
        """True when the emulator serving distances holds the curvature at zero (then the
        comoving distance equals D_M)."""
        output = self._distance_output()
        emu = self.emulators[self.keys[output]]
        name = "omk" if self.code == "camb" else "Omega_k"
        settings = emu.spec["code"].get("settings") or {}
        return name not in emu.parameters and float(settings.get(name, 0.0) or 0.0) == 0.0

    def Hubble(self, z):
        return _like(z, self.hubble_kms(np.atleast_1d(np.asarray(z, float))) / C_KM_S)

    def angular_distance(self, z):
        zz = np.atleast_1d(np.asarray(z, float))
        return _like(z, self.comoving_transverse(zz) / (1.0 + zz))

    def luminosity_distance(self, z):
        zz = np.atleast_1d(np.asarray(z, float))
        return _like(z, self.comoving_transverse(zz) * (1.0 + zz))

    def comoving_distance(self, z):
        if not self._flat():
            raise NotServed("the distance emulator varies the curvature: the comoving distance is not D_M")
        return _like(z, self.comoving_transverse(np.atleast_1d(np.asarray(z, float))))

    def z_of_r(self, z):
        return self.comoving_distance(z), self.Hubble(z)

    # -- P(k) --------------------------------------------------------------------------------------------
    def _pk_at(self, output, k, z):
        self._require_mpk("P(k)")
        key, zg, kg = self._pk_grids(output)
        if not (kg[0] * (1 - 1e-9) <= k <= kg[-1] * (1 + 1e-9)) or not (zg[0] - 1e-9 <= z <= zg[-1] + 1e-9):
            raise NotServed(f"`{key}` emulates {output} for k in [{kg[0]:g}, {kg[-1]:g}]/Mpc, z in "
                            f"[{zg[0]:g}, {zg[-1]:g}]; asked for k = {k:g}, z = {z:g}")
        return self._log_pk(output).at(float(k), float(z))

    def _require_mpk(self, what):
        if not self.request.mPk:
            raise CosmoSevereError(f"No power spectrum computed. In order to get {what} you must add mPk to the "
                                   "list of outputs.")

    def _pk_grids(self, output) -> tuple:
        """``(emulator key, z grid, k grid)`` of an emulated P(k, z) (NotServed where none covers it)."""
        self._output(output)
        key = self.keys[output]
        o = self.emulators[key].outputs[output]
        return key, self.emulators[key].grids[o.axes[0]], self.emulators[key].grids[o.axes[1]]

    def _log_pk(self, output) -> LogPk:
        """The (cached) spline of the emulated ``output`` on its (z, k) grid."""
        f = self._pk.get(output)
        if f is None:
            key, zg, kg = self._pk_grids(output)
            try:
                f = self._pk[output] = LogPk(zg, kg, self._output(output))
            except ValueError as e:  # an emulated P <= 0: the code computes it
                raise NotServed(f"`{key}` {output}: {e}") from None
        return f

    def pk(self, k, z):
        nonlinear = self.request.nonlinear != "none"
        return self._pk_at("pk_nonlin" if nonlinear else "pk_lin", k, z)

    def pk_lin(self, k, z):
        return self._pk_at("pk_lin", k, z)

    def sigma(self, R, z, h_units=False):
        """classy's sigma(R, z) (linear total matter, R in Mpc, or Mpc/h with ``h_units``) from
        the emulated linear P(k, z), where the emulator's k range holds the top hat's integral."""
        self._require_mpk("sigma(R,z)")
        key, zg, kg = self._pk_grids("pk_lin")
        zarr, rarr = np.atleast_1d(z).astype(float), np.atleast_1d(R).astype(float)
        r_mpc = rarr / self.h() if h_units else rarr
        # the integrand k^3 P W^2 must have died out at both ends of the grid
        if r_mpc.min() * kg[-1] < 30.0 or r_mpc.max() * kg[0] > 1e-2:
            raise NotServed(f"`{key}` emulates P(k) for k in [{kg[0]:g}, {kg[-1]:g}]/Mpc: too narrow for "
                            f"sigma(R) at R = {r_mpc.min():g} to {r_mpc.max():g} Mpc")
        if zarr.min() < zg[0] - 1e-9 or zarr.max() > zg[-1] + 1e-9:
            raise NotServed(f"`{key}` emulates pk_lin for z in [{zg[0]:g}, {zg[-1]:g}]; asked for z = {zarr}")
        f = self._log_pk("pk_lin")
        out = np.array([f.sigma(r_mpc, zi, kg) for zi in zarr])
        return float(out[0, 0]) if (np.isscalar(z) and np.isscalar(R)) else np.squeeze(out)

    # -- C_l ------------------------------------------------------------------------------------------
    def cls(self, lensed: bool, lmax: int = -1, nofail: bool = False) -> ClDict:
        r = self.request
        keys = r.cl_keys(lensed)
        if not keys or (lensed and not r.lensing):
            raise CosmoSevereError("No lensed Cl computed" if lensed else "No Cl computed")
        if not lensed and r.lensing and (lmax == -1 or lmax > r.l_max_scalars):
            # CLASS's unlensed C_l then go beyond l_max_scalars, by its precision's delta_l_max
            raise NotServed("with lensing, CLASS's raw_cl reaches beyond l_max_scalars (delta_l_max)")
        if lmax == -1:
            lmax = r.l_max_scalars
        if lmax > r.l_max_scalars:
            if nofail:
                raise NotServed(f"lmax = {lmax} beyond the run's l_max_scalars (CLASS recomputes)")
            raise CosmoSevereError("Can only compute up to lmax=%d" % r.l_max_scalars)
        t_cmb = self._input("T_cmb")
        ell = np.arange(lmax + 1)
        out, missing = ClDict(), []
        for s in keys:  # a spectrum no emulator covers here: the code computes the whole dict
            if f"dl_{s}" in self.unserved:
                self._output(f"dl_{s}")
        for s in keys:
            name = f"dl_{s}"
            if name not in self.values:
                missing.append(s)
                continue
            if not self._lensing_matches(name, lensed):
                # an emulator has this spectrum, the other kind: the code computes the dict (never
                # left out as if no emulator had it, nor a dict holding only C_l^phiphi)
                raise NotServed(f"`{self.keys[name]}` emulates {'unlensed' if lensed else 'lensed'} C_l^{s}; "
                                f"{'lensed_cl' if lensed else 'raw_cl'} asks for the other")
            self._output(name)
            key = self.keys[name]
            emu = self.emulators[key]
            grid = emu.grids[emu.outputs[name].axes[0]].astype(np.int64)
            if grid[0] > 2 or grid[-1] < lmax:
                raise NotServed(f"`{key}` emulates {s} for l in [{grid[0]}, {grid[-1]}]; asked for 2..{lmax}")
            take = grid <= lmax
            cl = np.zeros(lmax + 1)
            cl[grid[take]] = dl_to_cl(np.asarray(self.values[name], float)[take], grid[take], s, t_cmb)
            out[s] = cl
        if len(missing) == len(keys):
            raise NotServed("no emulator provides the " + ("lensed" if lensed else "unlensed") + " C_l")
        if missing and self.missing_cl == "compute":
            raise NotServed(f"no emulator provides C_l^{', C_l^'.join(missing)} (zelos_missing_cl: compute)")
        out["ell"] = ell
        out.missing = tuple(missing)
        return out

    def _lensing_matches(self, name, lensed) -> bool:
        if name == "dl_pp":
            return True
        emu = self.emulators[self.keys[name]]
        return bool(emu.spec["outputs"]["cmb"].get("lensed", True)) == lensed

    # -- derived parameters ----------------------------------------------------------------------------
    DERIVED = CLASSY_DERIVED  # classy's derived-parameter name -> emulator output

    def derived(self, name: str) -> float:
        """One of ``get_current_derived_parameters``'s names, or NotServed."""
        if name == "sigma8":
            return float(self._scalar("sigma8"))
        if name in ("Omega0_lambda", "Omega_Lambda"):
            return float(self._scalar("Omega_Lambda"))
        if name in self.DERIVED:
            return float(self._output(self.DERIVED[name]))
        if name == "h":
            return self.h()
        if name == "H0":
            return 100.0 * self.h()
        if name == "omega_m":
            return float(self._output("omegam")) * self.h() ** 2
        if name == "rs_d_h":
            return float(self._output("rdrag")) * self.h()
        if name in ("100*theta_s", "theta_s_100"):
            return float(self._scalar("theta_s_100"))
        if name in ("A_s", "n_s", "alpha_s"):
            return self._input(name)
        if name in ("ln10^{10}A_s", "ln_A_s_1e10"):
            return math.log(1e10 * self._input("A_s"))
        if name == "tau_reio":
            return float(self._scalar("tau_reio"))
        raise NotServed(f"derived parameter `{name}` is not emulated")
