"""`theory: zelos` on Planck 2018 plik-lite + DESI DR2 + Union3, with the shipped CAMB_LCDM_CMB:
inside the trust region the log-likelihoods agree with Cobaya's CAMB within the accuracy the
archive's report documents; outside, they equal CAMB's to round-off and the point is logged;
and a short real MCMC writes a chain getdist reads, derived parameters filled."""

import os

import numpy as np
import pytest

pytest.importorskip("cobaya", reason="cobaya is not installed (pip install zelos[cobaya])")

import zelos  # noqa: E402
from cobaya.model import get_model  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "cobaya_packages"))
PLANCK = "planck_2018_highl_plik.TTTEEE_lite_native"
LIKES = {PLANCK: None, "bao.desi_dr2": None, "sn.union3": None}
EMULATOR = "CAMB_LCDM_CMB"
DERIVED = ("H0", "sigma8", "S8", "rdrag", "thetastar", "zdrag", "zstar", "omegam", "age")

pytestmark = pytest.mark.skipif(
    not os.path.isdir(os.path.join(PACKAGES, "data", "planck_2018_pliklite_native")),
    reason=f"the likelihood data are not at {PACKAGES} (see ../shared/data/README.md)")

BEST_FIT = {"ombh2": 0.022383, "omch2": 0.12011, "cosmomc_theta": 0.0104090, "tau": 0.0543,
            "logA": 3.0448, "ns": 0.96605}
# Planck + DESI pull omch2 down and H0 up: a point there, and one a little off in every direction.
INSIDE = [BEST_FIT,
          dict(BEST_FIT, omch2=0.1180, cosmomc_theta=0.0104105, ns=0.970),
          dict(BEST_FIT, ombh2=0.02250, tau=0.060, logA=3.056)]
OUTSIDE = dict(BEST_FIT, omch2=0.1370)  # beyond the training box (omch2 <= 0.135)


def params_block(derived=DERIVED):
    """Sampled as Planck does (examples/cobaya_planck_bao_sn.yaml): 100 theta_MC and logA, dropped."""
    params = {name: {"prior": {"min": lo, "max": hi}} for name, lo, hi in
              (("ombh2", 0.019, 0.026), ("omch2", 0.09, 0.15), ("theta_MC_100", 1.03, 1.05),
               ("tau", 0.01, 0.2), ("logA", 2.5, 3.5), ("ns", 0.88, 1.05))}
    params["ombh2"]["renames"], params["omch2"]["renames"] = "omegabh2", "omegach2"
    params["theta_MC_100"].update(drop=True, renames="theta")
    params["cosmomc_theta"] = {"value": "lambda theta_MC_100: 1.e-2*theta_MC_100", "derived": False}
    params["logA"]["drop"] = True
    params["As"] = {"value": "lambda logA: 1e-10*np.exp(logA)"}
    params["A_planck"] = 1.0
    params.update({d: None for d in derived})
    return params


def sampled(point: dict) -> dict:
    out = {k: v for k, v in point.items() if k != "cosmomc_theta"}
    out["theta_MC_100"] = 100 * point["cosmomc_theta"]
    return out


@pytest.fixture(scope="module")
def emulator():
    return zelos.get_emulator(EMULATOR)


@pytest.fixture(scope="module")
def models(emulator, tmp_path_factory):
    log = tmp_path_factory.mktemp("planck_points")
    base = {"likelihood": LIKES, "packages_path": PACKAGES}
    mz = get_model({**base, "params": params_block(),
                    "theory": {"zelos": {"emulators": [EMULATOR], "log": str(log)}}})
    # Cobaya's CAMB has no S8: it is checked as sigma8 sqrt(omegam / 0.3) below.
    mc = get_model({**base, "params": params_block([d for d in DERIVED if d != "S8"]),
                    "theory": {"camb": {"extra_args": dict(emulator.spec["code"]["settings"])}}})
    yield mz, mc, log
    mz.close()
    mc.close()


def test_inside_the_region_planck_desi_union3_agree_with_camb(emulator, models):
    mz, mc, _ = models
    documented = emulator.report["likelihood_accuracy"]
    theory = mz.theory["zelos"]
    for point in INSIDE:
        before = theory.summary()["emulated"]
        lz, dz = mz.loglikes(sampled(point), as_dict=True, return_derived=True)
        assert theory.summary()["emulated"] == before + 1, "served by the emulator"
        lc, dc = mc.loglikes(sampled(point), as_dict=True, return_derived=True)
        for name in LIKES:
            bound = max(documented["likelihoods"][name]["abs_delta_logp_max"], 0.01)
            assert abs(lz[name] - lc[name]) <= 1.5 * bound, (name, point, lz[name] - lc[name], bound)
            assert lz[name] != lc[name]  # the emulator answered, not CAMB
        dc["S8"] = dc["sigma8"] * np.sqrt(dc["omegam"] / 0.3)
        for name in DERIVED:  # every one the archive's validation documents
            bound = max(1.5 * documented["derived"][name]["abs_rel_max"], 1e-5)
            assert abs(dz[name] / dc[name] - 1) <= bound, (name, dz[name], dc[name], bound)


