"""Interpolation of emulated grids (P(k, z))."""

from __future__ import annotations

import numpy as np
from scipy.interpolate import RectBivariateSpline


class _LogPkSpline:
    def __init__(self, z_grid, k_grid, pk):
        pk = np.asarray(pk, dtype=float)
        if np.any(pk <= 0):
            raise ValueError("P(k) must be positive to interpolate in log")
        kz = min(3, len(z_grid) - 1)
        self._spline = RectBivariateSpline(z_grid, np.log(k_grid), np.log(pk), kx=kz, ky=3, s=0)

    def __call__(self, z, k):
        return np.exp(self._spline(np.asarray(z, float), np.log(np.asarray(k, float)), grid=True))


def pk_spline(z_grid, k_grid, pk):
    """A callable ``(z, k) -> P`` with shape ``(len(z), len(k))``: bicubic in (z, ln k) on ln P."""
    return _LogPkSpline(np.asarray(z_grid, float), np.asarray(k_grid, float), pk)
