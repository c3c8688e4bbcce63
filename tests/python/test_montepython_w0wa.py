"""MontePython with ``zelos_emulators: all`` at w0wa points (real CAMB 2.0.5, the shipped emulators).

MontePython never says which outputs its likelihoods read, so the plugin serves each output from
the emulator that covers the point and leaves to CAMB what none covers (the growth and P(k)
emulators hold w = -1, wa = 0): a BAO run varying ``w0_fld``, ``wa_fld`` is emulated by
``CAMB_extended_background``; a run that also reads ``sigma8`` at such a point gets CAMB's, and
the point counts as computed. The likelihoods are MontePython's ``bao_boss_dr12`` and
``bao_smallz_2014`` as they read the cosmology (their accessors and formulas; the data's values
with diagonal errors), driven by MontePython's per-point call pattern.
"""

import logging

import numpy as np
import pytest

camb = pytest.importorskip("camb")

import zelos  # noqa: E402
import zelos.montepython as zmp  # noqa: E402

C = 299792.458
NU = {"N_ur": 2.0328, "N_ncdm": 1, "m_ncdm": 0.06}  # CAMB's mnu = 0.06, nnu = 3.046: the emulators'
CAMB_NU = {"mnu": 0.06, "num_massive_neutrinos": 1, "nnu": 3.046}
# a CLASS fluid (PPF, CLASS's default) in place of Lambda: CAMB's w, wa with dark_energy_model ppf
W0WA = {"omega_b": 0.0224, "omega_cdm": 0.119, "h": 0.68, **NU, "Omega_Lambda": 0.0, "zelos_emulators": "all"}
# (omega_b, omega_cdm, h, w0, wa): w0wa points inside CAMB_extended_background's box, and LCDM
POINTS = [(0.0224, 0.119, 0.68, -0.9, -0.3), (0.0221, 0.121, 0.66, -0.75, -0.8), (0.0226, 0.117, 0.70, -1.1, 0.2),
          (0.0224, 0.119, 0.68, -1.0, 0.0), (0.0223, 0.120, 0.64, -0.6, -1.5)]
EXTENDED = "CAMB_extended_background"
# w0wa points where no shipped emulator covers sigma8 and P(k): w + wa > -0.7, outside
# CAMB_linear_matter_power's region (its constraint), inside CAMB_extended_background's box
BEYOND_PK = [(0.0224, 0.119, 0.68, -0.55, -0.05), (0.0221, 0.121, 0.66, -0.5, -0.15)]

# bao_boss_dr12 (D_M rd_fid / rd [Mpc], H rd / rd_fid [km/s/Mpc]) and bao_smallz_2014 (6dF rs/D_V,
# MGS D_V/rs): the data's values, diagonal errors
RD_FID = 147.78
BOSS = [(0.38, 1512.39, 22.6, 81.2087, 2.37), (0.51, 1975.22, 26.8, 90.9029, 2.33), (0.61, 2306.68, 33.2, 98.9647, 2.5)]
SMALLZ = [(0.106, 0.336, 0.015, 5), (0.15, 4.465666824, 0.1681350461, 3)]


def boss_dr12(cosmo) -> float:
    chi2 = 0.0
    for z, dm, sdm, h, sh in BOSS:
        dm_at_z = cosmo.angular_distance(z) * (1.0 + z)
        h_at_z = cosmo.Hubble(z) * C
        rd = cosmo.rs_drag()
        chi2 += ((dm_at_z / rd * RD_FID - dm) / sdm) ** 2 + ((h_at_z * rd / RD_FID - h) / sh) ** 2
    return -0.5 * chi2


def smallz(cosmo) -> float:
    chi2 = 0.0
    for z, value, error, kind in SMALLZ:
        da = cosmo.angular_distance(z)
        dr = z / cosmo.Hubble(z)
        dv = (da * da * (1 + z) * (1 + z) * dr) ** (1.0 / 3.0)
        rs = cosmo.rs_drag()
        theo = dv / rs if kind == 3 else rs / dv
        chi2 += ((theo - value) / error) ** 2
    return -0.5 * chi2


class CambBackground:
    """CAMB's background at a point, through the accessors the two likelihoods call."""

    def __init__(self, omega_b, omega_cdm, h, w0, wa):
        pars = camb.set_params(ombh2=omega_b, omch2=omega_cdm, H0=100 * h, w=w0, wa=wa, dark_energy_model="ppf",
                               WantCls=False, Want_CMB=False, **CAMB_NU)
        self.pars, self.r = pars, camb.get_background(pars)

    def angular_distance(self, z):
        return float(self.r.angular_diameter_distance(z))

    def Hubble(self, z):
        return float(self.r.hubble_parameter(z)) / C

    def rs_drag(self):
        return self.r.get_derived_params()["rdrag"]


