"""Cobaya requirements and emulator outputs.

A *need* is one requirement a likelihood asked of the theory (``Hubble`` at some z, ``rdrag``,
``Cl``, a ``Pk_grid``...). It knows which emulator outputs can answer it (``plan``), how to turn
emulated outputs into the value Cobaya's getters read from the state (``serve``), how to read the
same value from a fallback Cobaya model (``read``), and how far two such values are apart
(``difference``). State values follow Cobaya's own CAMB interface, so getters behave the same
whichever path computed a point:

- ``Hubble``: H(z) in 1/Mpc (H [km/s/Mpc] / c) at the requested z;
- distances in Mpc at the requested z; ``comoving_radial_distance`` is D_M (flat emulators only);
- ``Cl``: ``{"ell", "tt", "te", "ee", "bb", "pp"}``, dimensionless and *with* the ell factor
  (l(l+1)C_l/2pi; [l(l+1)]^2 C_l^pp/2pi), as CAMB's raw output; the getter converts;
- ``("Pk_grid", nonlinear, var1, var2)``: ``(k [1/Mpc], z ascending, P[z, k] [Mpc^3])``;
- derived parameters: floats.

Derived parameters go by the fallback code's names (after the theory's ``renames``): CAMB's
(``rdrag``, ``omegam``) or CLASS's (``rs_drag``, ``Omega_m``); ``plan_needs`` picks the table.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from scipy.interpolate import CubicSpline

from ..code_inputs import T_CMB_SETTING
from ..drivers import GROWTH  # sigma8_z, fsigma8: no node at z = 0 from H0 below their grid

C_KM_S = 299792.458
T_CMB_DEFAULT = 2.7255

# Requirements at a list of z -> the emulated functions of z that answer them, in preference order.
Z_OUTPUTS = {"Hubble": ("H",), "angular_diameter_distance": ("D_M", "D_A"),
             "comoving_radial_distance": ("D_M", "D_A"), "sigma8_z": ("sigma8_z",), "fsigma8": ("fsigma8",)}
Z_QUANTITIES = tuple(Z_OUTPUTS)
Z_READ_ONLY = ("Omega_b", "Omega_cdm", "Omega_nu_massive")
CL_KEYS = ("Cl", "unlensed_Cl", "lensed_scal_Cl")
# Derived parameter (Cobaya's CAMB name, after renames) -> emulator output.
DERIVED_OUTPUT = {"H0": "H0", "sigma8": "sigma8", "S8": "S8", "rdrag": "rdrag", "thetastar": "thetastar",
                  "zdrag": "zdrag", "zstar": "zstar", "rstar": "rstar", "age": "age", "omegam": "omegam",
                  "omegal": "omegal", "omega_de": "omegal"}

# Derived parameters the code does not provide: what the fallback asks it for instead, and how
# it combines them (the definitions the drivers use, docs/drivers.md).
COMPOSED = {"S8": (("sigma8", "omegam"), lambda sigma8, omegam: sigma8 * np.sqrt(omegam / 0.3))}
CLASS_COMPOSED = {"S8": (("sigma8", "Omega_m"), COMPOSED["S8"][1])}
# Curvature parameters: with one of them varied, the comoving radial distance is not D_M.
CURVATURE = frozenset({"omk", "Omega_k"})


def derived_tables(code: str) -> tuple:
    """(derived name -> emulator output, composed derived parameters) in ``code``'s names."""
    if code == "classy":
        from .classy_names import DERIVED_OUTPUT as CLASS_DERIVED_OUTPUT  # imports classy: not for CAMB

        return CLASS_DERIVED_OUTPUT, CLASS_COMPOSED
    return DERIVED_OUTPUT, COMPOSED


def key_label(key) -> str:
    """A requirement's name in messages and logs (``Pk_grid(linear, delta_tot, delta_tot)``)."""
    if isinstance(key, tuple):
        if key[0] == "Pk_grid":
            return f"Pk_grid({'nonlinear' if key[1] else 'linear'}, {key[2]}, {key[3]})"
        return f"{key[0]}({', '.join(map(str, key[1:]))})"
    return str(key)


def _rel(a, b, scale=None) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape:
        return float("inf")
    s = np.abs(b) if scale is None else scale
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.abs(a - b) / np.where(s > 0, s, np.inf)
    return float(np.max(r)) if r.size else 0.0


