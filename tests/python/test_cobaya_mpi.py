"""`theory: zelos` under MPI: a real `mpiexec -n 2 python -m cobaya run` (Cobaya's MCMC, the shipped
CAMB_LCDM_background emulator, real CAMB, the real DESI DR2 BAO and Union3 data), then one
point-log file per rank and nothing lost (docs/cobaya.md, "MPI").

MPI comes from PyPI: the `mpich` wheel (MPICH and its `mpiexec`, installed beside the venv's
python) and the `mpi4py` wheel. About 10 s on 2 cores.
"""

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("cobaya", reason="cobaya is not installed (pip install zelos[cobaya])")

import zelos  # noqa: E402
from zelos.runstats import add_up, read_run_stats  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "cobaya_packages"))
RANKS = 2


def _mpiexec():
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")  # the mpich wheel's, in the venv
    return here if os.access(here, os.X_OK) else shutil.which("mpiexec")


pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None or _mpiexec() is None,
                       reason="no MPI: mpi4py or mpiexec is missing (pip install mpich mpi4py)"),
    pytest.mark.skipif(not os.path.isdir(os.path.join(PACKAGES, "data", "bao_data")),
                       reason=f"the likelihood data are not at {PACKAGES} (see ../shared/data/README.md)"),
]

# Each chain starts outside the trust region (H0 drawn in [76.5, 78.5]) and walks into it
# (the data want H0 near 68.5): the first points of every rank are computed by CAMB and logged,
# the rest are emulated, and 5% of those are spot-checked (logged too).
INPUT = """\
theory:
  zelos:
    emulators: [CAMB_LCDM_background]
    log: {log}
    spot_check: 0.05
    spot_check_seed: 5
likelihood:
  bao.desi_dr2:
  sn.union3:
params:
  ombh2:
    prior: {{dist: norm, loc: 0.02218, scale: 0.00055}}
    ref: {{dist: norm, loc: 0.0222, scale: 0.0002}}
    proposal: 0.0003
  omch2:
    prior: {{min: 0.08, max: 0.16}}
    ref: {{dist: norm, loc: 0.119, scale: 0.002}}
    proposal: 0.002
  H0:
    prior: {{min: 50, max: 90}}
    ref: {{dist: uniform, min: 76.5, max: 78.5}}
    proposal: 0.8
  rdrag:
  omegam:
sampler:
  mcmc:
    max_samples: 150
    # no convergence check before max_samples: one rank stopping at 150 while the other waits in
    # the check's collective deadlocked Cobaya's MPI run once in CI (2026-12-07)
    learn_every: 1000
    burn_in: 0
    learn_proposal: false
    measure_speeds: false
    oversample_power: 0
    seed: 11
packages_path: {packages}
output: {output}
"""


RUN_TIMEOUT = 240  # seconds; the run takes 3-10 s on 2 cores