def montepython_step(cosmo, args):
    """One step of MontePython's sampler (sampler.compute_lkl): a clean-up, the arguments, compute."""
    cosmo.struct_cleanup()
    cosmo.set(args)
    cosmo.compute(["lensing"])


def point_args(base, point):
    omega_b, omega_cdm, h, w0, wa = point
    return dict(base, omega_b=omega_b, omega_cdm=omega_cdm, h=h, w0_fld=w0, wa_fld=wa)


def messages(caplog):
    return [r.getMessage() for r in caplog.records]


def test_a_bao_run_varying_w0wa_with_every_shipped_emulator_is_emulated_and_equals_camb(caplog):
    """Every point is emulated (no CAMB run at all): the w0wa points by CAMB_extended_background,
    the LCDM one by CAMB_LCDM_background; the likelihoods' observables equal CAMB's within the
    emulator's held-out maximum error (the spline between grid nodes adds < 1e-5)."""
    caplog.set_level(logging.INFO, logger="zelos.montepython")
    accuracy = zelos.get_emulator(EXTENDED).report["accuracy"]
    tol = 1.5 * max(accuracy[o]["rel"]["max"] for o in ("H", "D_M", "rdrag"))
    assert tol < 6e-4
    cosmo = zmp.Class()
    data = dict(W0WA, zelos_report_every=1e-9)
    for point in POINTS:
        args = point_args(data, point)
        montepython_step(cosmo, args)
        p = cosmo._point
        assert p.mode == "emulated"
        lcdm = point[3:] == (-1.0, 0.0)
        assert p.keys["H"] == p.keys["D_M"] == p.keys["rdrag"] == ("CAMB_LCDM_background" if lcdm else EXTENDED)
        if not lcdm:  # what the LCDM growth emulator would give is left to CAMB, not asked for
            assert {"sigma8_z", "fsigma8"} <= set(p.unserved)
            assert p.unserved["fsigma8"].kind == "parameter_not_emulated"
        ref = CambBackground(*point)
        for z in (0.106, 0.15, 0.38, 0.51, 0.61):
            assert cosmo.angular_distance(z) == pytest.approx(ref.angular_distance(z), rel=tol)
            assert cosmo.Hubble(z) == pytest.approx(ref.Hubble(z), rel=tol)
        assert cosmo.rs_drag() == pytest.approx(ref.rs_drag(), rel=tol)
        loglike = boss_dr12(cosmo) + smallz(cosmo)
        assert loglike == pytest.approx(boss_dr12(ref) + smallz(ref), abs=0.01)
        # the derived parameters of examples/montepython/bao_zelos.param
        d = cosmo.get_current_derived_parameters(["Omega_m", "H0", "rs_d"])
        assert d["Omega_m"] == pytest.approx(ref.pars.omegam, rel=2e-3) and d["H0"] == 100 * point[2]
    s = cosmo.summary()
    assert s["calls"] == s["emulated"] == len(POINTS) and s["fallback"] == s["rest"] == 0
    assert s["fallbacks_by_reason"] == {}
    assert "camb" not in cosmo._backends  # CAMB never ran
    assert messages(caplog)[-1] == f"{len(POINTS)} points: 100.0% emulated"
    cosmo.close()
    assert any(m.startswith(f"{len(POINTS)} points: {len(POINTS)} emulated (") and m.endswith(", 0 computed by camb")
               for m in messages(caplog))


def camb_sigma8(point, transfer):
    """CAMB's sigma8 at a w0wa point, with the P(k) redshifts and kmax the plugin's CAMB run used."""
    omega_b, omega_cdm, h, w0, wa = point
    kmax, redshifts = (2.0, [0.0]) if transfer is None else (
        transfer.kmax, list(transfer.PK_redshifts[:transfer.PK_num_redshifts]))
    pars = camb.set_params(ombh2=omega_b, omch2=omega_cdm, H0=100 * h, w=w0, wa=wa, dark_energy_model="ppf",
                           As=2.1e-9, ns=0.965, tau=0.0544, WantCls=False, Want_CMB=False, WantTransfer=True,
                           kmax=kmax, redshifts=redshifts, silent=True, **CAMB_NU)
    return camb.get_results(pars).get_sigma8_0()


