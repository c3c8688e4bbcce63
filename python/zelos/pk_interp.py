"""P(k, z) between the emulated grid points, as matrices: what lets JAX differentiate it.

:meth:`zelos.Emulator.pk` interpolates ln P with a bicubic spline in (z, ln k)
(:func:`zelos.interpolate.pk_spline`: scipy's ``RectBivariateSpline``, ``s=0``, in ln(1 + z) and ln k). For fixed grids and
fixed query points that spline is *linear* in the gridded values, and it is a tensor product, so

    ln P(z_q, k_q) = A_z @ ln P_grid @ A_k.T

with ``A_z`` (n_zq x n_z) and ``A_k`` (n_kq x n_k) depending on the grids and the queries only.
They are computed here, once per query, with the same scipy routine (a spline through the
columns of an identity matrix along one axis, and a degree-1 spline through the nodes of a dummy
axis along the other, which reproduces them exactly), and cached by the bytes of the arrays.
:mod:`zelos.jax` then evaluates ``exp(A_z @ log(P_grid(params)) @ A_k.T)``: differentiable in the
parameters, jit-able, with k and z fixed (concrete) numbers.

For ``k_hunit=True`` the query in 1/Mpc is ``k h``, and h may be a parameter being differentiated:
:func:`k_pieces` gives the k spline as one cubic polynomial per knot interval (again linear in the
gridded values), which JAX evaluates at traced positions.

This module needs numpy only (scipy when a matrix is first computed); JAX is imported by
:func:`jax_function` alone, and :func:`traced` looks for JAX tracers only when JAX is already
imported.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from ._zelos import ParameterError, ZelosError

__all__ = ["Query", "query", "z_matrix", "k_matrix", "k_pieces", "traced", "hubble_h", "numpy_pk",
           "jax_function", "check_k_hunit"]

_MAX_CACHED = 256
_cache: "OrderedDict[tuple, object]" = OrderedDict()
_lock = threading.Lock()


def _cached(key: tuple, make):
    """``make()``, remembered under ``key`` (least recently used first out)."""
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    value = make()
    with _lock:
        _cache[key] = value
        while len(_cache) > _MAX_CACHED:
            _cache.popitem(last=False)
    return value


def _key(*arrays) -> tuple:
    return tuple((a.shape, a.tobytes()) for a in arrays)


def _on_sorted(values: np.ndarray, evaluate) -> np.ndarray:
    """``evaluate(sorted unique values)`` (rows over them), rows put back in ``values``' order:
    scipy's grid evaluation wants strictly increasing points, queries need not be."""
    if values.size < 2 or (values[1:] > values[:-1]).all():
        return evaluate(values)
    unique, inverse = np.unique(values, return_inverse=True)
    return evaluate(unique)[inverse.reshape(-1)]


# -- the matrices -------------------------------------------------------------------------------------
def z_matrix(z_grid, z) -> np.ndarray:
    """``A_z`` (len(z) x len(z_grid)): the spline in z of :func:`zelos.interpolate.pk_spline`
    (degree ``min(3, len(z_grid) - 1)``, ``s=0``) at ``z``, as a matrix on the grid values."""
    z_grid, z = np.ascontiguousarray(z_grid, float), np.ascontiguousarray(z, float)
    return _cached(("z",) + _key(z_grid, z), lambda: _z_matrix(z_grid, z))


def _z_matrix(z_grid, z):
    from scipy.interpolate import RectBivariateSpline

    from .interpolate import z_axis

    n = len(z_grid)
    nodes = np.arange(n, dtype=float)  # a dummy axis: a degree-1 spline returns each column exactly
    spline = RectBivariateSpline(z_axis(z_grid), nodes, np.eye(n), kx=min(3, n - 1), ky=1, s=0)
    matrix = _on_sorted(z, lambda zs: spline(z_axis(zs), nodes, grid=True))
    matrix.setflags(write=False)
    return matrix


def k_matrix(k_grid, k) -> np.ndarray:
    """``A_k`` (len(k) x len(k_grid)): the cubic spline in ln k of
    :func:`zelos.interpolate.pk_spline` at ``k`` [the grid's units], as a matrix on the grid values."""
    k_grid, k = np.ascontiguousarray(k_grid, float), np.ascontiguousarray(k, float)
    return _cached(("k",) + _key(k_grid, k), lambda: _k_matrix(k_grid, k))


