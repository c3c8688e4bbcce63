"""zelos.routing: trust regions, the router and the point log through the Python API."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import zelos
from zelos import _zelos
from zelos.routing import Fallback, PointLog, Router, TrustRegion, read_point_log
from zelos.testing import LCDM, random_archive, spec_yaml

PARAMS = list(LCDM)
CENTRE = {k: (lo + hi) / 2 for k, (lo, hi) in LCDM.items()}


def archive(path, *, seed=0, ranges=LCDM, n_points=400, accuracy=None, trust=None, name="tt", settings=None):
    """A small random TT emulator whose region holds training points (uniform in the box)."""
    rng = np.random.default_rng(seed)
    params = list(ranges)
    p = len(params)
    lo = np.array([ranges[k][0] for k in params])
    hi = np.array([ranges[k][1] for k in params])
    n_out = 10
    tensors = {"input.shift": (lo + hi) / 2, "input.scale": (hi - lo) / 2}
    sizes = [p, 8, n_out]
    for i in range(2):
        tensors[f"tt.{i}.weight"] = rng.uniform(-0.5, 0.5, (sizes[i + 1], sizes[i]))
        tensors[f"tt.{i}.bias"] = rng.uniform(-0.1, 0.1, sizes[i + 1])
    tensors["grid.ell"] = np.arange(2, n_out + 2, dtype=float)
    model = {
        "model_format": 1, "parameters": params, "input": {"shift": "input.shift", "scale": "input.scale"},
        "networks": [{"name": "tt", "activation": "tanh", "layers": 2, "output_transform": [],
                      "outputs": [{"name": "dl_tt", "shape": [n_out], "axes": ["ell"]}]}],
        "grids": {"ell": "grid.ell"},
    }
    region = {"lower": lo, "upper": hi}
    if n_points:
        region["points"] = lo + (hi - lo) * rng.uniform(size=(n_points, p))
    report = {"summary": {"max_relative_error": accuracy}} if accuracy is not None else {"note": "none"}
    yaml = spec_yaml(name, ranges, n_out + 1) + (f"trust:\n{textwrap.indent(trust, '  ')}\n" if trust else "")
    if settings is not None:
        yaml = yaml.replace("settings: {lens_potential_accuracy: 1}", f"settings: {settings}")
    _zelos.write_emulator_archive(os.fspath(path), yaml, json.dumps(model), tensors, region, json.dumps(report), "# t\n")
    return zelos.load(path)


# -- trust regions -----------------------------------------------------------------------------

def test_box_reason_names_the_parameter():
    r = TrustRegion(PARAMS, "box", lower=[LCDM[k][0] for k in PARAMS], upper=[LCDM[k][1] for k in PARAMS])
    assert r.methods == ("box",)
    d = r.decide({**CENTRE, "tau": 0.2})
    assert not d.inside and d.method == "box"
    assert d.reason == "outside the box: `tau` = 0.2 > 0.09"
    assert d.distance == pytest.approx((0.2 - 0.06) / 0.03)
    assert d.excess == pytest.approx(d.distance - 1)
    assert {**CENTRE} in r
    with pytest.raises(zelos.ParameterError, match=r"^trust region: parameter `omch2` is NaN; expected a finite number$"):
        r.decide({**CENTRE, "omch2": float("nan")})


def test_chi_square_threshold_matches_scipy_and_covers_gaussians():
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    a = rng.normal(size=(6, 6))
    cov = a @ a.T + 6 * np.eye(6)
    mean = rng.normal(size=6)
    r = TrustRegion(PARAMS, "mahalanobis", lower=mean - 100, upper=mean + 100, mean=mean, covariance=cov, chi2_quantile=0.95)
    assert r.mahalanobis_threshold == pytest.approx(np.sqrt(scipy_stats.chi2.ppf(0.95, 6)), rel=1e-10)
    x = rng.multivariate_normal(mean, cov, size=40_000)
    inside, excess = r.decide_batch(x)
    assert abs(inside.mean() - 0.95) < 5 * np.sqrt(0.95 * 0.05 / len(x))
    assert np.all(excess[inside] == 0) and np.all(excess[~inside] > 0)
    d = r.decide(mean + 10 * np.sqrt(np.diag(cov)))
    assert d.reason.startswith("mahalanobis distance ") and " > threshold 3.5485 (sqrt of the chi-square(6) 0.95 quantile)" in d.reason


def test_hull_of_a_simplex_classifies_exactly():
    d = 6
    vertices = np.vstack([np.zeros(d), np.eye(d)])
    r = TrustRegion([f"p{j}" for j in range(d)], ["hull"], lower=np.zeros(d), upper=np.ones(d), points=vertices)
    rng = np.random.default_rng(2)
    w = rng.dirichlet(np.ones(d + 1), size=500)
    centre = np.full(d, 1 / (d + 1))
    x = centre + rng.uniform(0.5, 1.5, size=(500, 1)) * (w[:, 1:] - centre)
    margin = np.minimum(x.min(axis=1), (1 - x.sum(axis=1)) / np.sqrt(d))
    keep = np.abs(margin) > 1e-6
    inside, _ = r.decide_batch(x[keep])
    assert np.array_equal(inside, margin[keep] > 0)
    assert 100 < inside.sum() < 400
    out = r.decide(np.full(d, 0.5))
    assert out.method == "hull" and out.reason.startswith("outside the convex hull of the 7 training points")


def test_region_of_an_emulator_and_skipped_methods(tmp_path):
    path = tmp_path / "box_only.tar.gz"
    random_archive(path, hidden=1, width=8, n_out=10)
    r = TrustRegion.from_emulator(zelos.load(path))
    assert r.methods == ("box",)
    assert r.skipped == ("mahalanobis not checked: the archive holds no training mean and covariance (nor points)",)
    assert r.decide(CENTRE).reason.endswith("; mahalanobis not checked: the archive holds no training mean and covariance (nor points)")
    full = TrustRegion.from_emulator(archive(tmp_path / "full.tar.gz", trust="method: [box, mahalanobis, hull]"))
    assert full.methods == ("box", "mahalanobis", "hull") and full.skipped == ()
    assert full.decide(CENTRE).inside


# -- the router --------------------------------------------------------------------------------

@pytest.fixture()
def two(tmp_path):
    narrow_ranges = {k: (lo + 0.3 * (hi - lo), hi - 0.3 * (hi - lo)) for k, (lo, hi) in LCDM.items()}
    broad = archive(tmp_path / "broad.tar.gz", seed=1, accuracy=1e-2, name="broad")
    narrow = archive(tmp_path / "narrow.tar.gz", seed=2, ranges=narrow_ranges, accuracy=1e-3, name="narrow")
    return broad, narrow


def test_router_prefers_the_most_accurate_covering_emulator(two):
    broad, narrow = two
    router = Router({"broad": broad, "narrow": narrow})
    assert router.keys() == ["narrow", "broad"] and len(router) == 2 and "broad" in router
    routes = router.route(CENTRE, ["dl_tt", "pk_lin"])
    assert routes["dl_tt"].key == "narrow" and routes["dl_tt"].served
    assert routes["pk_lin"].fallback == Fallback("output_not_emulated", "no emulator emulates this output")
    off = {**CENTRE, "ns": LCDM["ns"][0] + 0.01}
    assert router.route(off, ["dl_tt"])["dl_tt"].key == "broad"
    values, keys, fallbacks = router.evaluate_with_keys(off, ["dl_tt"])
    assert keys == {"dl_tt": "broad"} and fallbacks == {}
    np.testing.assert_array_equal(values["dl_tt"], broad(off)["dl_tt"])
    values, fallbacks = router.evaluate(CENTRE, ["dl_tt"])
    np.testing.assert_array_equal(values["dl_tt"], narrow(CENTRE)["dl_tt"])
    entry = router.entries()[0]
    assert entry["key"] == "narrow" and entry["accuracy"] == 1e-3 and entry["outputs"] == ["dl_tt"]
    assert entry["methods"] == ["box", "mahalanobis"]


def test_fallback_reasons(two):
    broad, narrow = two
    router = Router({"broad": broad, "narrow": narrow})
    far = {**CENTRE, "tau": 0.2}
    fb = router.route(far, ["dl_tt"])["dl_tt"].fallback
    assert fb.kind == "outside_every_region" and fb.nearest == "broad"
    assert fb.distance == pytest.approx((0.2 - 0.06) / 0.03 - 1)
    assert fb.detail == f"outside every trust region; nearest: `broad` ({fb.distance:.4f} beyond it): outside the box: `tau` = 0.2 > 0.09"
    nan = router.route({**CENTRE, "omch2": float("nan")}, ["dl_tt"])["dl_tt"].fallback
    assert (nan.kind, nan.parameter) == ("non_finite_input", "omch2")
    lacking = dict(CENTRE)
    del lacking["logA"]
    missing = router.route(lacking, ["dl_tt"])["dl_tt"].fallback
    assert (missing.kind, missing.parameter) == ("missing_parameter", "logA")
    assert missing.detail == "the point lacks parameter `logA`, which `narrow` takes"
    # Extra parameters do not matter; a fixed one (the spec's code.settings) must keep its value.
    assert router.route({**CENTRE, "A_planck": 1.0}, ["dl_tt"])["dl_tt"].served
    assert router.route({**CENTRE, "lens_potential_accuracy": 1}, ["dl_tt"])["dl_tt"].served
    fixed = router.route({**CENTRE, "lens_potential_accuracy": 4}, ["dl_tt"])["dl_tt"].fallback
    assert fixed.kind == "parameter_not_emulated" and fixed.parameter == "lens_potential_accuracy"
    router.add("narrow", narrow, fixed={"mnu": 0.06})
    assert router.route({**CENTRE, "mnu": 0.06}, ["dl_tt"])["dl_tt"].key == "narrow"
    assert router.route({**CENTRE, "mnu": 0.1}, ["dl_tt"])["dl_tt"].key == "broad"


def test_one_definition_of_the_parameters_the_settings_hold_fixed(tmp_path):
    # Numbers and strings that read as numbers (CLASS's `N_ur: "2.0328"`) are fixed parameters;
    # booleans, words and lists are not. The router, the plugins' plans (code_inputs) and
    # `zelos retrain` read the one list the core makes (Emulator.fixed_settings).
    from zelos import code_inputs

    emu = archive(tmp_path / "s.tar.gz", settings="{mnu: 0.06, N_ur: '2.0328', lens_potential_accuracy: 1, "
                  "share_delta_neff: true, dark_energy_model: ppf, redshifts_list: [1, 2]}")
    want = {"mnu": 0.06, "N_ur": 2.0328, "lens_potential_accuracy": 1.0}
    assert emu.fixed_settings == want and list(emu.fixed_settings) == list(want)
    router = Router({"s": emu})
    assert dict(router.entries()[0]["fixed"]) == want
    assert code_inputs.fixed_values(emu, [])[0] == want  # nothing in its outputs makes them irrelevant
    for name, value in (("N_ur", 3.0), ("mnu", 0.1)):
        fb = router.route({**CENTRE, name: value}, ["dl_tt"])["dl_tt"].fallback
        assert fb.kind == "parameter_not_emulated" and fb.parameter == name
    assert router.route({**CENTRE, "N_ur": 2.0328, "share_delta_neff": 0.0}, ["dl_tt"])["dl_tt"].served


def test_the_router_and_the_plugins_compare_a_held_value_alike(tmp_path):
    # "Is this the emulator's setting?" is asked by the router (Rust) and by the plugins' plans,
    # fallback settings and start-up checks (code_inputs.same): one tolerance, so a point the
    # router serves is never called off-setting by a plugin, nor the reverse.
    from zelos import code_inputs

    assert code_inputs.FIXED_VALUE_RTOL == _zelos.FIXED_VALUE_RTOL == 1e-9
    emu = archive(tmp_path / "s.tar.gz", settings="{mnu: 0.06, omk: 0.0}")
    router = Router({"s": emu})
    for name, held in (("mnu", 0.06), ("omk", 0.0)):
        for value in (held, held * (1 + 4e-10), held * (1 - 9e-10), held * (1 + 2e-9), held - 1e-9,
                      held + 1e-15, -0.0 if held == 0 else held * 1.001):
            served = router.route({**CENTRE, name: value}, ["dl_tt"])["dl_tt"].served
            assert served == code_inputs.same(value, held) == code_inputs.same(str(value), held), (name, value)
    assert code_inputs.same(0.06 * (1 + 4e-10), 0.06) and not code_inputs.same(0.06 * (1 + 2e-9), 0.06)
    assert not code_inputs.same(1e-15, 0.0) and code_inputs.same(-0.0, 0.0)


def test_swap_while_threads_route(tmp_path, two):
    broad, narrow = two
    new = archive(tmp_path / "narrow2.tar.gz", seed=5, ranges={k: (lo + 0.3 * (hi - lo), hi - 0.3 * (hi - lo)) for k, (lo, hi) in LCDM.items()}, accuracy=1e-3)
    router = Router({"broad": broad, "narrow": narrow})
    expected = {narrow(CENTRE)["dl_tt"].tobytes(), new(CENTRE)["dl_tt"].tobytes()}
    stop = threading.Event()
    errors, seen = [], set()

    def worker():
        try:
            while not stop.is_set():
                values, keys, fallbacks = router.evaluate_with_keys(CENTRE, ["dl_tt"])
                assert not fallbacks and keys == {"dl_tt": "narrow"}
                got = values["dl_tt"].tobytes()
                assert got in expected
                seen.add(got)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(100):
        old_sha = router.add("narrow", new if i % 2 == 0 else narrow)
        assert old_sha in (new.sha256, narrow.sha256)
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert router.generation == 102


# -- the point log ------------------------------------------------------------------------------

def test_point_log_round_trip_and_router_logging(tmp_path, two):
    broad, _ = two
    log_dir = tmp_path / "points"
    router = Router({"broad": broad}, point_log=log_dir)
    far = {**CENTRE, "tau": 0.2}
    values, fallbacks = router.evaluate(far, ["dl_tt", "rdrag"])
    assert values == {} and set(fallbacks) == {"dl_tt", "rdrag"}
    computed = {"dl_tt": np.linspace(0, 1, 10), "rdrag": np.float64(147.1), "pk_lin": np.arange(6.0).reshape(2, 3)}
    seq = router.log_fallback(far, fallbacks, computed)
    assert seq == 0
    router.point_log.flush()
    assert router.point_log.acknowledged == 1
    name = os.path.basename(router.point_log.path)
    assert name.startswith("points.") and name.endswith(f".{os.getpid()}.jsonl")
    [p] = read_point_log(log_dir)
    assert p["reason"] == "outside_every_region" and p["nearest"] == "broad"
    assert p["distance"] == pytest.approx(fallbacks["dl_tt"].distance)
    assert p["parameters"] == far and list(p["parameters"]) == list(far)
    assert p["pid"] == os.getpid() and p["seq"] == 0
    for k, v in computed.items():
        np.testing.assert_array_equal(p["outputs"][k], v)
        assert p["outputs"][k].shape == np.shape(v)
    with PointLog(tmp_path / "other", file_name="points.x.1.jsonl") as log:
        log.log({"H0": float("inf")}, reason="non_finite_input", detail="parameter `H0` is not a finite number")
    assert read_point_log(tmp_path / "other")[0]["parameters"] == {"H0": float("inf")}
    with pytest.raises(zelos.ZelosError, match="the point log is closed"):
        log.log({"H0": 1.0}, reason="x")


CHILD = """
import sys, numpy as np
from zelos.routing import PointLog
log = PointLog(sys.argv[1])
last = 0
i = 0
while True:
    log.log({"omch2": 0.12 + 1e-6 * i, "H0": 67.0}, reason="outside_every_region", detail=str(i),
            outputs={"dl_tt": np.full(50, float(i))})
    i += 1
    a = log.acknowledged
    if a > last:
        last = a
        print("ack", a, flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_acknowledged_points_survive_sigkill(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", CHILD, os.fspath(tmp_path)], stdout=subprocess.PIPE, text=True)
    acked = 0
    for line in child.stdout:
        acked = int(line.split()[1])
        if acked >= 300:
            break
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    points = read_point_log(tmp_path)
    assert len(points) >= acked >= 300
    for i, p in enumerate(points):
        assert p["seq"] == i and p["detail"] == str(i)
        np.testing.assert_array_equal(p["outputs"]["dl_tt"], np.full(50, float(i)))
