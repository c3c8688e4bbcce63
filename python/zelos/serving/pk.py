"""The matter power spectrum between the nodes of an emulated (z, k) grid: zelos's P(k, z)
spline (``zelos.interpolate.pk_spline``, bicubic on ln P), for one redshift a cubic in ln k."""

from __future__ import annotations

import math

import numpy as np
from scipy.interpolate import CubicSpline

from ..interpolate import pk_spline


class LogPk:
    """``P(z, k)`` from ``pk[z, k]`` on ``(z_grid, k_grid)``: ``pk_spline`` (cubic in ln k alone
    for a single redshift). Raises ValueError for a P <= 0 (no log)."""

    def __init__(self, z_grid, k_grid, pk):
        z_grid, k_grid = np.asarray(z_grid, float), np.asarray(k_grid, float)
        pk = np.asarray(pk, float)
        if np.any(pk <= 0):
            raise ValueError("P(k) must be positive to interpolate in log")
        self._one = CubicSpline(np.log(k_grid), np.log(pk[0])) if len(z_grid) == 1 else None
        self._spline = None if self._one is not None else pk_spline(z_grid, k_grid, pk)

    def grid(self, z, k) -> np.ndarray:
        """P on the grid ``z`` x ``k``: shape ``(len(z), len(k))``."""
        if self._one is not None:
            lnk = np.log(np.asarray(k, float))
            return np.exp(np.broadcast_to(self._one(lnk), (len(np.atleast_1d(z)), len(lnk))))
        return self._spline(np.asarray(z, float), np.asarray(k, float))

    def at(self, k: float, z: float) -> float:
        """P at one (k, z)."""
        if self._one is not None:
            return float(np.exp(self._one(math.log(k))))
        return float(self._spline(np.array([z], float), np.array([k], float))[0, 0])
