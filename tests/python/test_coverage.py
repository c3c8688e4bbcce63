"""`zelos coverage` (zelos.learning.coverage): the fraction of a Metropolis chain's proposals an
emulator's trust region holds, with Cobaya's own proposal distribution."""

import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from zelos.learning.coverage import PROPOSAL_SCALE, proposal_coverage, radial_steps
from zelos.routing import TrustRegion

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAMES = [f"p{i}" for i in range(7)]


def _unit_region(threshold_sigma: float = 5.0) -> TrustRegion:
    """A Mahalanobis region of identity covariance about 0 in 7 dimensions, cut at 5."""
    q = stats.chi2.cdf(threshold_sigma ** 2, len(NAMES))
    return TrustRegion(NAMES, ["box", "mahalanobis"], lower=np.full(7, -100.0), upper=np.full(7, 100.0),
                       mean=np.zeros(7), covariance=np.eye(7), chi2_quantile=q)


def test_step_lengths_are_cobayas():
    proposal = pytest.importorskip("cobaya.samplers.mcmc.proposal")
    cobaya = proposal.RandDirectionProposer(7, np.random.default_rng(3))
    theirs = np.array([np.linalg.norm(cobaya.propose_vec(PROPOSAL_SCALE)) for _ in range(20000)])
    ours = PROPOSAL_SCALE * radial_steps(20000, np.random.default_rng(4))
    assert stats.ks_2samp(ours, theirs).pvalue > 0.01
    assert np.median(ours) == pytest.approx(np.median(theirs), rel=0.05)


@pytest.mark.parametrize("radius, expected", [(5.0, 0.78), (7.0, 0.95), (9.5, 0.99)])
def test_a_region_must_reach_far_beyond_the_posterior_to_hold_its_proposals(radius, expected):
    """The module's (and docs/trust-regions.md's) numbers: a region reaching `radius` posterior
    sigmas holds all of the posterior but only `expected` of the proposals (7 parameters)."""
    region = _unit_region()
    sigma = 5.0 / radius  # the posterior's width in the region's units
    cover = proposal_coverage(region, NAMES, np.zeros(7), sigma ** 2 * np.eye(7), draws=40000, seed=1)
    assert cover.posterior > 0.999
    assert cover.proposals == pytest.approx(expected, abs=0.01)


def test_off_centre_posteriors_and_prior_bounds():
    region = _unit_region()
    centred = proposal_coverage(region, NAMES, np.zeros(7), 0.25 * np.eye(7), seed=2)
    shifted = proposal_coverage(region, NAMES, np.r_[2.0, np.zeros(6)], 0.25 * np.eye(7), seed=2)
    assert shifted.proposals < centred.proposals
    # the proposals left outside lie on the side the posterior was moved to
    assert shifted.leaving["p0"] > 1.0 and abs(shifted.leaving["p3"]) < 0.3
    # a prior bound at the region's edge: proposals beyond it never reach the theory
    bounded = proposal_coverage(region, NAMES, np.r_[2.0, np.zeros(6)], 0.25 * np.eye(7), seed=2,
                                bounds={"p0": (-100.0, 3.0)})
    assert bounded.proposals > shifted.proposals and bounded.draws < shifted.draws
    # parameters in another order are matched by name
    perm = NAMES[::-1]
    flipped = proposal_coverage(region, perm, np.r_[np.zeros(6), 2.0], 0.25 * np.eye(7), seed=2)
    assert flipped.proposals == pytest.approx(shifted.proposals, abs=0.02)
    with pytest.raises(ValueError, match="p6"):
        proposal_coverage(region, NAMES[:6], np.zeros(6), np.eye(6))


