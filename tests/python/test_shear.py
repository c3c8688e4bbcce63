"""DES Y1 Limber cosmic shear from emulated and CAMB P(k, z) (zelos.build.shear), on the real n(z)."""

import os

import numpy as np
import pytest

import zelos
from zelos.build.shear import limber_cl, read_nz, shear_accuracy

NZ = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "des_y1_nz",
                  "DES_1YR_final_nz_source.dat")
needs_nz = pytest.mark.skipif(not os.path.exists(NZ), reason=f"no DES Y1 n(z) at {NZ} (../shared beside the clone)")


@needs_nz
def test_the_des_y1_source_bins_are_read_and_normalised():
    bins = read_nz(NZ)
    assert bins.nz.shape == (4, len(bins.z))
    dz = np.gradient(bins.z)
    np.testing.assert_allclose((bins.nz * dz).sum(axis=1), 1.0, rtol=1e-3)
    means = (bins.nz * bins.z * dz).sum(axis=1)
    assert np.all(np.diff(means) > 0)  # the bins go out in redshift


def test_limber_cl_is_linear_in_p_and_ordered_by_lensing_depth():
    z = np.linspace(0.01, 2.0, 200)
    chi = 3000.0 * np.log1p(z)  # a smooth, increasing distance (Mpc): the integral does not care
    h_over_c = 1.0 / np.gradient(chi, z)
    k = np.geomspace(1e-4, 100, 300)
    pk = np.outer(1.0 / (1 + z) ** 2, 2e4 * (k / 0.02) / (1 + (k / 0.02) ** 2.5))
    from zelos.build.shear import RedshiftBins

    centres = np.linspace(0.0, 2.0, 101)
    nz = np.array([np.exp(-0.5 * ((centres - m) / 0.1) ** 2) for m in (0.4, 0.9)])
    nz /= (nz * np.gradient(centres)).sum(axis=1, keepdims=True)
    bins = RedshiftBins(z=centres, nz=nz)
    ell = np.geomspace(20, 3000, 12)
    one = limber_cl(ell, chi, z, h_over_c, 0.3, 1 / 3000.0, bins, pk, k)
    two = limber_cl(ell, chi, z, h_over_c, 0.3, 1 / 3000.0, bins, 2 * pk, k)
    np.testing.assert_allclose(two, 2 * one, rtol=1e-12)
    auto_near, cross, auto_far = one
    assert np.all(auto_far > auto_near)  # more lensing for the farther sources
    assert np.all(cross**2 <= auto_near * auto_far * (1 + 1e-12))  # Cauchy-Schwarz


@needs_nz
def test_the_shipped_linear_pk_gives_des_y1_shear_within_three_permille():
    emulator = zelos.get_emulator("CAMB_LCDM_linear_Pk")
    point = dict(zip(emulator.parameters, (emulator.lower + emulator.upper) / 2))
    result = shear_accuracy(emulator, point, read_nz(NZ), ell=np.geomspace(20, 3000, 15))
    assert result["relative_error"].shape == (10, 15)
    assert np.all(result["code"] > 0)
    assert np.abs(result["relative_error"]).max() < 3e-3


@needs_nz
def test_the_notes_matter_power_gives_des_y1_shear_beyond_lcdm():
    """CAMB_linear_matter_power at a w0wa point with massive neutrinos (inside w + wa <= -0.7):
    the DES Y1 shear spectra against CAMB's, within what docs/accuracy.md states."""
    emulator = zelos.get_emulator("CAMB_linear_matter_power")
    point = {"ombh2": 0.0224, "omch2": 0.119, "H0": 67.5, "logA": 3.04, "ns": 0.965, "w": -0.8, "wa": -0.7,
             "mnu": 0.1}
    result = shear_accuracy(emulator, point, read_nz(NZ), ell=np.geomspace(20, 3000, 15))
    assert np.abs(result["relative_error"]).max() < 1.5e-3  # 6 points: worst 6.2e-4 (docs/accuracy.md)