def test_emulated_lensing_potential_follows_cobayas_camb(emulator):
    """C_l^phiphi (not in plik-lite) in Cobaya's convention, [l(l+1)]^2 C_l / 2pi with
    ell_factor, and within the archive's documented dl_pp accuracy of Cobaya's CAMB."""
    wanted = {"Cl": {"pp": 2000, "tt": 2000}}
    params = {k: v for k, v in params_block(derived=()).items() if k != "A_planck"}
    theories = {"zelos": {"emulators": [EMULATOR]},
                # sigma8 switches CAMB's transfer functions on, as in the emulator's training
                "camb": {"extra_args": dict(emulator.spec["code"]["settings"])}}
    spectra = {}
    for code, theory in theories.items():
        model = get_model({"theory": {code: theory}, "likelihood": {"one": None},
                           "params": {**params, "sigma8": None}})
        model.add_requirements(wanted)
        model.logposterior(sampled(INSIDE[1]))
        spectra[code] = {f: model.provider.get_Cl(ell_factor=f) for f in (True, False)}
        if code == "zelos":
            assert model.theory["zelos"].summary()["emulated"] == 1
        model.close()
    bound = emulator.report["accuracy"]["dl_pp"]["rel"]["max"]
    for factor in (True, False):
        z, c = spectra["zelos"][factor], spectra["camb"][factor]
        ell = slice(2, 2001)
        assert np.array_equal(z["ell"][ell], c["ell"][ell])
        worst = np.max(np.abs(z["pp"][ell] / c["pp"][ell] - 1))
        assert 0 < worst <= bound, (factor, worst, bound)


def test_outside_the_region_camb_answers_exactly_and_the_point_is_logged(emulator, models):
    mz, mc, log = models
    theory = mz.theory["zelos"]
    before = theory.summary()["fallback"]
    lz, dz = mz.loglikes(sampled(OUTSIDE), as_dict=True, return_derived=True)
    assert theory.summary()["fallback"] == before + 1
    lc, dc = mc.loglikes(sampled(OUTSIDE), as_dict=True, return_derived=True)
    for name in LIKES:
        assert lz[name] == pytest.approx(lc[name], rel=1e-10, abs=1e-9), name
    dc["S8"] = dc["sigma8"] * np.sqrt(dc["omegam"] / 0.3)
    for name in DERIVED:
        assert dz[name] == pytest.approx(dc[name], rel=1e-10), name
    theory._point_log.flush()
    logged = [r for r in zelos.read_point_log(str(log)) if r["reason"] == "outside_every_region"]
    assert [r["parameters"]["omch2"] for r in logged] == [OUTSIDE["omch2"]]
    assert logged[0]["outputs"]["sigma8"] == pytest.approx(dc["sigma8"], rel=1e-12)


def test_a_short_planck_chain_runs_and_getdist_reads_it(tmp_path):
    from cobaya.run import run
    from getdist import loadMCSamples

    info = {"theory": {"zelos": {"emulators": [EMULATOR], "log": str(tmp_path / "points")}},
            "likelihood": LIKES, "params": params_block(), "packages_path": PACKAGES,
            # Planck's low-ell EE tau, as the demo: without it plik-lite leaves tau free, the chain
            # wandered below the emulator's tau range and a third of its points went to CAMB
            # (195 of 559 calls, 15 minutes of the suite).
            "prior": {"tau_lowE": "lambda tau: stats.norm.logpdf(tau, loc=0.0544, scale=0.0073)"},
            "sampler": {"mcmc": {"max_samples": 80, "burn_in": 0, "learn_proposal": False,
                                 "covmat": os.path.join(ROOT, "specs", "covmats",
                                                        "base_plikHM_TTTEEE_lowl_lowE.covmat"),
                                 "seed": 3}},
            "output": str(tmp_path / "chain"), "force": True}
    for name, centre in sampled(BEST_FIT).items():
        info["params"][name]["ref"] = centre
    _, sampler = run(info)
    samples = loadMCSamples(str(tmp_path / "chain"), settings={"ignore_rows": 0})
    assert samples.numrows > 10
    for name in DERIVED:
        column = samples.getParams().__dict__[name]
        assert np.all(np.isfinite(column)) and np.std(column) > 0, name
    summary = sampler.model.theory["zelos"].summary()
    assert summary["emulated"] > 100
    assert summary["fallback"] <= 0.05 * summary["calls"], summary  # the chain stays where the emulator is