def test_sigma8_at_a_w0wa_point_is_cambs_and_the_point_counts_as_computed(tmp_path, caplog):
    """A run reading sigma8 too (output mPk): at the first w0wa point compute() runs no CAMB, and
    the sigma8 call does, once (the background stays the emulator's); an LCDM point is emulated
    whole (sigma8 from CAMB_LCDM_growth); at the next w0wa point, sigma8 having been read before,
    CAMB runs inside compute(). The computed points are counted and logged as computed, with the
    router's reason, never as emulated."""
    caplog.set_level(logging.INFO, logger="zelos.montepython")
    data = dict(W0WA, output="mPk", A_s=2.1e-9, n_s=0.965, tau_reio=0.0544, zelos_log=str(tmp_path),
                zelos_report_every=1e-9)
    cosmo = zmp.Class()
    first, lcdm, third = BEYOND_PK[0], POINTS[3], BEYOND_PK[1]

    montepython_step(cosmo, point_args(data, first))
    p = cosmo._point
    assert p.mode == "emulated" and "camb" not in cosmo._backends  # lazily: nothing computed yet
    assert set(p.unserved) >= {"sigma8", "S8", "pk_lin"}
    h_emulated = cosmo.Hubble(0.5)
    sigma8 = cosmo.sigma8()
    backend = cosmo._backends["camb"]
    results = backend.results
    assert sigma8 == pytest.approx(camb_sigma8(first, backend.pars.Transfer), rel=1e-10)
    assert cosmo.sigma8() == sigma8 and backend.results is results  # once per point
    assert cosmo.get_current_derived_parameters(["sigma8"]) == {"sigma8": sigma8}
    assert cosmo.Hubble(0.5) == h_emulated and p.keys["H"] == EXTENDED  # the background stays emulated
    s = cosmo.summary()
    assert s["emulated"] == 0 and s["fallback"] == 1 and s["rest"] == 1
    assert s["fallbacks_by_reason"] == {"outside_every_region": 1}
    assert s["rest_by_reason"] == {"sigma8: outside_every_region": 1}

    montepython_step(cosmo, point_args(data, lcdm))
    assert cosmo._point.mode == "emulated" and not cosmo._point.unserved
    assert cosmo._point.keys["sigma8"] == "CAMB_LCDM_growth" and cosmo.sigma8() > 0.7
    assert cosmo._backends["camb"].results is None  # no CAMB run at this point (struct_cleanup cleared it)
    assert cosmo.summary()["emulated"] == 1
    assert messages(caplog)[-1] == "2 points: 50.0% emulated; computed by the code: outside_every_region 1"

    montepython_step(cosmo, point_args(data, third))
    backend = cosmo._backends["camb"]
    results = backend.results  # CAMB ran inside compute(): sigma8 was read before
    assert results is not None and cosmo._point.rest_reason == "sigma8: outside_every_region"
    assert cosmo.sigma8() == pytest.approx(camb_sigma8(third, backend.pars.Transfer), rel=1e-10)
    assert backend.results is results
    assert cosmo.Hubble(0.5) == pytest.approx(CambBackground(*third).Hubble(0.5), rel=6e-4)
    assert cosmo._point.keys["H"] == EXTENDED
    s = cosmo.summary()
    assert s["calls"] == 3 and s["emulated"] == 1 and s["fallback"] == 2 and s["failed"] == 0
    assert s["fallbacks_by_reason"] == {"outside_every_region": 2}
    cosmo.close()
    out = messages(caplog)
    assert any(m.startswith("3 points: 1 emulated (") and ", 2 computed by camb (" in m for m in out)
    assert "fallbacks by reason: outside_every_region 2" in out
    said = [m for m in out if m.startswith("no loaded emulator covers `sigma8` at this point (outside_every_region")]
    # once per run; the nearest emulator is the P(k) one, whose constraint w + wa <= -0.7 the point breaks
    assert len(said) == 1 and "nearest: `CAMB_linear_matter_power`" in said[0]
    records = zelos.read_point_log(str(tmp_path))
    assert [r["reason"] for r in records] == ["outside_every_region"] * 2
    assert records[0]["detail"].startswith("computed by camb for `sigma8`: outside every trust region; nearest: "
                                           "`CAMB_linear_matter_power`")
    assert "outside the region's constraints: `w + wa` = -0.6" in records[0]["detail"]
    assert records[0]["parameters"]["w"] == -0.55 and records[0]["parameters"]["wa"] == -0.05
    assert records[0]["outputs"]["sigma8"] == pytest.approx(sigma8, rel=1e-12)  # CAMB's, for `zelos retrain`
    assert np.isfinite(records[0]["outputs"]["H"]).all()


