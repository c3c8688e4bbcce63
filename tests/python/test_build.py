"""`zelos build` end to end with real CAMB on the tiny spec (seconds)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import zelos
from zelos.build import BuildOptions, build
from zelos.drivers import VersionMismatch
from zelos.build.store import load_training_set

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(ROOT, "specs", "tiny_test.yaml")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    result = build(TINY, BuildOptions(out_dir=str(out), progress=False, processes=2))
    return out, result


def test_build_writes_a_loadable_archive_with_its_report(built):
    out, result = built
    assert result.path == os.path.join(str(out), "tiny_test.tar.gz")
    emu = zelos.load(result.path)
    assert emu.sha256 == result.sha256
    assert emu.parameters == ("ombh2", "omch2", "H0")
    assert set(emu.outputs) == {"H", "D_M", "rdrag"}
    r = emu.report
    assert r["code"] == {"name": "camb", "version": "2.0.5", "installed_version": "2.0.5", "mismatch_override": False, "note": None}
    assert r["data"]["train"] + r["data"]["validation"] == 64 and r["data"]["test"] == 16
    assert set(r["training"]) == {"background", "derived"}
    assert "## Accuracy on held-out points" in emu.report_markdown
    members = zelos._zelos.read_archive_members(result.path)
    assert members["plots/error_histogram.png"].startswith(b"\x89PNG")
    # The trust-region data holds the training points and their moments.
    assert emu.region["points"].shape == (r["data"]["train"] + r["data"]["validation"], 3)


def test_report_errors_equal_an_independent_evaluation(built):
    out, result = built
    emu = zelos.load(result.path)
    test = load_training_set(os.path.join(str(out), "tiny_test.build", "test"))
    for name in ("H", "D_M", "rdrag"):
        worst = []
        for x, truth in zip(test.params, test.outputs[name]):
            # one point at a time, through the plain dict API
            pred = emu(dict(zip(emu.parameters, x)))[name]
            worst.append(np.max(np.abs(pred - truth) / np.abs(truth)))
        reported = emu.report["accuracy"][name]["rel"]
        assert reported["max"] == pytest.approx(max(worst), rel=1e-9)
        assert reported["p95"] == pytest.approx(np.percentile(worst, 95), rel=1e-9)
    # The emulator learned something: far better than the spread of the outputs.
    spread = np.std(test.outputs["rdrag"]) / np.mean(test.outputs["rdrag"])
    assert emu.report["accuracy"]["rdrag"]["rel"]["p68"] < 0.5 * spread


def test_rebuilding_reuses_every_computed_point(built, tmp_path):
    out, _ = built
    # An --out that does not exist yet is made (it once failed at export, after the code had run).
    again = build(TINY, BuildOptions(out_dir=str(tmp_path / "new" / "folder"),
                                     workdir=os.path.join(str(out), "tiny_test.build"), progress=False))
    assert os.path.isfile(again.path)
    assert again.report["data"]["computed"] == 0
    assert again.report["data"]["reused"] == 80


def test_a_linear_baseline_is_a_skip_connection_and_helps(built, tmp_path):
    """`transforms: {outputs: {default: {baseline: linear}}}`: every network gets a linear skip
    (model.json `skip`), the numpy reader of docs/model.md evaluates it as Rust does, and on
    the same points and training the held-out error is smaller than without it."""
    from zelos.reference import NumpyModel

    out, plain = built
    spec = _spec_with(tmp_path, "training:", "transforms:\n  outputs:\n    default: {baseline: linear}\n\ntraining:")
    result = build(spec, BuildOptions(out_dir=str(tmp_path), workdir=os.path.join(str(out), "tiny_test.build"),
                                      progress=False, plots=False))
    assert result.report["data"]["computed"] == 0
    members = zelos._zelos.read_archive_members(result.path)
    model = json.loads(members["model.json"])
    assert [n.get("skip") for n in model["networks"]] == ["background.skip.weight", "derived.skip.weight"]
    emu = zelos.load(result.path)
    test = load_training_set(os.path.join(str(out), "tiny_test.build", "test"))
    flat = np.concatenate([emu(test.params)[name].reshape(len(test.params), -1) for name in emu.outputs], axis=1)
    np.testing.assert_allclose(flat, NumpyModel.from_members(members)(test.params), rtol=2e-5)
    for name in ("H", "rdrag"):
        with_baseline = result.report["accuracy"][name]["rel"]["p95"]
        without = plain.report["accuracy"][name]["rel"]["p95"]
        print(f"[baseline] {name}: held-out p95 relative error {without:.2e} without, {with_baseline:.2e} with")
        assert with_baseline < without, name


def _spec_with(tmp_path, old, new):
    text = open(TINY).read()
    assert old in text
    path = tmp_path / "spec.yaml"
    path.write_text(text.replace(old, new))
    return str(path)


def test_a_pinned_version_that_differs_stops_the_build(tmp_path):
    spec = _spec_with(tmp_path, 'version: "2.0.5"', 'version: "2.0.4"')
    with pytest.raises(VersionMismatch, match=r"camb==2\.0\.4.*2\.0\.5"):
        build(spec, BuildOptions(out_dir=str(tmp_path), progress=False))


def test_the_override_is_recorded_in_the_report(tmp_path):
    spec = _spec_with(tmp_path, 'version: "2.0.5"', 'version: "2.0.4"')
    spec = spec  # same file
    result = build(spec, BuildOptions(out_dir=str(tmp_path), progress=False, allow_version_mismatch=True))
    code = zelos.load(result.path).report["code"]
    assert code["mismatch_override"] is True and "2.0.4" in code["note"]


def test_cli_reports_a_bad_spec_with_file_and_key(tmp_path):
    spec = _spec_with(tmp_path, "hidden_layers: 2", "hidden_layers: two")
    proc = subprocess.run([sys.executable, "-m", "zelos", "build", spec, "--out", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert f"{spec}: `emulator.hidden_layers`" in proc.stderr, proc.stderr


def test_cli_info_prints_the_report(built):
    _, result = built
    proc = subprocess.run([sys.executable, "-m", "zelos", "info", result.path, "--json"], capture_output=True, text=True, check=True)
    info = json.loads(proc.stdout)
    assert info["name"] == "tiny_test" and info["outputs"]["H"] == [8]


def test_a_sobol_build_inside_constraints_shrinks_and_grows_without_recomputing(tmp_path):
    """A long build over several sittings: `sampling.points` lowered to what a stopped
    generation finished keeps those points; raised later, only the new ones are computed. The
    region's `constraints` hold for every point and travel in the archive."""
    def spec(points):
        return _spec_with(tmp_path, "sampling:\n  design: latin_hypercube\n  points: 64",
                          "constraints:\n  - {terms: {ombh2: 1.0, omch2: 1.0}, max: 0.15}\n\n"
                          f"sampling:\n  design: sobol\n  points: {points}")

    work = str(tmp_path / "work")
    options = BuildOptions(out_dir=str(tmp_path / "out"), workdir=work, progress=False, plots=False, processes=0)
    logged = []
    first = build(spec(40), options)
    assert first.report["data"]["computed"] == 40 + 16
    train = load_training_set(os.path.join(work, "train"))
    assert np.all(train.params[:, 0] + train.params[:, 1] <= 0.15)
    shrunk = build(spec(24), options, log=lambda *a, **k: logged.append(" ".join(map(str, a))))
    assert shrunk.report["data"]["computed"] == 0 and shrunk.report["data"]["reused"] == 24 + 16
    assert any("made for 40 points of this `sobol` design, now 24: kept the 24 finished" in m for m in logged)
    grown = build(spec(48), options)
    assert grown.report["data"]["computed"] == 24 and grown.report["data"]["reused"] == 24 + 16
    np.testing.assert_array_equal(load_training_set(os.path.join(work, "train")).params[:40], train.params)
    emu = zelos.load(grown.path)
    assert emu.spec["constraints"] == [{"terms": {"ombh2": 1.0, "omch2": 1.0}, "max": 0.15}]
    with pytest.raises(zelos.OutOfRange, match=r"`ombh2 \+ omch2` = 0\.16"):
        emu({"ombh2": 0.024, "omch2": 0.136, "H0": 70.0})


