"""Emulators compose in MontePython as in Cobaya: a .param file that samples CAMB's
``cosmomc_theta`` (as docs/montepython.md shows for CAMB_LCDM_CMB) and asks for P(k) gets it from
an emulator that takes ``H0``, fed the H0 the CMB emulator derives; the values equal CAMB's at
that point. Without an emulator deriving H0, start-up says why and CAMB computes the point."""

import numpy as np
import pytest

camb = pytest.importorskip("camb")

import zelos.montepython as zmp  # noqa: E402

POINT = {"ombh2": 0.022383, "omch2": 0.12011, "cosmomc_theta": 0.010409, "tau": 0.0543, "logA": 3.0448,
         "ns": 0.96605}
CLASS_ARGS = {"N_ur": 2.0328, "N_ncdm": 1, "m_ncdm": 0.06, "output": "tCl pCl lCl mPk", "lensing": "yes",
              "l_max_scalars": 2500, "non_linear": "hmcode", "P_k_max_1/Mpc": 1.5, "z_max_pk": 1.5}
K = np.geomspace(2e-3, 1.0, 12)
Z = [0.0, 0.6, 1.4]


def _class(emulators, **point):
    cosmo = zmp.Class()
    cosmo.set({**POINT, **point, **CLASS_ARGS, "zelos_emulators": emulators})
    cosmo.compute(["lensing"])
    return cosmo


def _camb_pk_and_h0(point, k=K):
    pars = camb.set_params(ombh2=point["ombh2"], omch2=point["omch2"], cosmomc_theta=point["cosmomc_theta"],
                           tau=point["tau"], As=np.exp(point["logA"]) * 1e-10, ns=point["ns"], mnu=0.06,
                           num_massive_neutrinos=1, nnu=3.046, WantTransfer=True, redshifts=sorted(Z, reverse=True),
                           kmax=2.0)
    results = camb.get_results(pars)
    interp = results.get_matter_power_interpolator(nonlinear=False, hubble_units=False, k_hunit=False)
    return np.array([interp.P(z, k) for z in Z]), pars.H0


def test_a_theta_run_gets_pk_from_an_h0_emulator_with_the_cmb_emulators_h0(caplog):
    caplog.set_level("INFO", logger="zelos.montepython")
    cosmo = _class(["CAMB_LCDM_CMB", "CAMB_LCDM_linear_Pk"])
    try:
        p = cosmo._point
        assert p.mode == "emulated" and p.keys["pk_lin"] == "CAMB_LCDM_linear_Pk" and p.keys["H0"] == "CAMB_LCDM_CMB"
        ours = np.array([[cosmo.pk_lin(k, z) for k in K] for z in Z])
        h = cosmo.h()
        assert cosmo.summary()["fallback"] == 0 and cosmo.summary()["rest"] == 0  # no CAMB at all
    finally:
        cosmo.close()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "serves pk_lin, sigma8 (H0 derived by CAMB_LCDM_CMB from this run's angle)" in text
    truth, h0 = _camb_pk_and_h0(POINT)
    assert 100 * h == pytest.approx(h0, rel=1e-4)
    np.testing.assert_allclose(ours, truth, rtol=3e-3)  # the P(k) emulator's accuracy, with H0 to 1e-4


def test_a_different_angle_moves_the_composed_pk():
    """The second stage really uses this point's H0: a larger angle, a larger H0, another P(k)."""
    values = []
    for theta in (0.010400, 0.010418):
        cosmo = _class(["CAMB_LCDM_CMB", "CAMB_LCDM_linear_Pk"], cosmomc_theta=theta)
        assert cosmo._point.keys["pk_lin"] == "CAMB_LCDM_linear_Pk"
        values.append((cosmo.h(), cosmo.pk_lin(0.05, 0.0)))
        cosmo.close()
    assert values[1][0] > values[0][0] + 0.005
    truth, _ = _camb_pk_and_h0({**POINT, "cosmomc_theta": 0.010418}, k=[0.05])
    assert values[1][1] == pytest.approx(truth[0][0], rel=3e-3)


def test_without_an_emulator_deriving_h0_start_up_says_why_and_camb_computes():
    cosmo = _class(["CAMB_LCDM_linear_Pk"])
    try:
        why = cosmo._point.plan.excluded["CAMB_LCDM_linear_Pk"]
        assert cosmo._point.mode == "fallback"
    finally:
        cosmo.close()
    assert "no loaded emulator derives H0 from it" in why and "cosmomc_theta" in why