def _zelos(*args):
    return subprocess.run([sys.executable, "-m", "zelos", "coverage", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_the_command_on_the_shipped_mnu_emulator():
    """With the Σm_ν demo's proposal covariance and its posterior's mean, the fraction expected is
    what the demo measured: 1.0.0 (a 5σ design) predicted 84%, and its demo ran 86-88% emulated;
    1.1.0, with its 10σ shell, predicts 99.5% (docs/accuracy.md has the demo's own number)."""
    run = _zelos("CAMB_mnu_CMB", "--covmat", "examples/covmats/planck_lite_lensing_desi_union3_mnu.covmat",
                 "--mean", "omch2=0.1188", "tau=0.0617", "logA=3.058", "mnu=0.028", "--bound", "mnu=0:5")
    assert run.returncode == 0, run.stderr
    line = next(s for s in run.stdout.splitlines() if "proposals from them" in s)
    fraction = float(line.split("inside:")[1].split("%")[0])
    assert 98.5 < fraction <= 100, run.stdout
    bad = _zelos("CAMB_mnu_CMB", "--covmat", "examples/covmats/planck_lite_lensing_desi_union3_mnu.covmat",
                 "--mean", "Omega_m=0.3")
    assert bad.returncode == 1 and "Omega_m" in bad.stderr and "not parameters of CAMB_mnu_CMB" in bad.stderr
    missing = _zelos("CAMB_mnu_CMB", "--covmat", "no/such.covmat")
    assert missing.returncode == 1 and "no/such.covmat" in missing.stderr


def test_the_command_reads_a_chain(tmp_path):
    """From a chain getdist reads (here in getdist's plain format, Cobaya's theta_MC_100 column):
    mean and covariance as the chain gives them, after 30% burn-in."""
    pytest.importorskip("getdist")
    import zelos

    emu = zelos.get_emulator("CAMB_mnu_CMB")
    names = ["ombh2", "omch2", "theta_MC_100", "tau", "logA", "ns", "mnu"]
    to_chain = np.array([1, 1, 100, 1, 1, 1, 1])  # theta_MC_100 = 100 cosmomc_theta
    # a posterior shaped as the training points, a fifth of their width
    cholesky = np.linalg.cholesky(emu.region["covariance"])
    rng = np.random.default_rng(5)
    x = (emu.region["mean"] + 0.2 * rng.standard_normal((3000, 7)) @ cholesky.T) * to_chain
    root = tmp_path / "tiny"
    (tmp_path / "tiny.paramnames").write_text("".join(f"{n}\n" for n in names))
    np.savetxt(f"{root}.txt", np.column_stack([np.ones(len(x)), np.zeros(len(x)), x]))
    run = _zelos("CAMB_mnu_CMB", "--chain", str(root))
    assert run.returncode == 0, run.stderr
    assert "posterior draws inside the trust region: 100.0%" in run.stdout
    fraction = float(next(s for s in run.stdout.splitlines() if "proposals from them" in s).split("inside:")[1][:5])
    assert fraction > 99.0  # a posterior a fifth of the region's width: proposals stay in


def test_a_specs_region_is_the_region_its_build_gave():
    """`zelos coverage SPEC.yaml` weighs a design before any CAMB run: the region drawn from the
    spec is the shipped archive's (same design points, same trust section)."""
    import zelos
    from zelos.learning.coverage import spec_region

    region, accept, parameters, _ = spec_region(os.path.join(ROOT, "specs", "camb_mnu_cmb.yaml"))
    shipped = TrustRegion.from_emulator(zelos.get_emulator("CAMB_mnu_CMB"))
    assert parameters == list(shipped.parameters) and accept is None
    assert region.mahalanobis_threshold == pytest.approx(shipped.mahalanobis_threshold, rel=1e-9)
    emu = zelos.get_emulator("CAMB_mnu_CMB")
    x = emu.region["mean"] + np.random.default_rng(0).standard_normal((2000, 7)) @ (
        1.6 * np.linalg.cholesky(emu.region["covariance"]).T)
    ours, theirs = region.decide_batch(x)[0], shipped.decide_batch(x)[0]
    assert 0.2 < ours.mean() < 0.9 and np.array_equal(ours, theirs)
    # a spec with constraints (w + wa <= -0.7) hands them on
    _, accept, _, _ = spec_region(os.path.join(ROOT, "specs", "camb_w0wa_cmb.yaml"))
    assert accept is not None


def test_a_sparse_shell_keeps_a_chains_proposals_inside(tmp_path):
    """The w0wa demo's posterior (Planck-lite + lensing + DESI DR2 + Union3): 3,000 design points
    in 5 of its sigma hold about three proposals in four; a fifth of them moved out to a 10-sigma
    shell (`sampling.shell`) hold about 99% (docs/accuracy.md)."""
    import yaml

    from zelos.learning.coverage import read_covmat, spec_region

    covmat = os.path.join(ROOT, "examples", "covmats", "planck_lite_lensing_desi_union3_w0wa.covmat")
    spec = yaml.safe_load(open(os.path.join(ROOT, "specs", "camb_w0wa_cmb.yaml")))
    spec["reference"]["covariance"] = {"file": covmat}
    held = {}
    for label, shell in (("plain", None), ("shell", {"sigmas": 10.0, "fraction": 0.2})):
        spec["sampling"] = {"design": "ellipsoid", "sigmas": 5.0, "points": 3000, "test_points": 10, "seed": 2,
                            **({"shell": shell} if shell else {})}
        path = tmp_path / f"{label}.yaml"
        path.write_text(yaml.safe_dump(spec))
        region, accept, parameters, _ = spec_region(str(path))
        names, cov = read_covmat(covmat, parameters)
        mean = [spec["reference"]["center"][n] for n in names]
        held[label] = proposal_coverage(region, names, mean, cov, draws=4000, accept=accept).proposals
    assert held["plain"] < 0.85 and held["shell"] > 0.97, held