def _k_spline(k_grid):
    """A spline whose row j, on a dummy first axis, is the ln k spline through the j-th unit vector."""
    from scipy.interpolate import RectBivariateSpline

    n = len(k_grid)
    nodes = np.arange(n, dtype=float)
    return nodes, RectBivariateSpline(nodes, np.log(k_grid), np.eye(n), kx=1, ky=3, s=0)


def _k_matrix(k_grid, k):
    nodes, spline = _k_spline(k_grid)
    matrix = _on_sorted(np.log(k), lambda lnk: spline(nodes, lnk, grid=True).T)
    matrix.setflags(write=False)
    return matrix


@dataclass(frozen=True)
class KPieces:
    """The ln k spline as a cubic per knot interval: on ``[breaks[i], breaks[i + 1]]``,
    ``ln P(ln k) = sum_m (u^m coeffs[i, m]) @ ln P_grid`` with ``u = (ln k - breaks[i]) / widths[i]``."""

    breaks: np.ndarray  # (n_intervals + 1,) in ln k
    widths: np.ndarray  # (n_intervals,)
    coeffs: np.ndarray  # (n_intervals, 4, n_k)


def k_pieces(k_grid) -> KPieces:
    """The ln k spline of :func:`zelos.interpolate.pk_spline` as piecewise cubics (:class:`KPieces`),
    to evaluate at positions only known inside JAX (k in h/Mpc times a traced h)."""
    k_grid = np.ascontiguousarray(k_grid, float)
    return _cached(("pieces",) + _key(k_grid), lambda: _k_pieces(k_grid))


def _k_pieces(k_grid):
    nodes, spline = _k_spline(k_grid)
    _, knots = spline.get_knots()
    breaks = np.unique(knots)
    widths = np.diff(breaks)
    # Each piece from its values at four points across it (the ends included: the spline is
    # continuous there), in u = (ln k - left) / width on [0, 1], where the Vandermonde is tame.
    u = np.array([0.0, 1 / 3, 2 / 3, 1.0])
    points = breaks[:-1, None] + widths[:, None] * u[None, :]  # (n_intervals, 4)
    # grid=True wants increasing points: the interval ends repeat, so evaluate interval by interval.
    values = np.stack([spline(nodes, p, grid=True).T for p in points])  # (n_intervals, 4, n_k)
    vander = u[:, None] ** np.arange(4)[None, :]  # rows: points, columns: powers
    coeffs = np.linalg.solve(vander[None, :, :], values)  # (n_intervals, 4 powers, n_k)
    for a in (breaks, widths, coeffs):
        a.setflags(write=False)
    return KPieces(breaks, widths, coeffs)


# -- what a P(k, z) call asks for -----------------------------------------------------------------------
@dataclass(frozen=True)
class Query:
    """A checked P(k, z) request: the output, its grids, the (1-D) queries and their shapes."""

    output: str
    z_grid: np.ndarray
    k_grid: np.ndarray
    k: np.ndarray
    z: np.ndarray
    scalar_k: bool
    scalar_z: bool
    k_hunit: bool
    #: ``A_z`` and ``A_k``, remembered with the (cached) query: a loop over a chain's points asks
    #: for the same k and z each time and then finds them here, without hashing the arrays again
    matrices: dict = field(default_factory=dict, compare=False, repr=False)

    def squeeze(self, values):
        """(..., len(z), len(k)) -> drops the z axis for a scalar z, the k axis for a scalar k."""
        if self.scalar_k:
            values = values[..., 0]
        if self.scalar_z:
            values = values[..., 0, :] if not self.scalar_k else values[..., 0]
        return values


def pk_output(name: str, outputs, nonlinear) -> str:
    """``pk_lin`` or ``pk_nonlin``, as ``nonlinear`` asks (None: the one there is, linear first)."""
    available = [n for n in ("pk_lin", "pk_nonlin") if n in outputs]
    if not available:
        raise ParameterError(f"{name} emulates no matter power spectrum (outputs: {', '.join(outputs)})")
    if nonlinear is None:
        return available[0]
    wanted = "pk_nonlin" if nonlinear else "pk_lin"
    if wanted not in outputs:
        raise ParameterError(f"{name} does not emulate `{wanted}`; it has {', '.join(available)}")
    return wanted


