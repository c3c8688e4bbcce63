"""`zelos validate`: an emulator against its code on real likelihoods (DESI DR2, Union3), and the
result written into the archive without touching what it emulates."""

import json
import os
import shutil
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("cobaya", reason="cobaya is not installed (pip install zelos[cobaya])")

import zelos  # noqa: E402
from zelos import _zelos  # noqa: E402
from zelos.build.validate import cobaya_params, likelihood_accuracy, markdown, write_into_archive  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "cobaya_packages"))
LIKELIHOODS = {"bao.desi_dr2": None, "sn.union3": None}

pytestmark = pytest.mark.skipif(
    not os.path.isdir(os.path.join(PACKAGES, "data", "bao_data")),
    reason=f"the likelihood data are not at {PACKAGES} (see ../shared/data/README.md)")


@pytest.fixture(scope="module")
def shipped_copy(tmp_path_factory):
    path = tmp_path_factory.mktemp("validate") / "CAMB_LCDM_background.tar.gz"
    shutil.copy(zelos.get_emulator("CAMB_LCDM_background").path, path)
    return str(path)


def inside_points(emulator, n, seed=0):
    # Well inside the box, where the trust region holds (the box's middle half).
    rng = np.random.default_rng(seed)
    lo, hi = np.asarray(emulator.lower), np.asarray(emulator.upper)
    mid, half = (lo + hi) / 2, (hi - lo) / 4
    return mid + half * rng.uniform(-1, 1, size=(n, len(lo)))


def test_likelihood_accuracy_of_the_shipped_background_emulator(shipped_copy):
    emu = zelos.load(shipped_copy)
    points = inside_points(emu, 8)
    section = likelihood_accuracy(shipped_copy, LIKELIHOODS, points, PACKAGES, progress=False)
    assert section["points"] == 8 and section["outside_trust_region"] == 0
    assert set(section["likelihoods"]) == set(LIKELIHOODS)
    for name, e in section["likelihoods"].items():
        # the emulator is good (report: 5.5e-5) but not exact: a difference, and a small one
        assert 0 < e["abs_delta_logp_max"] < 0.05, (name, e)
        assert e["abs_delta_chi2_p50"] == pytest.approx(2 * e["abs_delta_logp_p50"])
    assert set(section["derived"]) == {d for d in ("rdrag", "zdrag", "omegam") if d in emu.outputs}
    for name, e in section["derived"].items():
        assert e["abs_rel_max"] < 1e-3, (name, e)
    assert section["seconds_per_point"]["zelos"] < section["seconds_per_point"]["code"]
    assert "| `bao.desi_dr2` |" in markdown(section)
    # the code in two worker processes: the same numbers, point for point
    parallel = likelihood_accuracy(shipped_copy, LIKELIHOODS, points, PACKAGES, progress=False, processes=2)
    assert parallel["likelihoods"] == section["likelihoods"] and parallel["derived"] == section["derived"]

    # Written into the archive: the report gains the section, nothing emulated changes.
    before = emu(points)
    old_sha = emu.sha256
    section["command"] = "zelos validate (test)"
    sha = write_into_archive(shipped_copy, section)
    again = zelos.load(shipped_copy)
    assert sha == again.sha256 != old_sha
    assert again.report["likelihood_accuracy"]["likelihoods"]["sn.union3"] == section["likelihoods"]["sn.union3"]
    assert again.report_markdown.count("## Accuracy on real likelihoods") == 1
    for name, value in again(points).items():
        np.testing.assert_array_equal(value, before[name])
    # validating again replaces the section instead of appending a second one
    write_into_archive(shipped_copy, section)
    assert zelos.load(shipped_copy).report_markdown.count("## Accuracy on real likelihoods") == 1
    members = _zelos.read_archive_members(shipped_copy)
    assert json.loads(members["report.json"])["likelihood_accuracy"]["command"] == "zelos validate (test)"


def test_params_block_samples_logA_as_planck_does():
    ranges = SimpleNamespace(parameters=["ombh2", "logA"], lower=[0.02, 2.9], upper=[0.025, 3.2])
    params = cobaya_params(ranges, fixed={"A_planck": 1.0}, derived=["H0"])
    assert params["logA"] == {"prior": {"min": 2.9, "max": 3.2}, "drop": True}
    assert params["As"] == {"value": "lambda logA: 1e-10 * np.exp(logA)"}
    assert params["A_planck"] == {"value": 1.0} and params["H0"] is None