def _linear_map(x_nodes, x_out) -> np.ndarray:
    """The matrix W with CubicSpline(x_nodes, y)(x_out) == W @ y (not-a-knot; linear in y)."""
    return CubicSpline(x_nodes, np.eye(len(x_nodes)), axis=0)(x_out)


class Need:
    """One requirement. ``outputs``: emulator outputs it needs; ``candidates``: ``{output: [keys
    of emulators that can serve it here]}``; ``why``: why none can (when ``covered`` is False)."""

    covered = False
    outputs: tuple = ()
    translate = staticmethod(lambda name: name)  # Cobaya name -> the code's name (the `renames` option)
    derived_output, composed = DERIVED_OUTPUT, COMPOSED  # the code's tables (derived_tables)

    def __init__(self, key, options):
        self.key = key
        self.options = options
        self.label = key_label(key)
        self.candidates = {}
        self.why = "no emulator provides it"

    def plan(self, emulators: dict, context) -> None:
        """Fills ``candidates`` (and sets ``covered``) from the loaded emulators."""

    def serve(self, values: dict, keys: dict, emulators: dict, point: dict):
        raise NotImplementedError

    def read(self, provider):
        raise NotImplementedError

    def difference(self, mine, truth) -> float:
        return _rel(mine, truth)

    def log_outputs(self, value) -> dict:
        return {self.label: np.asarray(value, float)}

    def _set(self, output: str, keys: list, why: str) -> None:
        self.outputs = (output,)
        self.candidates = {output: keys}
        self.covered = bool(keys)
        if not keys:
            self.why = why


class ZNeed(Need):
    """``Hubble``, ``angular_diameter_distance``, ``comoving_radial_distance``, ``sigma8_z``,
    ``fsigma8`` at a list of z: a cubic spline through the emulated grid (precomputed as a
    matrix: a few microseconds).

    Below the grid's first redshift the spline of H or a distance takes one more node at z = 0,
    where H = H0 and D_M/z = c/H0, if the point gives H0; growth functions have no such node."""

    def __init__(self, key, options):
        super().__init__(key, options)
        from cobaya.tools import Pool1D

        self.pool = Pool1D(options["z"])
        self.z = np.asarray(self.pool.values, float)
        self._maps = {}

    def plan(self, emulators, context):
        wanted = Z_OUTPUTS[self.key]
        why = f"no emulator emulates {' or '.join(wanted)}"
        extends_below = context.h0_is_input and self.key not in GROWTH
        for output in wanted:
            keys, reasons = [], []
            for k, emu in emulators.items():
                if output not in emu.outputs:
                    continue
                curvature = CURVATURE.intersection(emu.parameters)
                if self.key == "comoving_radial_distance" and curvature:
                    reasons.append(f"`{k}` varies {min(curvature)} (comoving radial distance is not D_M)")
                    continue
                grid = emu.grids[emu.outputs[output].axes[0]]
                lo, hi = grid[0], grid[-1]
                tol = 1e-9 * max(1.0, abs(hi))
                below = self.z.min() < lo - tol
                if self.z.max() > hi + tol or (below and not extends_below):
                    reasons.append(f"`{k}` emulates {output} for z in [{lo:g}, {hi:g}]; requested "
                                   f"[{self.z.min():g}, {self.z.max():g}]"
                                   + (" (below its grid only with H0 an input parameter)"
                                      if below and self.key not in GROWTH else ""))
                    continue
                keys.append(k)
            if keys or any(output in e.outputs for e in emulators.values()):
                return self._set(output, keys, "; ".join(reasons) or why)
        self._set(wanted[0], [], why)

    def _map(self, key, grid, below):
        m = self._maps.get(key)
        if m is None:
            nodes = np.concatenate([[0.0], grid]) if below else grid
            m = self._maps[key] = _linear_map(nodes, self.z)
        return m

    def serve(self, values, keys, emulators, point):
        output = self.outputs[0]
        key = keys[output]
        emu = emulators[key]
        grid = emu.grids[emu.outputs[output].axes[0]]
        y = np.asarray(values[output], float)
        below = self.z.min() < grid[0] - 1e-9 * max(1.0, abs(grid[-1]))
        w = self._map(key, grid, below)
        if output in GROWTH:
            return w @ y
        if output == "H":
            if below:
                y = np.concatenate([[point["H0"]], y])
            return (w @ y) / C_KM_S
        d_m = y if output == "D_M" else y * (1.0 + grid)
        if grid[0] > 0:  # D_M/z is smooth and finite at z = 0 (c/H0): spline it, not D_M
            f = d_m / grid
            if below:
                f = np.concatenate([[C_KM_S / point["H0"]], f])
            d_m = self.z * (w @ f)
        else:
            d_m = w @ d_m
        return d_m / (1.0 + self.z) if self.key == "angular_diameter_distance" else d_m

    def read(self, provider):
        if self.key == "Hubble":
            return np.asarray(provider.get_Hubble(self.z, units="1/Mpc"), float)
        return np.asarray(getattr(provider, f"get_{self.key}")(self.z), float)

    def log_outputs(self, value):
        return {f"{self.label}.z": self.z, self.label: np.asarray(value, float)}


