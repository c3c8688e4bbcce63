"""What weak-lensing users look at: Limber cosmic-shear C_ell from an emulated P(k, z) and from the code's.

For source bins with redshift distributions n_i(z) (the DES Y1 ones in ../shared/data/des_y1_nz),
the shear power in the Limber approximation is

    C_ell^ij = int dchi q_i(chi) q_j(chi) / chi^2 P(k = (ell + 1/2) / chi, z(chi)),
    q_i(chi) = 3/2 Omega_m (H0/c)^2 chi / a(chi) int_chi^inf dchi' n_i(chi') (chi' - chi) / chi'.

Both sides use the same background (CAMB's, at the point), the same redshift and k grids and the
same integration, so the difference between the two C_ell is the emulator's P(k, z) error as a
shear survey sees it, through every redshift and scale the kernels weight. Where
(ell + 1/2) / chi is beyond the emulator's k range (only at chi of a few tens of Mpc, where the
kernels vanish) the integrand is left out on both sides.

    >>> nz = read_nz("../shared/data/des_y1_nz/DES_1YR_final_nz_source.dat")     # doctest: +SKIP
    >>> result = shear_accuracy("CAMB_linear_matter_power", point, nz)             # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..drivers import OutputRequest, get_driver
from ..physics import C_KM_S


@dataclass(frozen=True)
class RedshiftBins:
    """Histograms of n(z): ``z`` (bin centres), ``nz`` (n_bins, len(z)), each normalised to 1."""

    z: np.ndarray
    nz: np.ndarray


def read_nz(path: str) -> RedshiftBins:
    """A CosmoMC/Cobaya n(z) table (columns z_low z_mid z_high, then one per bin), normalised."""
    table = np.loadtxt(path)
    if table.ndim != 2 or table.shape[1] < 4:
        raise ValueError(f"{path}: expected columns z_low z_mid z_high and at least one n(z) column, "
                         f"found {table.shape[-1] if table.ndim == 2 else 0} columns")
    z, dz, nz = table[:, 1], table[:, 2] - table[:, 0], table[:, 3:].T
    nz = nz / (nz * dz).sum(axis=1, keepdims=True)
    return RedshiftBins(z=z, nz=nz)


def limber_cl(ell, chi, z, h_over_c, omega_m, h0_over_c, bins: RedshiftBins, pk_on_grid, k_grid) -> np.ndarray:
    """C_ell^ij for every pair i <= j, shape (n_pairs, len(ell)), from P on (z, k_grid).

    ``chi`` [Mpc] and ``h_over_c`` = H(z)/c [1/Mpc] at the integration redshifts ``z``;
    ``pk_on_grid`` [Mpc^3] has shape (len(z), len(k_grid)); P at (ell + 1/2)/chi is interpolated
    linearly in (ln k, ln P) per redshift, left out beyond ``k_grid``."""
    # n(chi) dchi = n(z) dz, on the integration grid
    n_chi = np.array([np.interp(z, bins.z, n, left=0.0, right=0.0) for n in bins.nz]) * h_over_c
    a = 1.0 / (1.0 + z)
    # q_i(chi_m) = prefactor chi_m / a_m int_{chi > chi_m} n_i(chi) (1 - chi_m / chi) dchi (trapezoid)
    w = _trapezoid_weights(chi)
    ratio = 1.0 - chi[:, None] / chi[None, :]  # (m, l)
    ratio[ratio < 0] = 0.0
    q = (n_chi * w) @ ratio.T  # (bins, m)
    q *= 1.5 * omega_m * h0_over_c**2 * chi / a
    ell = np.asarray(ell, float)
    k = (ell[None, :] + 0.5) / chi[:, None]  # (m, ell)
    lnk, lnp = np.log(k_grid), np.log(pk_on_grid)
    p = np.empty_like(k)
    for m in range(len(z)):
        p[m] = np.exp(np.interp(np.log(k[m]), lnk, lnp[m]))
    p[(k < k_grid[0]) | (k > k_grid[-1])] = 0.0
    pairs = [(i, j) for i in range(len(bins.nz)) for j in range(i, len(bins.nz))]
    kernel = (w / chi**2)[:, None] * p  # (m, ell)
    return np.array([(q[i] * q[j]) @ kernel for i, j in pairs])


def _trapezoid_weights(x: np.ndarray) -> np.ndarray:
    w = np.zeros_like(x)
    dx = np.diff(x)
    w[:-1] += dx / 2
    w[1:] += dx / 2
    return w


def shear_accuracy(archive, point, bins: RedshiftBins, ell=None, z=None, nonlinear: bool = False) -> dict:
    """C_ell^ij from the emulator's P(k, z) and from the code's at ``point`` (a dict or a row in
    the emulator's parameter order), for every bin pair: ``{"ell", "pairs", "emulated", "code",
    "relative_error"}`` (arrays of shape (n_pairs, len(ell)))."""
    import camb

    from .. import get_emulator

    emulator = get_emulator(archive) if isinstance(archive, (str, os.PathLike)) else archive
    params = point if isinstance(point, dict) else dict(zip(emulator.parameters, np.asarray(point, float)))
    ell = np.geomspace(20, 3000, 40) if ell is None else np.asarray(ell, float)
    z_max = min(float(bins.z[-1]), float(emulator.grids["z_pk"][-1]))
    z = np.linspace(0.01, z_max, 120) if z is None else np.asarray(z, float)
    k_grid = np.asarray(emulator.grids["k"], float)
    code = emulator.spec["code"]
    output = "pk_nonlin" if nonlinear else "pk_lin"
    request = OutputRequest(pk_linear=not nonlinear, pk_nonlinear=nonlinear, k=k_grid, z_pk=z)
    driver = get_driver(code["name"], code.get("settings", {}), request, version=code.get("version"), threads=1)
    truth_pk = driver.compute(params)[output]
    ours_pk = emulator.pk(params, k_grid, z, nonlinear=nonlinear)

    background = camb.get_background(camb.set_params(**driver.camb_kwargs(params)))
    chi = background.comoving_radial_distance(z)
    h_over_c = background.hubble_parameter(z) / C_KM_S
    h0_over_c = background.Params.H0 / C_KM_S
    omega_m = background.get_Omega("cdm", 0) + background.get_Omega("baryon", 0) + background.get_Omega("nu", 0)
    args = (ell, chi, z, h_over_c, omega_m, h0_over_c, bins)
    ours = limber_cl(*args, ours_pk, k_grid)
    truth = limber_cl(*args, truth_pk, k_grid)
    n = len(bins.nz)
    return {"ell": ell, "pairs": [(i + 1, j + 1) for i in range(n) for j in range(i, n)], "emulated": ours,
            "code": truth, "relative_error": ours / truth - 1.0}


def plot(results: list, path: str, title: str = "emulated P(k, z)") -> None:
    """One panel per bin pair (a triangle), |relative error| of C_ell against ell at every point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = results[0]["pairs"]
    n = max(j for _, j in pairs)
    fig, axes = plt.subplots(n, n, figsize=(2.6 * n, 2.2 * n), sharex=True, sharey=True)
    for ax in axes.flat:
        ax.set_visible(False)
    for p, (i, j) in enumerate(pairs):
        ax = axes[j - 1, i - 1]
        ax.set_visible(True)
        for r in results:
            ax.plot(r["ell"], np.abs(r["relative_error"][p]), color="C0", alpha=0.4, lw=0.8)
        ax.axhline(3e-3, color="C3", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.text(0.05, 0.85, f"{i}-{j}", transform=ax.transAxes)
        if j == n:
            ax.set_xlabel(r"$\ell$")
        if i == 1:
            ax.set_ylabel(r"$|\Delta C_\ell / C_\ell|$")
    fig.suptitle(f"DES Y1 cosmic shear (Limber): {title} against CAMB, {len(results)} points; dashed: 0.3%")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