def query(name: str, axes: Mapping, grids: Mapping, k, z, nonlinear, k_hunit: bool) -> Query:
    """Checks a P(k, z) request against an emulator's outputs (``axes``: ``{output: axis names}``)
    and grids; ``k`` is checked against the grid here unless ``k_hunit`` (then it needs h first).

    float64 arrays for k and z (the common case in a loop over parameters) are checked once and
    remembered by their bytes, with the grids': a repeated request costs a dictionary lookup."""
    output = pk_output(name, axes, nonlinear)
    if type(k) is np.ndarray and type(z) is np.ndarray and k.dtype == np.float64 and z.dtype == np.float64:
        z_axis, k_axis = axes[output]
        z_grid, k_grid = np.asarray(grids[z_axis], float), np.asarray(grids[k_axis], float)
        key = ("query", name, output, bool(k_hunit)) + _key(z_grid, k_grid, k, z)
        return _cached(key, lambda: _checked_query(name, output, axes[output][1], z_grid, k_grid, k.copy(), z.copy(),
                                                   k_hunit))
    return _checked_query(name, output, axes[output][1], np.asarray(grids[axes[output][0]], float),
                          np.asarray(grids[axes[output][1]], float), k, z, k_hunit)


def _checked_query(name: str, output: str, k_axis: str, z_grid, k_grid, k, z, k_hunit: bool) -> Query:
    from .emulator import _check_inside, _real_array

    if len(z_grid) < 2:
        raise ParameterError(
            f"{name}: `{output}` is emulated at one redshift only ({z_grid[0]:g}; imported CosmoPower "
            f"networks take z as a parameter), so there is nothing to interpolate in z; call the "
            f"emulator itself: emulator(params)['{output}'] on the k grid `{k_axis}`")
    for axis, values in (("k", k), ("z", z)):
        if traced(values):
            raise ParameterError(
                f"{name}: `{axis}` is a traced JAX value; P(k, z) needs concrete k and z (numbers, lists or "
                "arrays known before tracing: the interpolation matrices are computed from them outside "
                "JAX). Close over k and z, or mark them static in jax.jit; differentiate with respect to "
                "the parameters only")
    k = _real_array(k, lambda index: "k", name)
    z = _real_array(z, lambda index: "z", name)
    scalar_k, scalar_z = k.ndim == 0, z.ndim == 0
    k, z = np.atleast_1d(k), np.atleast_1d(z)
    for axis, values in (("k", k), ("z", z)):
        if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
            raise ParameterError(f"{name}: `{axis}` must be a number or a 1-D list of finite numbers")
    if not k_hunit:
        _check_inside("k", k, k_grid)
    _check_inside("z", z, z_grid)
    return Query(output, z_grid, k_grid, k, z, scalar_k, scalar_z, bool(k_hunit))


def check_k_hunit(q: Query, h) -> None:
    """Raises ParameterError when some ``k h`` (``h`` concrete, any shape) falls off the k grid."""
    h = np.asarray(h, float).reshape(-1)
    if not np.all(np.isfinite(h)) or np.any(h <= 0):
        raise ParameterError(f"k_hunit=True: h = {h[~np.isfinite(h) | (h <= 0)][0]!r} is not a positive number")
    lo, hi = q.k_grid[0], q.k_grid[-1]
    tol = 1e-10 * max(abs(lo), abs(hi), 1.0)
    kmin, kmax = q.k.min() * h.min(), q.k.max() * h.max()
    if kmin < lo - tol or kmax > hi + tol:
        raise ParameterError(
            f"`k` [h/Mpc] times h must lie in the emulated range [{lo:g}, {hi:g}] 1/Mpc, i.e. k in "
            f"[{lo / h.max():g}, {hi / h.min():g}] h/Mpc for h in [{h.min():g}, {h.max():g}]; got k in "
            f"[{q.k.min():g}, {q.k.max():g}] h/Mpc")


# -- h ---------------------------------------------------------------------------------------------------
def hubble_h(name: str, parameters, outputs, column, output_value):
    """h for ``k_hunit``: from the parameter ``H0`` (or ``h``), else from an emulated ``H0`` (or ``h``)
    output. ``column(i)`` gives the i-th parameter's values, ``output_value(name)`` an output's."""
    for p, scale in (("H0", 0.01), ("h", 1.0)):
        if p in parameters:
            return column(list(parameters).index(p)) * scale
    for o, scale in (("H0", 0.01), ("h", 1.0)):
        if o in outputs:
            return output_value(o) * scale
    raise ParameterError(
        f"{name}: k_hunit=True needs h, which is unknown here: the emulator takes neither `H0` nor `h` as a "
        f"parameter (it takes {', '.join(parameters)}) and emulates neither as an output (it has "
        f"{', '.join(outputs)}); pass k in 1/Mpc (k_hunit=False) and convert with your own h")


