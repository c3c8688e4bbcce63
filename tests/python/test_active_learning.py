"""The active-learning loop with real Cobaya chains (DESI DR2 BAO + Union3, MCMC, `theory: zelos`),
real CAMB and an emulator trained on a deliberately narrow box (docs/active-learning.md):

- a chain falls back often; `zelos retrain` on its point log; a second chain with the same seed
  on the same data falls back much less (rates printed: run with -s);
- online mode (`retrain: {every: N}`): a retrain in the background, swapped in mid-chain with no
  failed step, fewer fallbacks after the swap;
- a background job that dies leaves the chain alone.

The narrow emulator (background only, 300 CAMB points, a small network) is built once and cached
under build-out/tests/ keyed by its spec's text.
"""

import logging
import os
import sys
import time

import numpy as np
import pytest

pytest.importorskip("camb")
cobaya = pytest.importorskip("cobaya", reason="cobaya is not installed (pip install zelos[cobaya])")

import zelos  # noqa: E402
from cobaya.run import run  # noqa: E402
from small_specs import small_background_spec  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "cobaya_packages"))
# About 1.5 sigma of the DESI DR2 + Union3 (+ BBN) posterior on each side: a chain spends about
# half of its calls outside.
NARROW = {"ombh2": [0.0212, 0.0232], "omch2": [0.110, 0.130], "H0": [66.8, 70.6]}
PARAMS = {
    "ombh2": {"prior": {"dist": "norm", "loc": 0.02218, "scale": 0.00055}, "ref": 0.0222, "proposal": 0.0003},
    "omch2": {"prior": {"min": 0.08, "max": 0.16}, "ref": 0.119, "proposal": 0.002},
    "H0": {"prior": {"min": 50, "max": 90}, "ref": 68.5, "proposal": 0.5},
    "rdrag": None,
    "omegam": None,
}
SEED = 7

needs_data = pytest.mark.skipif(
    not os.path.isdir(os.path.join(PACKAGES, "data", "bao_data")),
    reason=f"the likelihood data are not at {PACKAGES} (see ../shared/data/README.md)")


@pytest.fixture(autouse=True)
def _cobaya_logging():
    """cobaya.run adds a root handler on the sys.stdout of the moment (pytest's capture of this
    test, closed afterwards): take it away again, so that later tests do not log into it."""
    handlers, level, hook = logging.root.handlers[:], logging.root.level, sys.excepthook
    yield
    logging.root.handlers[:] = handlers
    logging.root.setLevel(level)
    sys.excepthook = hook


def narrow_spec() -> dict:
    """specs/camb_lcdm_background.yaml on the NARROW box, sized to build in about 15 s."""
    return small_background_spec("narrow_background", "Test fixture: CAMB_LCDM_background on a deliberately "
                                 "narrow box.", NARROW, epochs=800, points=300, test_points=60)


@pytest.fixture(scope="module")
def narrow(cached_build):
    """The narrow emulator, built (or reused from build-out/tests/) with its build folder, which
    retrains read."""
    return cached_build("active-learning", narrow_spec(), log=lambda *a, **k: None)


def chain(archive, log, max_samples, **options):
    """A real Cobaya MCMC, seeded; returns (sampler, zelos theory)."""
    info = {
        "theory": {"zelos": {"emulators": [archive], "log": str(log), "report_every": None, **options}},
        "likelihood": {"bao.desi_dr2": None, "sn.union3": None},
        "params": PARAMS,
        "sampler": {"mcmc": {"max_samples": max_samples, "seed": SEED, "measure_speeds": False,
                             "oversample_power": 0, "Rminus1_stop": 0.001, "max_tries": 10000}},
        "packages_path": PACKAGES,
    }
    if "callback" in options:
        info["theory"]["zelos"].pop("callback")
        info["sampler"]["mcmc"].update(callback_function=options["callback"], callback_every=5)
    _, sampler = run(info)
    return sampler, sampler.model.theory["zelos"]


def finite_samples(sampler) -> bool:
    data = sampler.products()["sample"].data
    return bool(len(data)) and bool(np.isfinite(data[["ombh2", "omch2", "H0", "minuslogpost"]].to_numpy()).all())


def rate(summary: dict) -> float:
    return summary["fallback"] / summary["calls"]


