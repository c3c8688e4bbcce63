"""The matter power spectrum between the nodes of an emulated (z, k) grid."""

from __future__ import annotations

import math

import numpy as np
from scipy.interpolate import CubicSpline, RectBivariateSpline


class LogPk:
    """``P(z, k)`` from ``pk[z, k]`` on ``(z_grid, k_grid)``: bicubic in (z, ln k) on ln P
    (cubic in ln k alone for a single redshift). Raises ValueError for a P <= 0 (no log)."""

    def __init__(self, z_grid, k_grid, pk):
        z_grid, k_grid = np.asarray(z_grid, float), np.asarray(k_grid, float)
        pk = np.asarray(pk, float)
        if np.any(pk <= 0):
            raise ValueError("P(k) must be positive to interpolate in log")
        lnp = np.log(pk)
        if len(z_grid) == 1:
            self._one = CubicSpline(np.log(k_grid), lnp[0])
            self._spline = None
        else:
            self._one = None
            self._spline = RectBivariateSpline(z_grid, np.log(k_grid), lnp, kx=min(3, len(z_grid) - 1), ky=3, s=0)

    def grid(self, z, k) -> np.ndarray:
        """P on the grid ``z`` x ``k``: shape ``(len(z), len(k))``."""
        lnk = np.log(np.asarray(k, float))
        if self._spline is None:
            return np.exp(np.broadcast_to(self._one(lnk), (len(np.atleast_1d(z)), len(lnk))))
        return np.exp(self._spline(np.asarray(z, float), lnk, grid=True))

    def at(self, k: float, z: float) -> float:
        """P at one (k, z)."""
        if self._spline is None:
            return float(np.exp(self._one(math.log(k))))
        return float(np.exp(self._spline(z, math.log(k))[0, 0]))
