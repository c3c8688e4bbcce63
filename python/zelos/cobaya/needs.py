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
(``rdrag``, ``omegam``) or CLASS's (``rs_drag``, ``Omega_m``); ``plan_needs`` picks the table
(``zelos.serving.names``). Splines, units and relative differences are the serving layer's
(``zelos.serving``), shared with the MontePython plugin.

Which emulators may serve an output is decided here from the grids (a need's ``candidates``)
and given to the router (:func:`covering`), which ranks only those: a lower-ranked emulator whose
grid covers the request serves it rather than the code.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ..drivers import GROWTH  # sigma8_z, fsigma8: no node at z = 0 from H0 below their grid
from ..physics import C_KM_S
from ..serving import background
from ..serving.cmb import dl_dimensionless, t_cmb_of
from ..serving.compare import relative_error as _rel
from ..serving.compare import te_scale
from ..serving.names import CAMB_COMPOSED, CAMB_DERIVED, derived_tables
from ..serving.pk import LogPk

# Requirements at a list of z -> the emulated functions of z that answer them, in preference order.
Z_OUTPUTS = {"Hubble": ("H",), "angular_diameter_distance": ("D_M", "D_A"),
             "comoving_radial_distance": ("D_M", "D_A"), "sigma8_z": ("sigma8_z",), "fsigma8": ("fsigma8",)}
Z_QUANTITIES = tuple(Z_OUTPUTS)
Z_READ_ONLY = ("Omega_b", "Omega_cdm", "Omega_nu_massive")
CL_KEYS = ("Cl", "unlensed_Cl", "lensed_scal_Cl")
# Curvature parameters: with one of them varied, the comoving radial distance is not D_M.
CURVATURE = frozenset({"omk", "Omega_k"})


def key_label(key) -> str:
    """A requirement's name in messages and logs (``Pk_grid(linear, delta_tot, delta_tot)``)."""
    if isinstance(key, tuple):
        if key[0] == "Pk_grid":
            return f"Pk_grid({'nonlinear' if key[1] else 'linear'}, {key[2]}, {key[3]})"
        return f"{key[0]}({', '.join(map(str, key[1:]))})"
    return str(key)


class Need:
    """One requirement. ``outputs``: emulator outputs it needs; ``candidates``: ``{output: [keys
    of emulators that can serve it here]}``; ``why``: why none can (when ``covered`` is False)."""

    covered = False
    outputs: tuple = ()
    translate = staticmethod(lambda name: name)  # Cobaya name -> the code's name (the `renames` option)
    derived_output, composed = CAMB_DERIVED, CAMB_COMPOSED  # the code's tables (derived_tables)

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
    matrix: a few microseconds; ``zelos.serving.background``).

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
                below = background.below(self.z, grid)
                if background.above(self.z, grid) or (below and not extends_below):
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
            m = self._maps[key] = background.spline_matrix(background.nodes(grid, below), self.z)
        return m

    def serve(self, values, keys, emulators, point):
        output = self.outputs[0]
        key = keys[output]
        emu = emulators[key]
        grid = emu.grids[emu.outputs[output].axes[0]]
        below = background.below(self.z, grid)
        w = self._map(key, grid, below)
        if output in GROWTH:
            return w @ np.asarray(values[output], float)
        h0 = point["H0"] if below else None
        if output == "H":
            return background.hubble(w, values[output], h0, below) / C_KM_S
        d_m = background.transverse_distance(output, values[output], grid, self.z, w, h0, below)
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
        self.t_cmb = {k: t_cmb_of(e) for k, e in emulators.items()}

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
            # muK^2 -> dimensionless, with the T_CMB of the emulator's settings
            cls[s][ell[take]] = dl_dimensionless(np.asarray(values[out], float)[take], s, self.t_cmb[keys[out]])
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
                worst = max(worst, _rel(a, b, te_scale(truth["tt"][2:n], truth["ee"][2:n])))
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
        output = self.outputs[0]
        emu = emulators[keys[output]]
        o = emu.outputs[output]
        zg, kg = emu.grids[o.axes[0]], emu.grids[o.axes[1]]
        pk = np.asarray(values[output], float)
        z_out = np.union1d(zg, self.z)
        if len(z_out) == len(zg):
            return kg.copy(), zg.copy(), pk.copy()
        return kg.copy(), z_out, LogPk(zg, kg, pk).grid(z_out, kg)

    def read(self, provider):
        return provider.get_Pk_grid(var_pair=self.key[2:], nonlinear=self.key[1])

    def difference(self, mine, truth):
        k1, z1, p1 = mine
        k2, z2, p2 = truth
        # the redshifts both have: the fallback's grid may hold more (another requirement's,
        # fsigma8's say, which Cobaya's camb adds to its P(k) redshifts)
        rows = [(i, int(np.argmin(np.abs(z1 - z)))) for i, z in enumerate(z2)]
        rows = [(i, j) for i, j in rows if abs(z1[j] - z2[i]) <= 1e-6 * max(1.0, z2[i])]
        # compare on the fallback's k values inside the emulated range (log-log interpolation)
        inside = (k2 >= k1[0]) & (k2 <= k1[-1])
        worst = 0.0
        for i, j in rows:
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
    derived parameter's Cobaya name to ``code``'s (the theory's ``renames``).

    Two needs of one output (``angular_diameter_distance`` and ``comoving_radial_distance``
    both read D_M) are served by one emulator per point: each keeps the candidates that cover
    both; when none does, the later need is computed by the code (:func:`_share_outputs`)."""
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
                need = _rest(need, need.why, translate)
        needs.append(need)
    return _share_outputs(needs, translate)


def _rest(need: Need, why: str, translate) -> RestNeed:
    rest = RestNeed(need.key, need.options, why, base=need)
    if translate is not None:
        rest.translate = translate
    return rest


def _share_outputs(needs: list, translate) -> list:
    """Narrows each covered need's candidates for an output to those covering every need of it."""
    allowed, first = {}, {}
    out = []
    for need in needs:
        if not isinstance(need, RestNeed):
            clash = [(o, first[o]) for o, keys in need.candidates.items()
                     if o in allowed and not set(keys) & set(allowed[o])]
            if clash:
                o, other = clash[0]
                need = _rest(need, f"the emulators whose {o} covers {other} ({', '.join(allowed[o])}) do not cover "
                             f"{need.label} ({', '.join(need.candidates[o])})", translate)
            else:
                for o, keys in need.candidates.items():
                    allowed[o] = [k for k in allowed[o] if k in keys] if o in allowed else list(keys)
                    first.setdefault(o, need.label)
        out.append(need)
    for need in out:
        if not isinstance(need, RestNeed):
            need.candidates = {o: list(allowed[o]) for o in need.candidates}
    return out


def covering(needs: list) -> dict:
    """``{output: keys}``: for each output the covered needs read, the emulators whose grids
    cover every request of it. The router ranks only these (``Router.evaluate(covering=...)``),
    so the decision which emulator serves a point is the router's alone."""
    out = {}
    for need in needs:
        if not isinstance(need, RestNeed):
            for o, keys in need.candidates.items():
                out[o] = list(keys)
    return out