@needs_data
def test_a_second_chain_falls_back_less_after_retraining(narrow, tmp_path, capsys):
    from zelos.learning.retrain import retrain
    from zelos.learning.verdict import judge_retrain

    t0 = time.perf_counter()
    s1, th1 = chain(narrow, tmp_path / "log1", 200)
    first = th1.summary()
    t1 = time.perf_counter()
    assert finite_samples(s1) and first["failed"] == 0
    assert rate(first) > 0.25, first  # the box is narrow: a good fraction falls back

    result = retrain(narrow, [str(tmp_path / "log1")], out_dir=str(tmp_path / "v2"), processes=0, progress=False,
                     log=lambda *a, **k: None)
    t2 = time.perf_counter()
    parent = zelos.load(narrow)
    lineage = result.report["lineage"]
    assert lineage["parent_sha256"] == parent.sha256 and lineage["parent_version"] == "1.0.0"
    assert lineage["version"] == result.report["version"] == "1.0.0+r1"
    # A Cobaya log holds each fallback point in the schema of the emulator that would serve it
    # (its H and D_M on its grid, rdrag...), from the CAMB run that served the likelihoods: every
    # logged point is trained on as logged, none computed again.
    assert lineage["reused"] == lineage["added_points"] == first["fallback"]
    assert lineage["recomputed"] == 0 and lineage["computed"] == 0
    verdict = judge_retrain(narrow, result.path)

    s2, th2 = chain(result.path, tmp_path / "log2", 200)
    second = th2.summary()
    t3 = time.perf_counter()
    assert finite_samples(s2) and second["failed"] == 0
    assert rate(second) < 0.5 * rate(first), (first, second)
    with capsys.disabled():
        print(f"\n[active learning, real chains] fallback rate: first chain {rate(first):.1%} "
              f"({first['fallback']}/{first['calls']} calls, {t1 - t0:.0f} s), retrain on its log "
              f"({lineage['added_points']} points, {t2 - t1:.0f} s; max rel. error "
              f"{result.report['summary']['max_relative_error']:.2g}, verdict: {verdict.reason}), second chain "
              f"{rate(second):.1%} ({second['fallback']}/{second['calls']} calls, {t3 - t2:.0f} s)")


@needs_data
def test_online_retraining_swaps_mid_chain(narrow, tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO)
    after_swap = 300  # calls to run with the new emulator before stopping

    def stop_after_swap(sampler):
        online = sampler.model.theory["zelos"]._online
        if online.swaps and online.calls - online.swaps[0]["call"] >= after_swap:
            sampler.max_samples = sampler.n()  # ends the run cleanly at the next check

    # nice 0: on a busy test machine a niced job would wait for idle cores (the default, 10, is
    # for production chains, which should not share their cores).
    t0 = time.perf_counter()
    sampler, theory = chain(narrow, tmp_path / "log", 3000, retrain={"every": 30, "nice": 0},
                            callback=stop_after_swap)
    wall = time.perf_counter() - t0
    online, summary = theory._online, theory.summary()
    assert online.swaps, f"no swap: {online.rounds}"
    swap = online.swaps[0]
    # The chain went on before and after it, and never failed a step.
    assert 0 < swap["call"] < online.calls and summary["failed"] == 0 and finite_samples(sampler)
    assert summary["calls"] == online.calls and summary["fallback"] == online.fallbacks
    assert swap["swap_seconds"] < 0.005  # one atomic table swap
    assert os.path.isfile(swap["archive"]) and swap["archive"].startswith(str(tmp_path / "log" / "retrained"))
    assert zelos.load(swap["archive"]).spec["version"].startswith("1.0.0+r")
    assert any("online retrain r" in r.getMessage() and "swapped in" in r.getMessage() for r in caplog.records)
    before = swap["fallbacks"] / swap["call"]
    after = (online.fallbacks - swap["fallbacks"]) / (online.calls - swap["call"])
    assert after < before, (before, after)
    with capsys.disabled():
        print(f"\n[online retraining] swap of r{swap['round']} at call {swap['call']} of {online.calls} "
              f"({online.rounds[0]['seconds']:.0f} s in the background, swap {swap['swap_seconds'] * 1e6:.0f} us); "
              f"fallback rate before {before:.1%}, after {after:.1%}; {len(online.swaps)} swaps, "
              f"{len(online.rounds)} retrains finished; chain {wall:.0f} s")