def test_a_camb_failure_for_an_output_read_before_is_a_failed_point_from_compute(monkeypatch):
    """Once the run has read sigma8, CAMB computes it inside compute() at a w0wa point: a CAMB
    failure there is the CosmoComputationError MontePython catches from compute() (a failed point),
    counted as failed, neither emulated nor computed."""
    from zelos.montepython.camb_class import CambClass

    data = dict(W0WA, output="mPk", A_s=2.1e-9, n_s=0.965, tau_reio=0.0544)
    cosmo = zmp.Class()
    montepython_step(cosmo, point_args(data, POINTS[3]))  # LCDM: sigma8 read from CAMB_LCDM_growth
    assert cosmo.sigma8() > 0.7 and cosmo.summary()["emulated"] == 1

    def fail(self, point, request, level="full"):
        raise zmp.CosmoComputationError("CAMB failed (a test)")

    monkeypatch.setattr(CambClass, "run", fail)
    with pytest.raises(zmp.CosmoComputationError, match="a test"):
        montepython_step(cosmo, point_args(data, BEYOND_PK[0]))
    s = cosmo.summary()
    assert s["calls"] == 2 and s["emulated"] == 1 and s["fallback"] == 0 and s["failed"] == 1
    assert cosmo._point is None
    cosmo.close()


def test_reject_and_error_still_ask_every_wanted_output_covered():
    """With `zelos_out_of_range` 'reject' (or 'error') no point is computed by the code: a w0wa
    point that the growth emulator (held at w = -1) does not cover is rejected, as before."""
    with pytest.raises(zmp.CosmoComputationError, match="rejected.*parameter `w` = -0.9 is not emulated"):
        montepython_step(zmp.Class(), point_args(dict(W0WA, zelos_out_of_range="reject"), POINTS[0]))


def test_sigma8_and_pk_at_a_w0wa_point_inside_the_matter_power_region_are_emulated():
    """Inside w + wa <= -0.7 the shipped CAMB_linear_matter_power covers sigma8 and P(k) at w0wa
    points with massive neutrinos: with every shipped emulator loaded, no CAMB runs at all."""
    data = dict(W0WA, output="mPk", A_s=2.1e-9, n_s=0.965, tau_reio=0.0544)
    cosmo = zmp.Class()
    for point in (POINTS[0], POINTS[1]):
        montepython_step(cosmo, point_args(data, point))
        # sigma8 and P(k) from the P(k) emulator; what only the LCDM growth emulator offers (S8,
        # f sigma8) stays unserved, and unread, so it costs nothing
        assert cosmo._point.mode == "emulated" and not {"sigma8", "pk_lin"} & set(cosmo._point.unserved)
        assert cosmo._point.keys["sigma8"] == cosmo._point.keys["pk_lin"] == "CAMB_linear_matter_power"
        assert cosmo.sigma8() == pytest.approx(camb_sigma8(point, None), rel=2e-3)
        assert cosmo._point.keys["H"] == EXTENDED
    assert "camb" not in cosmo._backends or cosmo._backends["camb"].results is None
    s = cosmo.summary()
    assert s["calls"] == s["emulated"] == 2 and s["fallback"] == 0
    cosmo.close()


def test_sigma_r_z_at_a_w0wa_point_comes_from_the_emulated_linear_pk_as_camb_computes_it():
    """classy's sigma(R, z) (R in Mpc or Mpc/h) from the emulated linear P(k, z): the top hat's
    integral over the emulator's k range, equal to CAMB's sigma_R; no CAMB runs."""
    point = POINTS[1]
    h = point[2]
    data = dict(W0WA, output="mPk", A_s=2.1e-9, n_s=0.965, tau_reio=0.0544, z_max_pk=2.0)
    cosmo = zmp.Class()
    montepython_step(cosmo, point_args(data, point))
    ours = cosmo.sigma(np.array([2.0, 8.0, 30.0]), np.array([0.0, 0.7, 2.0]), h_units=True)
    assert cosmo._point.mode == "emulated" and cosmo.summary()["rest"] == 0
    assert cosmo.sigma(8.0 / h, 0.0) == pytest.approx(cosmo.sigma8(), rel=1e-3)  # R = 8 Mpc/h, in Mpc
    omega_b, omega_cdm, _, w0, wa = point
    pars = camb.set_params(ombh2=omega_b, omch2=omega_cdm, H0=100 * h, w=w0, wa=wa, dark_energy_model="ppf",
                           As=2.1e-9, ns=0.965, tau=0.0544, WantCls=False, redshifts=[2.0, 0.7, 0.0], kmax=50.0,
                           silent=True, **CAMB_NU)
    truth = camb.get_results(pars).get_sigmaR(np.array([2.0, 8.0, 30.0]), hubble_units=True)[::-1]  # z ascending
    np.testing.assert_allclose(ours, truth, rtol=2e-3)
    cosmo.close()
