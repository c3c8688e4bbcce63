"""Parallel, resumable generation with real CAMB points (background only: about 10 ms a point)."""

import functools
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("camb", reason="generation tests run the CAMB driver (pip install camb==2.0.5)")

from zelos.build.generate import generate  # noqa: E402
from zelos.build.sampling import latin_hypercube  # noqa: E402
from zelos.build.store import StoreError, load_training_set, resize_store, scan  # noqa: E402
from zelos.drivers import OutputRequest  # noqa: E402
from zelos.drivers.camb import CambDriver  # noqa: E402

NAMES = ["ombh2", "omch2", "H0"]
LOWER, UPPER = [0.020, 0.10, 60.0], [0.025, 0.14, 78.0]
SETTINGS = {"mnu": 0.06, "num_massive_neutrinos": 1, "tau": 0.055, "As": 2.1e-9, "ns": 0.965}
REQUEST = dict(background=("H", "D_M", "D_V"), z_bg=[0.1, 0.5, 1.0, 2.0], derived=("H0", "thetastar", "rdrag"))


def factory():
    return functools.partial(CambDriver, SETTINGS, OutputRequest(**REQUEST), "2.0.5")


def direct(points):
    driver = factory()()
    return [driver.compute(dict(zip(NAMES, row))) for row in points]


def assert_same_set(a, b):
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.params, b.params)
    assert list(a.outputs) == list(b.outputs)
    for name in a.outputs:
        np.testing.assert_allclose(a.outputs[name], b.outputs[name], rtol=1e-6, err_msg=name)


def jsonl_lines(store):
    with open(os.path.join(store, "points.jsonl"), "rb") as f:
        return f.read().splitlines()


@pytest.fixture(scope="module")
def points12():
    return latin_hypercube(LOWER, UPPER, 12, seed=1)


def test_parallel_generation_matches_direct_calls(tmp_path, points12):
    ts = generate(factory(), points12, NAMES, tmp_path / "set", processes=2, progress=False)
    assert ts.stats.computed == 12 and ts.stats.already_done == 0 and ts.stats.failed == 0
    assert len(ts) == 12 and ts.failures == []
    np.testing.assert_array_equal(ts.indices, np.arange(12))
    np.testing.assert_array_equal(ts.params, points12)  # exact: the params are stored as JSON floats
    assert ts.names == NAMES
    for i, expected in enumerate(direct(points12)):
        for name, value in expected.items():
            assert ts.outputs[name][i].shape == value.shape
            np.testing.assert_allclose(ts.outputs[name][i], value, rtol=1e-6, err_msg=name)  # float32 on disk
    assert ts.outputs["D_V"].shape == (12, 4) and ts.outputs["H0"].shape == (12,)
    assert ts.outputs["H0"].dtype == np.float64
    # the store: one line per point, one float32 record per ok point
    layout = json.loads((tmp_path / "set" / "layout.json").read_text())
    assert [o["name"] for o in layout["outputs"]] == ["H", "D_M", "D_V", "H0", "thetastar", "rdrag"]
    assert os.path.getsize(tmp_path / "set" / "outputs.f32") == 12 * 4 * (3 * 4 + 3)
    assert len(jsonl_lines(tmp_path / "set")) == 12
    # nothing left to do
    again = generate(factory(), points12, NAMES, tmp_path / "set", processes=2, progress=False)
    assert again.stats.computed == 0 and again.stats.already_done == 12
    assert_same_set(again, ts)
    assert_same_set(load_training_set(tmp_path / "set"), ts)


SLOW_DRIVER = '''
import time
from zelos.drivers.camb import CambDriver

class SlowDriver(CambDriver):
    """The same outputs (and layout) as CambDriver, but slow: 0.1 s for each of a worker's
    first 3 points, then 1 s a point. A run of 40 points lasts some 20 s, far longer than the
    test takes to kill it even on a loaded machine (at 0.1 s a point, a CI run once finished
    before its Ctrl-C arrived)."""
    calls = 0

    def compute(self, params):
        SlowDriver.calls += 1
        time.sleep(0.1 if SlowDriver.calls <= 3 else 1.0)
        return super().compute(params)
'''

RUN = '''
import functools, sys
import numpy as np
sys.path.insert(0, {helper_dir!r})
from slowdrv import SlowDriver
from zelos.drivers import OutputRequest
from zelos.build.generate import generate

if __name__ == "__main__":
    request = OutputRequest(**{request!r})
    factory = functools.partial(SlowDriver, {settings!r}, request, "2.0.5")
    generate(factory, np.load({points!r}), {names!r}, {store!r}, processes=2, progress=False)
'''