class DerivedNeed(Need):
    """A derived parameter (``rdrag``, ``omegam``...): an emulated scalar."""

    def plan(self, emulators, context):
        output = self.derived_output.get(self.translate(self.key))
        keys = [k for k, e in emulators.items() if output is not None and output in e.outputs]
        self._set(output or self.key, keys, f"no emulator emulates `{self.key}`")

    def serve(self, values, keys, emulators, point):
        return float(values[self.outputs[0]])

    def code_names(self) -> list:
        """The derived parameters the fallback code is asked for to compute this one."""
        name = self.translate(self.key)
        return list(self.composed[name][0]) if name in self.composed else [name]

    def read(self, provider):
        name = self.translate(self.key)
        if name in self.composed:
            inputs, combine = self.composed[name]
            return float(combine(*(provider.get_param(p) for p in inputs)))
        return provider.get_param(name)

    def difference(self, mine, truth):
        return _rel(mine, truth)

    def log_outputs(self, value):
        return {self.label: np.asarray(float(value))}


class Sigma8Need(ZNeed):
    """``sigma8_z``: from an emulated sigma8(z), or at z = 0 alone from an emulated sigma8."""

    def plan(self, emulators, context):
        super().plan(emulators, context)
        if self.covered or not np.all(self.z == 0):
            return
        keys = [k for k, e in emulators.items() if "sigma8" in e.outputs]
        if keys:  # otherwise the reason sigma8_z is not emulated stands
            self._set("sigma8", keys, "")

    def serve(self, values, keys, emulators, point):
        if self.outputs == ("sigma8",):
            return np.array([float(values["sigma8"])])
        return super().serve(values, keys, emulators, point)


class ClNeed(Need):
    """``Cl`` / ``unlensed_Cl``: emulated D_l [muK^2] -> CAMB's raw dimensionless form."""

    def plan(self, emulators, context):
        lensed = self.key == "Cl"
        spectra = {}
        for name, lmax in self.options.items():
            name = name.lower()
            name = {"et": "te"}.get(name, name)
            if name not in ("tt", "te", "ee", "bb", "pp"):
                self.outputs, self.candidates, self.covered = (), {}, False
                self.why = f"spectrum `{name}` is not emulated by zelos"
                return
            spectra[name] = max(spectra.get(name, 0), int(lmax))
        if self.key == "lensed_scal_Cl" or (not lensed and "pp" in spectra):
            self.why = f"`{self.key}` is not emulated by zelos"
            return
        self.spectra = spectra
        self.lmax = max(spectra.values())
        self.outputs = tuple(f"dl_{s}" for s in spectra)
        self.candidates, reasons = {}, []
        for s, lmax in spectra.items():
            keys = []
            for k, emu in emulators.items():
                o = emu.outputs.get(f"dl_{s}")
                if o is None:
                    continue
                cmb = emu.spec["outputs"]["cmb"]
                ell = emu.grids[o.axes[0]]
                if s != "pp" and bool(cmb.get("lensed", True)) != lensed:
                    reasons.append(f"`{k}` emulates {'lensed' if not lensed else 'unlensed'} spectra")
                elif ell[0] > 2 or ell[-1] < lmax:
                    reasons.append(f"`{k}` emulates {s} for l in [{ell[0]:g}, {ell[-1]:g}]; requested 2..{lmax}")
                else:
                    keys.append(k)
            self.candidates[f"dl_{s}"] = keys
        self.covered = all(self.candidates.values())
        if not self.covered:
            missing = [o for o, keys in self.candidates.items() if not keys]
            self.why = "; ".join(reasons) or f"no emulator emulates {', '.join(missing)}"
        self.t_cmb = {k: float((e.spec["code"].get("settings") or {}).get(T_CMB_SETTING[e.spec["code"]["name"]],
                                                                           T_CMB_DEFAULT))
                      for k, e in emulators.items()}

    def serve(self, values, keys, emulators, point):
        n = self.lmax + 1
        cls = {"ell": np.arange(n, dtype=np.int64)}
        for s in ("tt", "ee", "bb", "te", "pp"):
            cls[s] = np.zeros(n)
        for s in self.spectra:
            out = f"dl_{s}"
            emu = emulators[keys[out]]
            ell = emu.grids[emu.outputs[out].axes[0]].astype(np.int64)
            take = ell <= self.lmax
            v = np.asarray(values[out], float)[take]
            if s != "pp":  # muK^2 -> dimensionless, with the T_CMB of the emulator's settings
                v = v / (self.t_cmb[keys[out]] * 1e6) ** 2
            cls[s][ell[take]] = v
        cls["et"] = cls["te"]
        return cls

    def read(self, provider):
        return getattr(provider, f"get_{self.key}")(ell_factor=True, units="1")

    def difference(self, mine, truth):
        worst = 0.0
        for s in getattr(self, "spectra", ("tt", "te", "ee", "bb", "pp")):
            if s not in mine or s not in truth:
                continue
            n = min(len(mine[s]), len(truth[s]), self.lmax + 1 if hasattr(self, "lmax") else len(truth[s]))
            a, b = np.asarray(mine[s][2:n]), np.asarray(truth[s][2:n])
            if s == "te" and "tt" in truth and "ee" in truth:
                scale = np.sqrt(np.abs(truth["tt"][2:n] * truth["ee"][2:n]))
                worst = max(worst, _rel(a, b, scale))
            else:
                worst = max(worst, _rel(a, b))
        return worst

    def log_outputs(self, value):
        return {f"{self.label}.{s}": np.asarray(v, float) for s, v in value.items() if s not in ("ell", "et")}


