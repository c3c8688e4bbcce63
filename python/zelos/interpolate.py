"""Interpolation of emulated grids (P(k, z)).

P(k, z) is splined in ln(1 + z), not z: growth makes ln P close to linear in ln(1 + z) (exactly,
in matter domination), so a cubic in that variable follows it far better between sparse
high-redshift nodes (measured on CAMB_LCDM_linear_Pk between its nodes 3 and 5: 6e-3 in z,
see docs/accuracy.md for the figure in ln(1 + z)).
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import RectBivariateSpline


class _LogPkSpline:
    def __init__(self, z_grid, k_grid, pk):
        pk = np.asarray(pk, dtype=float)
        if np.any(pk <= 0):
            raise ValueError("P(k) must be positive to interpolate in log")
        kz = min(3, len(z_grid) - 1)
        self._spline = RectBivariateSpline(z_axis(z_grid), np.log(k_grid), np.log(pk), kx=kz, ky=3, s=0)

    def __call__(self, z, k):
        return np.exp(self._spline(z_axis(z), np.log(np.asarray(k, float)), grid=True))


def z_axis(z) -> np.ndarray:
    """The variable P(k, z) is splined in: ln(1 + z)."""
    return np.log1p(np.asarray(z, dtype=float))


def pk_spline(z_grid, k_grid, pk):
    """A callable ``(z, k) -> P`` with shape ``(len(z), len(k))``: bicubic in (ln(1 + z), ln k) on ln P."""
    return _LogPkSpline(np.asarray(z_grid, float), np.asarray(k_grid, float), pk)