def start_slow_run(tmp_path, points, store):
    (tmp_path / "slowdrv.py").write_text(SLOW_DRIVER)
    np.save(tmp_path / "points.npy", points)
    script = tmp_path / "run.py"
    script.write_text(RUN.format(helper_dir=str(tmp_path), request=REQUEST, settings=SETTINGS,
                                 points=str(tmp_path / "points.npy"), names=NAMES, store=str(store)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    # Its own session: the run and its workers form one process group, killed together. Ctrl-C
    # handled by default, as a shell starts a foreground job: an ignored SIGINT is inherited
    # through exec, and Python keeps it ignored (in a full CI session something earlier had
    # left the test process ignoring it, and the run finished instead of stopping).
    return subprocess.Popen([sys.executable, str(script)], env=env, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_lines(proc, store, n, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(store / "points.jsonl") and len(jsonl_lines(store)) >= n:
            return
        if proc.poll() is not None:
            pytest.fail(f"the run ended early: {proc.communicate()[1].decode()[-2000:]}")
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail(f"no {n} points within {timeout} s")


def test_killed_run_resumes_with_only_missing_points(tmp_path):
    points = latin_hypercube(LOWER, UPPER, 40, seed=2)
    store = tmp_path / "killed"
    proc = start_slow_run(tmp_path, points, store)
    wait_for_lines(proc, store, 8)
    os.killpg(proc.pid, signal.SIGKILL)  # no clean-up at all, as on a crash
    proc.wait()
    finished = load_training_set(store)
    n_done = len(finished)
    assert 8 <= n_done < 40, n_done
    # A crash in the middle of a write: a torn line and half a record.
    with open(store / "points.jsonl", "ab") as f:
        f.write(b'{"i": 39, "params": [0.02')
    with open(store / "outputs.f32", "ab") as f:
        f.write(b"\x00" * 10)
    assert len(load_training_set(store)) == n_done  # the torn tail is ignored
    resumed = generate(factory(), points, NAMES, store, processes=2, progress=False)
    assert resumed.stats.already_done == n_done
    assert resumed.stats.computed == 40 - n_done  # only the missing indices
    assert len(resumed) == 40
    lines = [json.loads(line) for line in jsonl_lines(store)]
    assert sorted(e["i"] for e in lines) == list(range(40))  # each index once, tail repaired
    clean = generate(factory(), points, NAMES, tmp_path / "clean", processes=0, progress=False)
    assert_same_set(resumed, clean)


def test_ctrl_c_stops_cleanly_and_keeps_finished_points(tmp_path):
    points = latin_hypercube(LOWER, UPPER, 40, seed=3)
    store = tmp_path / "interrupted"
    proc = start_slow_run(tmp_path, points, store)
    wait_for_lines(proc, store, 4)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends to the foreground group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and b"KeyboardInterrupt" in err
    layout = json.loads((store / "layout.json").read_text())
    entries, kept_bytes, n_records = scan(str(store), layout)
    # Stopped between points: every line whole, every record complete, nothing torn.
    assert kept_bytes == os.path.getsize(store / "points.jsonl")
    assert n_records * 4 * 15 == os.path.getsize(store / "outputs.f32")
    assert 4 <= len(entries) < 40
    # The lock is gone with the process: the store resumes.
    resumed = generate(factory(), points, NAMES, store, processes=0, progress=False)
    assert resumed.stats.already_done == len(entries) and len(resumed) == 40


def test_failed_point_is_recorded_and_never_retried(tmp_path, points12):
    points = points12.copy()
    points[5, 0] = -0.5  # negative baryon density: CAMB refuses it
    ts = generate(factory(), points, NAMES, tmp_path / "set", processes=0, progress=False)
    assert ts.stats.computed == 12 and ts.stats.failed == 1
    assert len(ts) == 11 and 5 not in ts.indices
    [(index, params, error)] = ts.failures
    assert index == 5 and params == list(points[5])
    assert "CAMB failed at {ombh2: -0.5" in error and "stops expanding" in error
    again = generate(factory(), points, NAMES, tmp_path / "set", processes=0, progress=False)
    assert again.stats.computed == 0 and len(again.failures) == 1


def test_set_up_errors_are_fatal_not_failures(tmp_path, points12):
    with pytest.raises(ValueError, match="not_a_camb_name"):
        generate(factory(), points12, ["ombh2", "not_a_camb_name", "H0"], tmp_path / "bad",
                 processes=0, progress=False)


def test_store_for_other_points_or_outputs_is_refused(tmp_path, points12):
    store = tmp_path / "set"
    generate(factory(), points12[:2], NAMES, store, processes=0, progress=False)
    with pytest.raises(StoreError, match=rf"{store}: this store was made for different points"):
        generate(factory(), points12[1:3], NAMES, store, processes=0, progress=False)
    other = functools.partial(CambDriver, SETTINGS, OutputRequest(derived=("H0",)), "2.0.5")
    with pytest.raises(StoreError, match=rf"{store}: this store was made for different outputs"):
        generate(other, points12[:2], NAMES, store, processes=0, progress=False)
    from zelos.build.store import StoreWriter

    holder = StoreWriter(str(store), json.loads((store / "layout.json").read_text()))
    try:
        with pytest.raises(StoreError, match=rf"{store}: in use by another generate\(\) run"):
            generate(factory(), points12[:2], NAMES, store, processes=0, progress=False)
    finally:
        holder.close()
    settings = dict(SETTINGS, mnu=0.1)
    with pytest.raises(StoreError, match=r"different driver \(code, version, settings or request\)"):
        generate(functools.partial(CambDriver, settings, OutputRequest(**REQUEST)), points12[:2], NAMES, store,
                 processes=0, progress=False)


def test_dask_cluster_gives_the_local_results(tmp_path, points12):
    distributed = pytest.importorskip("distributed", reason="Dask distributed is not installed")
    local = generate(factory(), points12, NAMES, tmp_path / "local", processes=0, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        remote = generate(factory(), points12, NAMES, tmp_path / "dask", scheduler=cluster.scheduler_address,
                          progress=False)
        assert remote.stats.computed == 12
        assert_same_set(remote, local)
        again = generate(factory(), points12, NAMES, tmp_path / "dask", scheduler=cluster.scheduler_address,
                         progress=False)
        assert again.stats.computed == 0
        with distributed.Client(cluster) as client:  # a client of the caller's own
            mine = generate(factory(), points12[:4], NAMES, tmp_path / "client", scheduler=client, progress=False)
            assert mine.stats.computed == 4 and client.status == "running"
        np.testing.assert_allclose(mine.outputs["D_V"], local.outputs["D_V"][:4], rtol=1e-6)


def test_resized_store_keeps_the_prefix_and_resumes_without_recomputing(tmp_path):
    # A prefix-stable design stopped early: the spec then asks for fewer points, and the store
    # is trimmed to them instead of being recomputed.
    from zelos.build.sampling import ellipsoid

    center, cov = [0.0224, 0.12, 68.0], np.diag([1e-7, 4e-6, 1.0])
    long = ellipsoid(center, cov, 3.0, 10, seed=3, lower=LOWER, upper=UPPER)
    store = tmp_path / "set"
    full = generate(factory(), long, NAMES, store, processes=0, progress=False)
    short = ellipsoid(center, cov, 3.0, 6, seed=3, lower=LOWER, upper=UPPER)
    assert resize_store(str(store), short) == 6
    again = generate(factory(), short, NAMES, store, processes=0, progress=False)
    assert again.stats.computed == 0 and again.stats.already_done == 6
    np.testing.assert_array_equal(again.params, full.params[:6])
    for name in full.outputs:
        np.testing.assert_array_equal(again.outputs[name], full.outputs[name][:6])
    # a design that is not a prefix is refused, and the store is left as it was
    with pytest.raises(StoreError, match="not a prefix"):
        resize_store(str(store), latin_hypercube(LOWER, UPPER, 4, seed=9))
    assert len(load_training_set(str(store))) == 6 and not os.path.exists(str(store) + ".trimming")
    # Grown again (a later sitting asks for more): the six are kept, only the new ones computed.
    longer = ellipsoid(center, cov, 3.0, 12, seed=3, lower=LOWER, upper=UPPER)
    assert resize_store(str(store), longer) == 6
    grown = generate(factory(), longer, NAMES, store, processes=0, progress=False)
    assert grown.stats.already_done == 6 and grown.stats.computed == 6
    np.testing.assert_array_equal(grown.outputs["D_V"][:10], full.outputs["D_V"])


def test_a_store_drawn_where_arithmetic_rounds_differently_is_the_same_design(tmp_path):
    # A store packed on one machine and resumed on another: the ellipsoid design's matrix product
    # may round differently there (seen: 49 of 2,600 points differing by 2e-16). Such a store
    # is re-keyed, not refused or recomputed; a point off by more than round-off still is refused.
    from zelos.build.pipeline import fit_store_to_design
    from zelos.build.sampling import ellipsoid

    points = ellipsoid([0.0224, 0.12, 68.0], np.diag([1e-7, 4e-6, 1.0]), 3.0, 6, seed=3,
                      lower=LOWER, upper=UPPER)
    store = tmp_path / "set"
    first = generate(factory(), points, NAMES, store, processes=0, progress=False)
    elsewhere = points.copy()
    elsewhere[2, 1] = np.nextafter(elsewhere[2, 1], 1.0)
    lines = []
    fit_store_to_design(str(store), elsewhere, "ellipsoid", lines.append)
    assert "re-keyed" in lines[0]
    again = generate(factory(), elsewhere, NAMES, store, processes=0, progress=False)
    assert again.stats.computed == 0 and again.stats.already_done == 6
    np.testing.assert_array_equal(again.outputs["D_V"], first.outputs["D_V"])
    moved = elsewhere.copy()
    moved[4, 2] *= 1 + 1e-9
    with pytest.raises(StoreError, match="point 4 differs"):
        fit_store_to_design(str(store), moved, "ellipsoid", lines.append)


def children_of(pid: int) -> list:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(entry))
    return out


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_workers_exit_when_the_build_is_killed(tmp_path):
    # SIGKILL to the parent alone (an OOM kill): its workers must not go on as orphans.
    points = latin_hypercube(LOWER, UPPER, 200, seed=4)
    proc = start_slow_run(tmp_path, points, tmp_path / "orphans")
    wait_for_lines(proc, tmp_path / "orphans", 4)
    workers = [p for p in children_of(proc.pid) if "spawn_main" in open(f"/proc/{p}/cmdline").read()]
    assert len(workers) == 2, workers
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [p for p in workers if alive(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    assert not left, "workers outlived their build"