# -- the numpy path ----------------------------------------------------------------------------------------
def numpy_pk(q: Query, out: dict, params, name: str, parameters) -> np.ndarray:
    """P(k, z) from the emulated grid in ``out`` (numpy; ``params`` as given, already checked by
    the evaluation that made ``out``): :func:`zelos.interpolate.pk_spline` at the queries (in any
    order), as the cached matrices (:func:`matrix_pk`) for k in 1/Mpc; with ``k_hunit`` each
    point's k h differs, so a spline is fitted per point."""
    from .interpolate import pk_spline

    values = out[q.output]
    if not q.k_hunit:
        return q.squeeze(matrix_pk(q, values))
    batched = values.ndim == 3
    grids = values if batched else values[None]

    def column(i):
        if isinstance(params, Mapping):
            return np.asarray(params[parameters[i]], dtype=float)
        return np.asarray(params, dtype=float)[..., i]

    h = hubble_h(name, parameters, out, column, lambda o: np.asarray(out[o], float))
    check_k_hunit(q, h)
    h = np.broadcast_to(np.asarray(h, float), (len(grids),))
    rows = []
    for i, grid in enumerate(grids):
        spline = pk_spline(q.z_grid, q.k_grid, grid)
        k = q.k * h[i]
        by_z = _on_sorted(q.z, lambda zs: _on_sorted(k, lambda ks: spline(zs, ks).T).T)
        rows.append(by_z * h[i] ** 3)
    result = np.stack(rows) if batched else rows[0]
    return q.squeeze(result)


def matrix_pk(q: Query, values: np.ndarray) -> np.ndarray:
    """``exp(A_z @ ln P_grid @ A_k.T)`` with the cached matrices of the queries: the same spline as
    :func:`zelos.interpolate.pk_spline` (to rounding), without fitting one per call. The product
    is taken in the cheaper order: on a 200 k x 30 z query of a 18 x 200 grid, k first costs a
    third of z first."""
    if not q.matrices:
        q.matrices.update(z=z_matrix(q.z_grid, q.z), k=k_matrix(q.k_grid, q.k))
    a_z, a_k = q.matrices["z"], q.matrices["k"]
    ln_p = np.log(values)
    n_zg, n_kg = ln_p.shape[-2:]
    n_zq, n_kq = len(a_z), len(a_k)
    lead = ln_p.shape[:-2]
    if n_zg * n_kg * n_kq + n_zq * n_zg * n_kq <= n_zq * n_zg * n_kg + n_zq * n_kg * n_kq:
        # k first, as one product over every (point, z node) row: a batch is one large GEMM.
        by_k = (ln_p.reshape(-1, n_kg) @ a_k.T).reshape(*lead, n_zg, n_kq)
        return np.exp(a_z @ by_k)
    return np.exp((a_z @ ln_p) @ a_k.T)


# -- JAX ---------------------------------------------------------------------------------------------------
def traced(*values) -> bool:
    """Whether any value (or a dict's value, or a list's element) is a JAX tracer: only looked for
    when JAX is already imported (this never imports it)."""
    jax = sys.modules.get("jax")
    tracer = getattr(getattr(jax, "core", None), "Tracer", None)
    if tracer is None:
        return False
    for value in values:
        if isinstance(value, Mapping):
            value = list(value.values())
        if isinstance(value, tracer):
            return True
        if isinstance(value, (list, tuple)):
            for v in value:
                if isinstance(v, tracer) or (isinstance(v, (list, tuple)) and any(isinstance(w, tracer) for w in v)):
                    return True
    return False


def jax_function(emulator):
    """The :mod:`zelos.jax` function of ``emulator``'s archive (built from the same verified path),
    cached on the emulator, one per setting of ``jax_enable_x64``."""
    import jax

    cache = emulator.__dict__.setdefault("_jax_functions", {})
    key = bool(jax.config.jax_enable_x64)
    f = cache.get(key)
    if f is None:
        from . import jax as zjax

        f = zjax.load(emulator.path)
        if f.sha256 != emulator.sha256:
            raise ZelosError(f"{emulator.path}: the archive changed since it was loaded (sha256 {f.sha256}, "
                             f"loaded {emulator.sha256}); load it again")
        cache[key] = f
    return f
