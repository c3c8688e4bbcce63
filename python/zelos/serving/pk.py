"""The matter power spectrum between the nodes of an emulated (z, k) grid: zelos's P(k, z)
spline (``zelos.interpolate.pk_spline``, bicubic on ln P), for one redshift a cubic in ln k."""

from __future__ import annotations

import math

import numpy as np
from scipy.integrate import simpson
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

    def sigma(self, radii, z: float, k_grid) -> np.ndarray:
        """sigma(R) at redshift ``z`` for each radius [Mpc]: the rms of P smoothed with a
        spherical top hat, integrated in ln k over ``k_grid``'s range (the spline between its
        nodes, 16 points per node so that the BAO wiggles are resolved)."""
        k_grid = np.asarray(k_grid, float)
        lnk = np.linspace(math.log(k_grid[0]), math.log(k_grid[-1]), 16 * len(k_grid))
        k = np.exp(lnk)
        integrand = k ** 3 * self.grid([z], k)[0] / (2 * math.pi ** 2)
        out = []
        for r in np.atleast_1d(radii).astype(float):
            w = top_hat(k * r)
            out.append(math.sqrt(simpson(integrand * w * w, x=lnk)))
        return np.array(out)


def top_hat(x: np.ndarray) -> np.ndarray:
    """The Fourier transform of a spherical top hat, 3 (sin x - x cos x) / x^3 (a series for
    small x, where the difference loses every digit)."""
    x = np.asarray(x, float)
    small = x < 1e-2
    xs = np.where(small, 1.0, x)
    exact = 3.0 * (np.sin(xs) - xs * np.cos(xs)) / xs ** 3
    return np.where(small, 1.0 - x * x / 10.0, exact)