def test_the_code_settings_of_camb_runs_take_the_default_for_an_emulator_that_lists_none(tmp_path):
    """CAMB_omk_CMB 1.1 lists CAMB's C_l accuracy boost; a flat emulator loaded before it lists
    none because it was trained at CAMB's default, and that default is what the runs take (before,
    the only listed value, the boost, reached every run); loaded first, the boost emulator
    chooses. A note says which value the runs use. The C_l of the emulator trained otherwise are
    then not used (as in Cobaya): here C_l are all it has, so it is left out, saying why."""
    from zelos.testing import constant_archive

    box = {"ombh2": (0.020, 0.025), "omch2": (0.10, 0.14), "H0": (60.0, 80.0), "tau": (0.02, 0.1),
           "logA": (2.9, 3.2), "ns": (0.9, 1.0)}
    params = "\n".join(f"  {p}: [{lo!r}, {hi!r}]" for p, (lo, hi) in box.items())
    ell = np.arange(2, 31)

    def archive(name, settings):
        spec = (f"name: {name}\nauthor: zelos tests\nversion: 0.0.1\n"
                f'code:\n  name: camb\n  version: "2.0.5"\n  settings: {settings}\n'
                f"parameters:\n{params}\noutputs:\n  cmb: {{spectra: [tt], lmin: 2, lmax: 30}}\n")
        path = tmp_path / f"{name}.tar.gz"
        constant_archive(path, spec, box, {"tt": [("dl_tt", np.full(ell.size, 1000.0), ("ell",))]}, {"ell": ell},
                         accuracy=1e-4)
        return str(path)

    plain = archive("plain", "{mnu: 0.06, num_massive_neutrinos: 1, nnu: 3.046, omk: 0.0}")
    box["omk"] = (-0.03, 0.03)
    params = "\n".join(f"  {p}: [{lo!r}, {hi!r}]" for p, (lo, hi) in box.items())
    boosted = archive("boosted", "{mnu: 0.06, num_massive_neutrinos: 1, nnu: 3.046, Accuracy.IntkAccuracyBoost: 3}")
    # flat: the flat emulator first chooses CAMB's default; listed first, the curved one its boost;
    # curved: the flat one holds omk = 0 at another value than the run's, so it does not choose
    for emulators, omk, boost, left_out in (([plain, boosted], 0.0, 1.0, "boosted"),
                                            ([boosted, plain], 0.0, 3, "plain"),
                                            ([plain, boosted], 0.01, 3, "plain")):
        cosmo = zmp.Class()
        cosmo.set({**_FLAT_TT_ARGS, "Omega_k": omk, "zelos_emulators": emulators})
        cosmo.compute()
        plan = cosmo._point.plan
        assert plan.settings["Accuracy.IntkAccuracyBoost"] == boost
        assert any("`Accuracy.IntkAccuracyBoost`" in note and f"runs use {boost!r}" in note
                   for note in plan.notes) == (omk == 0.0)
        assert left_out not in plan.usable
        assert plan.excluded[left_out].startswith("its training settings differ from this run's CAMB settings: "
                                                  "`Accuracy.IntkAccuracyBoost`: trained with ")
        cosmo.struct_cleanup()


_FLAT_TT_ARGS = {"omega_b": 0.0224, "omega_cdm": 0.12, "h": 0.68, "tau_reio": 0.055, "ln10^{10}A_s": 3.05,
                 "n_s": 0.965, "N_ur": 3.046 - (0.71611 / (4 / 11) ** (1 / 3)) ** 4,  # N_eff 3.046, CLASS's T_ncdm
                 "N_ncdm": 1, "m_ncdm": 0.06, "output": "tCl", "l_max_scalars": 30, "non_linear": "hmcode"}


def test_outputs_the_camb_runs_compute_otherwise_are_not_routed_to_an_emulator(tmp_path, caplog):
    """An emulator trained with a denser C_l integration, ranked first, still serves what the
    setting cannot reach (its age), but a flat run's C_l come from the emulator trained at the
    runs' settings, and start-up says which outputs were set aside and why."""
    from zelos.testing import constant_archive

    caplog.set_level("INFO", logger="zelos.montepython")
    box = {"ombh2": (0.020, 0.025), "omch2": (0.10, 0.14), "H0": (60.0, 80.0), "tau": (0.02, 0.1),
           "logA": (2.9, 3.2), "ns": (0.9, 1.0)}
    ell = np.arange(2, 31)

    def archive(name, settings, extra_box, tt, age, accuracy):
        full = {**box, **extra_box}
        params = "\n".join(f"  {p}: [{lo!r}, {hi!r}]" for p, (lo, hi) in full.items())
        spec = (f"name: {name}\nauthor: zelos tests\nversion: 0.0.1\n"
                f'code:\n  name: camb\n  version: "2.0.5"\n  settings: {settings}\n'
                f"parameters:\n{params}\noutputs:\n  cmb: {{spectra: [tt], lmin: 2, lmax: 30}}\n"
                "  derived: [age]\n")
        path = tmp_path / f"{name}.tar.gz"
        constant_archive(path, spec, full, {"tt": [("dl_tt", np.full(ell.size, tt), ("ell",))],
                                            "derived": [("age", np.array(age), ())]}, {"ell": ell},
                         accuracy=accuracy)
        return str(path)

    plain = archive("plain", "{mnu: 0.06, num_massive_neutrinos: 1, nnu: 3.046, omk: 0.0}", {}, 1000.0, 13.0, 1e-3)
    boosted = archive("boosted", "{mnu: 0.06, num_massive_neutrinos: 1, nnu: 3.046, Accuracy.IntkAccuracyBoost: 3}",
                      {"omk": (-0.03, 0.03)}, 2000.0, 14.0, 1e-5)
    cosmo = zmp.Class()
    # lensed C_l are what the emulators hold: the run asks for them
    cosmo.set({**_FLAT_TT_ARGS, "output": "tCl lCl", "lensing": "yes", "Omega_k": 0.0,
               "zelos_emulators": [plain, boosted]})
    try:
        cosmo.compute()
        p = cosmo._point
        assert p.plan.router.keys()[0] == "boosted"  # the router ranks it first, for every output
        assert set(p.plan.usable) == {"plain", "boosted"}
        assert p.plan.set_aside["boosted"][0] == {"dl_tt"}
        assert p.mode == "emulated" and p.keys["dl_tt"] == "plain" and p.keys["age"] == "boosted"
        assert cosmo.age() == pytest.approx(14.0)
        assert p.values["dl_tt"][0] == pytest.approx(1000.0)
    finally:
        cosmo.close()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "not dl_tt: its training settings differ from this run's CAMB settings: `Accuracy.IntkAccuracyBoost`" in text