def test_a_background_job_that_dies_leaves_the_chain_alone(narrow, tmp_path, caplog):
    """The job process killed (as by the OOM killer): a warning, the same emulator, and the next
    retrain starts as usual."""
    from zelos.learning.online import OnlineRetrainer, RetrainOptions
    from zelos.routing import PointLog, Router

    caplog.set_level(logging.INFO)
    logger = logging.getLogger("test_active_learning.online")
    emu = zelos.load(narrow, out_of_range="ignore")
    router = Router({"narrow_background": emu})
    log = PointLog(tmp_path / "log")
    online = OnlineRetrainer(router, {"narrow_background": emu}, tmp_path / "log", RetrainOptions(every=1),
                             point_log=log, logger=logger)
    point = {"ombh2": 0.0222, "omch2": 0.12, "H0": 75.0}
    _, fallbacks = router.evaluate(point, ["H"])
    fb = fallbacks["H"]
    log.log_fallback(point, fb)
    sha = router.entries()[0]["sha256"]
    online.poll()
    online.notify(fb)
    deadline = time.time() + 60
    while online._proc[0] is None and time.time() < deadline:
        time.sleep(0.05)
    proc = online._proc[0]
    assert proc is not None, "the background job did not start"
    proc.kill()  # SIGKILL to our own child
    while online.poll() is None and not online.rounds and time.time() < deadline:
        time.sleep(0.05)
    assert online.rounds and "exited with code -9" in online.rounds[0]["error"]
    assert not online.swaps and router.entries()[0]["sha256"] == sha
    assert any("failed" in r.getMessage() and "goes on" in r.getMessage() for r in caplog.records)
    # The chain goes on: routing works, and the next fallback starts the next retrain.
    assert router.evaluate({"ombh2": 0.0222, "omch2": 0.12, "H0": 68.5}, ["H"])[1] == {}
    online.notify(fb)
    assert online._busy and online._started == 2
    online.close()
    log.close()
    assert online._proc[0] is None


def test_the_retrain_option_is_checked():
    from zelos.learning.online import RetrainOptions

    assert RetrainOptions.parse(None) is None and RetrainOptions.parse(False) is None
    opts = RetrainOptions.parse({"every": 50, "extra": 20})
    assert (opts.every, opts.extra, opts.tolerance, opts.nice, opts.max_rounds) == (50, 20, 2.0, 10, None)
    for bad, match in (({"every": 0}, "every"), ({"extra": 5}, "every: 50"), ({"every": 5, "evry": 1}, "unknown"),
                       (50, "mapping"), ({"every": 5, "tolerance": 0}, "tolerance")):
        with pytest.raises(ValueError, match=match):
            RetrainOptions.parse(bad)


@needs_data
def test_the_theory_refuses_retrain_without_a_log(narrow, tmp_path):
    from cobaya.log import LoggedError
    from cobaya.model import get_model

    def model(emulator, **options):
        return get_model({"theory": {"zelos": {"emulators": [emulator], **options}},
                          "likelihood": {"bao.desi_dr2": None}, "params": PARAMS, "packages_path": PACKAGES})

    with pytest.raises(LoggedError, match="set `log`"):
        model(narrow, retrain={"every": 5})
    with pytest.raises(LoggedError, match="every"):
        model(narrow, retrain={"every": 0}, log=str(tmp_path / "a"))


def test_an_archive_without_its_training_set_cannot_be_retrained_online(narrow, archives):
    from zelos.learning.online import why_untrainable

    assert why_untrainable(zelos.load(narrow)) is None
    assert "the training set it was built from is not found" in why_untrainable(zelos.load(archives["tanh32"]))


def test_the_swap_rule_refuses_what_is_not_better(narrow, archives):
    from zelos.build.store import load_training_set
    from zelos.learning.verdict import judge

    emu = zelos.load(narrow, out_of_range="ignore")
    held = load_training_set(os.path.join(emu.report["data"]["workdir"], "test"))
    logged = np.arange(len(held.params)) % 3 == 0  # pretend a third were logged points
    same = judge(emu, emu, held.params, held.outputs, logged)
    assert not same.accept and "not better" in same.reason
    assert same.error_new_test == same.error_old_test == pytest.approx(emu.report["summary"]["max_relative_error"],
                                                                       rel=1e-3)
    other = judge(emu, zelos.load(archives["tanh32"], out_of_range="ignore"), held.params, held.outputs, logged)
    assert not other.accept and "not a drop-in replacement" in other.reason