class PkNeed(Need):
    """``("Pk_grid", nonlinear, var1, var2)``: the emulated P(k, z) on its k grid, at the grid's
    redshifts plus the requested ones (bicubic in (z, ln k) on ln P between grid redshifts)."""

    def plan(self, emulators, context):
        _, nonlinear, v1, v2 = self.key
        output = "pk_nonlin" if nonlinear else "pk_lin"
        self.z = np.asarray(self.options["z"], float)
        extra = {k: v for k, v in self.options.items() if k not in ("z", "k_max", "nonlinear")}
        if (v1, v2) != ("delta_tot", "delta_tot") or extra:
            return self._set(output, [], "zelos emulates the total matter P(k) only"
                             + (f" (requested options {sorted(extra)})" if extra else ""))
        keys, reasons = [], []
        for k, emu in emulators.items():
            o = emu.outputs.get(output)
            if o is None:
                continue
            zg, kg = emu.grids[o.axes[0]], emu.grids[o.axes[1]]
            if self.z.min() < zg[0] - 1e-9 or self.z.max() > zg[-1] + 1e-9:
                reasons.append(f"`{k}` emulates {output} for z in [{zg[0]:g}, {zg[-1]:g}]")
            elif self.options["k_max"] > kg[-1] * (1 + 1e-9):
                reasons.append(f"`{k}` emulates {output} to k = {kg[-1]:g}/Mpc; requested {self.options['k_max']:g}")
            else:
                keys.append(k)
        self._set(output, keys, "; ".join(reasons) or f"no emulator emulates {output}")

    def serve(self, values, keys, emulators, point):
        from ..interpolate import pk_spline

        output = self.outputs[0]
        emu = emulators[keys[output]]
        o = emu.outputs[output]
        zg, kg = emu.grids[o.axes[0]], emu.grids[o.axes[1]]
        pk = np.asarray(values[output], float)
        z_out = np.union1d(zg, self.z)
        if len(z_out) == len(zg):
            return kg.copy(), zg.copy(), pk.copy()
        return kg.copy(), z_out, pk_spline(zg, kg, pk)(z_out, kg)

    def read(self, provider):
        return provider.get_Pk_grid(var_pair=self.key[2:], nonlinear=self.key[1])

    def difference(self, mine, truth):
        k1, z1, p1 = mine
        k2, z2, p2 = truth
        rows1 = [int(np.argmin(np.abs(z1 - z))) for z in z2]
        # compare on the fallback's k values inside the emulated range (log-log interpolation)
        inside = (k2 >= k1[0]) & (k2 <= k1[-1])
        worst = 0.0
        for i, j in enumerate(rows1):
            mine_k = np.exp(np.interp(np.log(k2[inside]), np.log(k1), np.log(p1[j])))
            worst = max(worst, _rel(mine_k, p2[i][inside]))
        return worst

    def log_outputs(self, value):
        k, z, p = value
        return {f"{self.label}.k": k, f"{self.label}.z": z, self.label: p}