def test_the_start_up_accuracy_line_names_each_validated_likelihood_in_full():
    """Two BAO likelihoods must not both read `bao` in the line a plugin prints at start-up."""
    from zelos.build.report import accuracy_summary

    report = {"likelihood_accuracy": {"likelihoods": {"bao.sdss_dr16_baoplus_lrg": {"abs_delta_chi2_p99": 0.0136},
                                                      "bao.sdss_dr16_baoplus_qso": {"abs_delta_chi2_p99": 0.0085}}}}
    line = accuracy_summary(report)
    assert "bao.sdss_dr16_baoplus_lrg 0.014" in line and "bao.sdss_dr16_baoplus_qso 0.0085" in line, line
    assert accuracy_summary({"summary": {"max_relative_error": 5.5e-5, "worst_output": "omegam"}}) == \
        "max rel. error 5.5e-05 (omegam) on held-out points"


def test_a_point_where_the_code_failed_is_counted_not_averaged():
    """A held-out point where a likelihood is -inf on either side (the code failed) has no
    difference: left out and counted, so that no NaN reaches report.json (which the core's JSON
    reader would refuse)."""
    import json
    import math

    from zelos.build.validate import _summarise

    rows = [({"p": 1.0}, {"like": -10.0}, {"like": -10.01}, {"H0": 67.0}, {"H0": 67.001}),
            ({"p": 2.0}, {"like": -float("inf")}, {"like": -float("inf")}, {"H0": 70.0}, {"H0": 70.0}),
            ({"p": 3.0}, {"like": -12.0}, {"like": -12.02}, {"H0": 68.0}, {"H0": 68.0})]
    out = _summarise(rows, 0, {"code": 3.0, "zelos": 0.3}, {"name": "camb", "version": "2.0.5"}, {})
    assert out["points"] == 2 and out["not_finite"] == 1
    assert out["likelihoods"]["like"]["abs_delta_logp_max"] == pytest.approx(0.02)
    assert all(math.isfinite(v) for v in out["likelihoods"]["like"].values())
    json.loads(json.dumps(out, allow_nan=False))


def test_errors_near_a_likelihoods_best_point_are_stated_apart():
    """Far from a likelihood's best fit its chi2 is steep, so a theory error costs more |delta chi2|
    there, at points a chain on it never accepts: the summary also states the errors within
    25 in chi2 of the best held-out point."""
    from zelos.build.validate import _summarise, markdown

    # chi2 (the code's) 10, 20, 30, 100, 400; |delta chi2| 0.002, 0.004, 0.006, 0.05, 0.4
    rows = [({"p": float(i)}, {"bao": -c / 2 + d / 2}, {"bao": -c / 2}, {}, {})
            for i, (c, d) in enumerate([(10, 0.002), (20, 0.004), (30, 0.006), (100, 0.05), (400, 0.4)])]
    out = _summarise(rows, 0, {"code": 1.0, "zelos": 0.1}, {"name": "camb", "version": "2.0.5"}, {})
    entry = out["likelihoods"]["bao"]
    assert entry["near_best_points"] == 3 and entry["near_best_within_delta_chi2"] == 25
    assert entry["near_best_abs_delta_chi2_max"] == pytest.approx(0.006)
    assert out["likelihoods"]["bao"]["abs_delta_chi2_max"] == pytest.approx(0.4)
    assert "| 3, 0.00596, 0.006 |" in markdown(out)


def test_held_out_points_are_drawn_again_when_the_build_folder_is_gone():
    """A shipped archive validated on a machine without its build folder (CAMB_w0wa_CMB's was
    lost with its machine): the spec's design draws the same held-out points again."""
    from zelos.build.design import draw
    from zelos.build.plan import plan
    from zelos.build.validate import held_out_points

    emulator = zelos.get_emulator("CAMB_w0wa_CMB")
    with pytest.warns(RuntimeWarning, match="drew the spec's 250 test points again"):
        points = held_out_points(emulator.path, 20, workdir="/nonexistent/CAMB_w0wa_CMB.build")
    _, expected = draw(plan(zelos.load_spec(os.path.join(ROOT, "specs", "camb_w0wa_cmb.yaml"))), ROOT)
    np.testing.assert_allclose(points, expected[:20], rtol=1e-12)