def test_background_points_train_the_background_network_only(built, tmp_path):
    """`sampling.background_points`: more points of the design, the background alone computed
    (their own store), that the `background` network trains on beside the design's points."""
    spec = _spec_with(tmp_path, "  points: 64\n", "  points: 64\n  background_points: 192\n")
    result = build(spec, BuildOptions(out_dir=str(tmp_path / "out"), progress=False, processes=2))
    data, training = result.report["data"], result.report["training"]
    assert data["background_points"] == 192
    assert training["background"]["train_points"] == data["train"] + 192
    assert training["derived"]["train_points"] == data["train"]
    extra = load_training_set(str(tmp_path / "out" / "tiny_test.build" / "background"))
    assert len(extra) == 192 and set(extra.outputs) == {"H", "D_M"}  # no rdrag: the background alone
    design = load_training_set(str(tmp_path / "out" / "tiny_test.build" / "train"))
    assert not set(map(tuple, extra.params.round(12))) & set(map(tuple, design.params.round(12)))
    assert "192 points of the same design" in zelos.load(result.path).report_markdown
    # Four times the points for the background network: its held-out errors fall, the derived's do not move.
    _, without = built
    for name in ("H", "D_M"):
        assert result.report["accuracy"][name]["rel"]["p68"] < 0.85 * without.report["accuracy"][name]["rel"]["p68"]
    assert result.report["accuracy"]["rdrag"] == without.report["accuracy"]["rdrag"]