class RestNeed(Need):
    """A requirement no emulator can answer: always read from a fallback model."""

    def __init__(self, key, options, why, base: Need | None = None):
        super().__init__(key, options)
        self.why = why
        self.base = base  # the emulator-side need it replaces, whose reading it reuses
        if base is not None and hasattr(base, "pool"):
            self.pool = base.pool
        elif key in Z_READ_ONLY:
            from cobaya.tools import Pool1D

            self.pool = Pool1D(options["z"])
            self.z = np.asarray(self.pool.values, float)
        elif key == "angular_diameter_distance_2":
            from cobaya.tools import Pool2D

            self.pool = Pool2D(options["z_pairs"])

    def read(self, provider):
        if self.base is not None:
            return self.base.read(provider)
        key = self.key
        if key in Z_READ_ONLY:
            return np.asarray(getattr(provider, f"get_{key}")(self.z), float)
        if key == "angular_diameter_distance_2":
            return np.asarray(provider.get_angular_diameter_distance_2(self.pool.values), float)
        if key in CL_KEYS:
            return ClNeed.read(self, provider)
        if isinstance(key, tuple) and key[0] == "Pk_grid":
            return provider.get_Pk_grid(var_pair=key[2:], nonlinear=key[1])
        if isinstance(key, tuple) and key[0] == "sigma_R":
            return provider.get_sigma_R(var_pair=key[1:])
        if key == "source_Cl":
            return provider.get_source_Cl()
        if self.options is None:
            return provider.get_param(self.translate(key))
        return provider.get_result(key)

    def difference(self, mine, truth):
        if self.base is not None:
            return self.base.difference(mine, truth)
        try:
            if isinstance(mine, dict):
                return max((_rel(mine[s], truth[s]) for s in mine if s not in ("ell",) and s in truth), default=0.0)
            if isinstance(mine, tuple):
                return _rel(mine[-1], truth[-1])
            return _rel(mine, truth)
        except (TypeError, ValueError):
            return float("nan")

    def log_outputs(self, value):
        if self.base is not None:
            return self.base.log_outputs(value)
        if isinstance(value, dict):
            return {f"{self.label}.{s}": np.asarray(v, float) for s, v in value.items()
                    if s not in ("ell", "et") and np.ndim(v) >= 0 and not isinstance(s, tuple)}
        if isinstance(value, tuple):
            return {f"{self.label}.{i}": np.asarray(v, float) for i, v in enumerate(value)}
        try:
            return {self.label: np.asarray(value, float)}
        except (TypeError, ValueError):
            return {}


def make_need(key, options) -> Need:
    """The need for one entry of ``BoltzmannBase._must_provide``."""
    if key == "sigma8_z":
        return Sigma8Need(key, options)
    if key in Z_QUANTITIES:
        return ZNeed(key, options)
    if key in ("Cl", "unlensed_Cl"):
        return ClNeed(key, options)
    if isinstance(key, tuple) and key[0] == "Pk_grid":
        return PkNeed(key, options)
    if options is None and not isinstance(key, tuple):
        return DerivedNeed(key, options)
    return RestNeed(key, options, f"`{key_label(key)}` is not emulated by zelos")


def plan_needs(must_provide: dict, emulators: dict, h0_is_input: bool, translate=None, code: str = "camb") -> list:
    """Needs for every requirement, planned against the emulators; uncovered ones become
    :class:`RestNeed` (computed by the fallback code at every point). ``translate`` maps a
    derived parameter's Cobaya name to ``code``'s (the theory's ``renames``)."""
    context = SimpleNamespace(h0_is_input=h0_is_input)
    derived_output, composed = derived_tables(code)
    needs = []
    for key, options in must_provide.items():
        need = make_need(key, options)
        need.derived_output, need.composed = derived_output, composed
        if translate is not None:
            need.translate = translate
        if not isinstance(need, RestNeed):
            need.plan(emulators, context)
            if not need.covered:
                need = RestNeed(key, options, need.why, base=need)
                if translate is not None:
                    need.translate = translate
        needs.append(need)
    return needs
