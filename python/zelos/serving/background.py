"""H(z) and D_M(z) at any redshift from an emulated grid: a cubic spline (not-a-knot) through
the grid, precomputed as a matrix W with ``CubicSpline(nodes, y)(z) == W @ y`` (linear in y: a
few microseconds per call).

Below the grid's first redshift the spline takes one more node at z = 0 when H0 is known:
H(0) = H0, and for distances D_M/z, smooth and finite at z = 0 where it is c/H0 (so distances
are splined as D_M/z, not D_M). Growth functions (sigma8(z), f sigma8(z)) have no such node.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
from scipy.interpolate import CubicSpline

from ..physics import C_KM_S


def spline_matrix(nodes: np.ndarray, z: np.ndarray) -> np.ndarray:
    """The matrix W with CubicSpline(nodes, y)(z) == W @ y (not-a-knot; linear in y)."""
    return CubicSpline(nodes, np.eye(len(nodes)), axis=0)(z)


class SplineMaps:
    """Spline matrices kept for the (emulator, output, z array) a run asks for again and again
    (least recently used dropped beyond ``size``)."""

    def __init__(self, size: int = 256):
        self.size = size
        self._maps = OrderedDict()

    def get(self, key, nodes: np.ndarray, z: np.ndarray) -> np.ndarray:
        full = key + (z.tobytes(),)
        w = self._maps.get(full)
        if w is None:
            w = self._maps[full] = spline_matrix(nodes, z)
            if len(self._maps) > self.size:
                self._maps.popitem(last=False)
        else:
            self._maps.move_to_end(full)
        return w


def tolerance(grid) -> float:
    """How far outside ``grid`` a redshift may be and still count as on it (round-off)."""
    return 1e-9 * max(1.0, abs(grid[-1]))


def below(z: np.ndarray, grid) -> bool:
    """Whether some of ``z`` lie below the grid's first redshift (the z = 0 node is needed)."""
    return bool(z.min() < grid[0] - tolerance(grid))


def above(z: np.ndarray, grid) -> bool:
    """Whether some of ``z`` lie beyond the grid's last redshift (no spline reaches there)."""
    return bool(z.max() > grid[-1] + tolerance(grid))


def nodes(grid, with_zero: bool) -> np.ndarray:
    """The spline's nodes: the grid, after a z = 0 node when ``with_zero``."""
    return np.concatenate([[0.0], grid]) if with_zero else grid


def hubble(w: np.ndarray, h: np.ndarray, h0: float | None, with_zero: bool) -> np.ndarray:
    """H [km/s/Mpc] at the spline's redshifts from H on the grid (``h``), with H(0) = ``h0``."""
    y = np.asarray(h, float)
    if with_zero:
        y = np.concatenate([[h0], y])
    return w @ y


def transverse_distance(output: str, values, grid, z: np.ndarray, w: np.ndarray, h0: float | None,
                        with_zero: bool) -> np.ndarray:
    """D_M [Mpc] at ``z`` from an emulated ``D_M`` or ``D_A`` on ``grid`` (``w``: the spline
    matrix from :func:`nodes` to ``z``); the z = 0 node of D_M/z is c/``h0``."""
    y = np.asarray(values, float)
    d_m = y if output == "D_M" else y * (1.0 + grid)
    if grid[0] > 0:  # D_M/z is smooth and finite at z = 0 (c/H0): spline it, not D_M
        f = d_m / grid
        if with_zero:
            f = np.concatenate([[C_KM_S / h0], f])
        return z * (w @ f)
    return w @ d_m