def test_errors_in_the_core_of_a_shell_design_are_stated_apart():
    """A design with a sparse outer shell (sampling.shell) puts a fifth of the held-out points far
    out, where errors are larger: the summary states the core's errors too; the split is the
    design's own radius (a fifth of the held-out points of a 0.2 shell lie beyond the core)."""
    from zelos.build.design import draw, shell_split
    from zelos.build.plan import plan
    from zelos.build.validate import _summarise, markdown

    spec = zelos.load_spec(os.path.join(ROOT, "specs", "camb_omk_cmb.yaml"))
    _, test = draw(plan(spec), os.path.join(ROOT, "specs"))
    in_core, sigmas = shell_split(spec, test)
    assert sigmas == spec["sampling"]["sigmas"] and 0.72 < in_core.mean() < 0.88
    without = {**spec, "sampling": {k: v for k, v in spec["sampling"].items() if k != "shell"}}
    assert shell_split(without, test) is None

    # |delta chi2| 0.01 in the core, 0.5 in the shell; one core point failed (left out)
    rows = [({"p": float(i)}, {"plik": -10.0 + (0.005 if core else 0.25)}, {"plik": -10.0}, {}, {})
            for i, core in enumerate([True, True, True, False, False])]
    rows.append(({"p": 9.0}, {"plik": -float("inf")}, {"plik": -10.0}, {}, {}))
    out = _summarise(rows, 0, {"code": 1.0, "zelos": 0.1}, {"name": "camb", "version": "2.0.5"}, {},
                     core=(np.array([True, True, True, False, False, True]), 5.0))
    entry = out["likelihoods"]["plik"]
    assert entry["core_points"] == 3 and entry["core_sigmas"] == 5.0
    assert entry["core_abs_delta_chi2_max"] == pytest.approx(0.01) and entry["abs_delta_chi2_max"] == pytest.approx(0.5)
    text = markdown(out)
    assert "core: points, median, p99" in text and "| 3, 0.01, 0.01 |" in text and "within 5 sigma" in text
    assert "core:" not in markdown(_summarise(rows[:5], 0, {"code": 1.0, "zelos": 0.1},
                                              {"name": "camb", "version": "2.0.5"}, {}))


def test_a_shell_design_validates_on_its_core_and_trains_on_every_shell_point():
    """Validation points picked over a shell design are ruled by its far points (training then
    stopped within ~100 of 1000 epochs): they are drawn from the core, and the shell all trains."""
    from zelos.build.design import draw, shell_split
    from zelos.build.plan import plan
    from zelos.build.train import validation_pool, validation_split

    spec = zelos.load_spec(os.path.join(ROOT, "specs", "camb_w0wa_cmb.yaml"))
    points, _ = draw(plan(spec), os.path.join(ROOT, "specs"))
    pool = validation_pool(spec, points)
    in_core, _ = shell_split(spec, points)
    np.testing.assert_array_equal(pool, in_core)
    train_idx, val_idx = validation_split(len(points), 0.1, 1, pool)
    assert len(val_idx) == 400 and pool[val_idx].all()
    assert np.array_equal(np.sort(np.concatenate([train_idx, val_idx])), np.arange(len(points)))
    assert np.flatnonzero(~pool).size > 0 and np.isin(np.flatnonzero(~pool), train_idx).all()
    # Without a shell the split is the plain one, over every point.
    without = {**spec, "sampling": {k: v for k, v in spec["sampling"].items() if k != "shell"}}
    assert validation_pool(without, points) is None
    _, plain = validation_split(len(points), 0.1, 1, None)
    assert not pool[plain].all()
    # a design too small to have a core validates on all its points
    np.testing.assert_array_equal(validation_split(10, 0.2, 1, np.zeros(10, bool))[1], validation_split(10, 0.2, 1)[1])