@pytest.fixture(scope="module")
def mpi_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("mpi")
    log, output = d / "points", d / "chain" / "run"
    (d / "zelos_mpi.yaml").write_text(INPUT.format(log=log, packages=PACKAGES, output=output))
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    t0 = time.perf_counter()
    # Its own session, so that a run that hangs is stopped whole (mpiexec and both ranks), and
    # what it printed until then is in the failure.
    proc = subprocess.Popen([_mpiexec(), "-n", str(RANKS), sys.executable, "-m", "cobaya", "run", "zelos_mpi.yaml"],
                            cwd=d, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        text, _ = proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        text, _ = proc.communicate()
        pytest.fail(f"mpiexec did not finish in {RUN_TIMEOUT} s (a few s normally); its output:\n{text[-6000:]}")
    wall = time.perf_counter() - t0
    assert proc.returncode == 0, f"mpiexec exited with {proc.returncode}:\n{text[-6000:]}"
    lines = {}  # (rank, component) -> [message]
    for m in re.finditer(r"^\[(\d+) : ([\w.]+)\] (.*)$", text, re.M):
        lines.setdefault((int(m[1]), m[2]), []).append(m[3])
    return dict(dir=d, log=log, output=output, text=text, lines=lines, wall=wall)


def _summary(messages) -> dict:
    """One rank's end-of-run lines (Zelos.close): counts, and the file it says it logged to."""
    out = {"spot": 0}
    for msg in messages:
        if m := re.match(r"(\d+) calls: (\d+) emulated.*, (\d+) computed by camb", msg):
            out["calls"], out["emulated"], out["fallback"] = map(int, m.groups())
        elif m := re.match(r"fallbacks by reason: (.*)", msg):
            out["reasons"] = {k: int(v) for k, v in (r.rsplit(" ", 1) for r in m[1].split(", "))}
        elif m := re.match(r"(\d+) spot checks", msg):
            out["spot"] = int(m[1])
        elif m := re.match(r"(\d+) points logged to (.*)", msg):
            out["logged"], out["path"] = int(m[1]), m[2]
    return out


def test_the_run_exits_0_and_every_rank_sampled(mpi_run, capsys):
    with capsys.disabled():
        print(f"\n  mpiexec -n {RANKS} cobaya run (zelos, DESI DR2 + Union3, 150 samples a chain): "
              f"{mpi_run['wall']:.1f} s")
    for rank in range(RANKS):
        assert any("Reached maximum number of accepted steps" in m for m in mpi_run["lines"][rank, "mcmc"]), rank


def test_start_up_lines_come_once_from_rank_0(mpi_run):
    lines = mpi_run["lines"]
    start = [m for m in lines.get((0, "zelos"), []) if m.startswith("emulator CAMB_LCDM_background")]
    assert len(start) == 1
    for rank in range(1, RANKS):
        assert not any(m.startswith(("emulator ", "fallback: ")) for m in lines.get((rank, "zelos"), []))
    fallback = [m for m in lines[0, "zelos"] if m.startswith("fallback: ")]
    assert len(fallback) == 1 and "points.HOST.PID.jsonl, one file per MPI process" in fallback[0]


def test_one_point_log_per_rank_and_nothing_lost(mpi_run):
    files = sorted(os.listdir(mpi_run["log"]))
    points = [f for f in files if f.startswith("points.")]
    assert len(points) == RANKS and all(re.fullmatch(r"points\..+\.\d+\.jsonl", f) for f in points), files
    # beside each rank's point log, its run statistics (zelos report adds them up)
    assert sorted(f for f in files if f not in points) == [f"stats.{f[7:-6]}.json" for f in points], files
    everything = zelos.read_point_log(mpi_run["log"])
    assert len({p["pid"] for p in everything}) == RANKS

    spec = zelos.get_emulator("CAMB_LCDM_background").spec["parameters"]
    box = {p: spec[p]["range"] for p in ("ombh2", "omch2", "H0")}
    paths, total, calls = set(), 0, 0
    for rank in range(RANKS):
        s = _summary(mpi_run["lines"][rank, "zelos"])
        calls += s["calls"]
        # Every chain starts outside the region: each rank has fallbacks, and emulated points.
        assert s["fallback"] >= 1 and s["emulated"] > 100 and s["calls"] == s["emulated"] + s["fallback"], s
        assert s["reasons"] == {"outside_every_region": s["fallback"]}, s
        # Nothing lost: the rank's file holds each fallback and spot check its summary counts.
        assert s["logged"] == s["fallback"] + s["spot"], s
        path = s["path"]
        assert os.path.dirname(path) == str(mpi_run["log"]) and path not in paths
        paths.add(path)
        records = zelos.read_point_log(path)
        assert len(records) == s["logged"]
        assert [r["seq"] for r in records] == list(range(len(records)))
        assert len({r["pid"] for r in records}) == 1 and f".{records[0]['pid']}.jsonl" in path
        reasons = [r["reason"] for r in records]
        assert reasons.count("outside_every_region") == s["fallback"] and reasons.count("spot_check") == s["spot"]
        for r in records:  # a fallback is outside the emulator's box; a spot check is inside
            outside = any(not lo <= r["parameters"][p] <= hi for p, (lo, hi) in box.items())
            assert outside == (r["reason"] == "outside_every_region"), r
            if outside:
                assert np.isfinite(r["outputs"]["rdrag"]) and r["nearest"] == "CAMB_LCDM_background"
        # The rank's first fallback is its chain's initial point (from its own ref draw).
        initial = next(m for m in mpi_run["lines"][rank, "mcmc"] if m.startswith("Initial point:"))
        h0 = float(re.search(r"H0:([\d.]+)", initial)[1])
        assert records[0]["parameters"]["H0"] == pytest.approx(h0, rel=1e-5)
        total += len(records)
    assert {os.path.join(str(mpi_run["log"]), f) for f in points} == paths
    assert total == len(everything)
    # What `zelos report` reads: the ranks' stats files, added up, count what their end lines said.
    runs, _ = read_run_stats(str(mpi_run["log"]))
    assert add_up(runs)["calls"] == calls and add_up(runs)["processes"] == RANKS and all(r["final"] for r in runs)


def test_the_chains_of_both_ranks_exist_and_getdist_reads_them(mpi_run):
    getdist = pytest.importorskip("getdist")
    prefix = str(mpi_run["output"])
    for rank in range(RANKS):
        assert os.path.isfile(f"{prefix}.{rank + 1}.txt"), rank
    samples = getdist.loadMCSamples(prefix, settings={"ignore_rows": 0})
    assert len(samples.getSeparateChains()) == RANKS
    assert samples.numrows >= RANKS * 100
    for name in ("rdrag", "omegam"):
        values = samples[name]
        assert np.all(np.isfinite(values)) and np.all(values > 0), name
