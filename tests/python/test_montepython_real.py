"""The launcher on the real MontePython (3.6), with examples/montepython/bao_zelos.param.

Optional: runs only when ``MONTEPYTHON_DIR`` names a MontePython checkout (the
``montepython_public`` folder, its ``montepython/`` folder, or ``MontePython.py``) whose ``data/``
folder holds the data of the .param file's likelihoods (bao_boss_dr12, bao_smallz_2014,
cosmic_clocks_BC03_all, all shipped with MontePython)::

    MONTEPYTHON_DIR=/path/to/montepython_public pytest tests/python/test_montepython_real.py

Each test prepares a stand-in CLASS folder and a ``.conf`` file in ``tmp_path`` and runs
``python -m zelos.montepython MONTEPYTHON_DIR run -p ... -N 200`` there (a few seconds each; no
MontePython file is modified, its outputs go to ``tmp_path``).
"""

import glob
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import zelos
from zelos.montepython.launcher import find_montepython, prepare_class_folder

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PARAM = os.path.join(ROOT, "examples", "montepython", "bao_zelos.param")
MONTEPYTHON_DIR = os.environ.get("MONTEPYTHON_DIR")
DATA = ("COMBINEDDR12_BAO_consensus_dM_Hz/BAO_consensus_results_dM_Hz.txt", "bao_smallz_2014.txt",
        "cosmic_clocks/Hz_BC03_all.dat")
SUMMARY = re.compile(r"^\[zelos\] (\d+) points: (\d+) emulated.*?, (\d+) computed by (\w+)", re.M)
STEPS = 200

pytestmark = pytest.mark.skipif(
    not MONTEPYTHON_DIR,
    reason="MONTEPYTHON_DIR is not set: set it to a MontePython checkout (montepython_public) to run "
           "MontePython itself with zelos, e.g. MONTEPYTHON_DIR=/path/to/montepython_public pytest " + __file__)


def montepython_root() -> str:
    try:
        script = find_montepython(MONTEPYTHON_DIR)
    except FileNotFoundError as e:
        pytest.fail(f"MONTEPYTHON_DIR={MONTEPYTHON_DIR!r}: {e}")
    root = os.path.dirname(os.path.dirname(script))
    missing = [f for f in DATA if not os.path.isfile(os.path.join(root, "data", f))]
    if missing:
        pytest.fail(f"MONTEPYTHON_DIR={MONTEPYTHON_DIR!r}: {os.path.join(root, 'data')} lacks {missing}, "
                    "the data of the likelihoods in examples/montepython/bao_zelos.param")
    return root


def run_chain(tmp_path, param_text: str, steps: int = STEPS):
    """MontePython through the launcher in ``tmp_path``; returns (stdout, chain rows, log folder)."""
    root = montepython_root()
    cls = tmp_path / "zelos_class"
    prepare_class_folder(cls)
    conf = tmp_path / "zelos.conf"
    conf.write_text(f"path['cosmo'] = {str(cls)!r}\n")
    param = tmp_path / "bao.param"
    param.write_text(param_text)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    proc = subprocess.run([sys.executable, "-m", "zelos.montepython", root, "run", "-p", str(param),
                           "-o", "chains/bao", "-N", str(steps), "--conf", str(conf)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "Running Monte Python v3" in out and "with CLASS v3.4.1" in out, out[:2000]
    chains = glob.glob(str(tmp_path / "chains" / "bao" / "*__1.txt"))
    assert len(chains) == 1, os.listdir(tmp_path / "chains" / "bao")
    rows = np.loadtxt(chains[0], ndmin=2)
    return out, rows, tmp_path / "chains" / "zelos_points"


def summary(out: str):
    found = SUMMARY.findall(out)
    assert found, f"no zelos summary line in MontePython's output:\n{out[-3000:]}"
    points, emulated, computed, code = found[-1]
    return int(points), int(emulated), int(computed), code


def check_chain(rows, steps=STEPS):
    # multiplicity, -log L, omega_b (x 1e-2), omega_cdm, h, then the derived Omega_m, H0, rs_d
    assert rows.shape[1] == 8 and len(rows) > 10
    assert np.isfinite(rows).all()
    assert rows[:, 0].sum() == steps and (rows[:, 0] >= 1).all()
    assert (rows[:, 1] > 0).all() and (rows[:, 1] < 1e3).all()
    np.testing.assert_allclose(rows[:, 6], 100 * rows[:, 4], rtol=1e-6)  # derived H0 = 100 h
    assert ((rows[:, 5] > 0.1) & (rows[:, 5] < 0.5)).all()  # Omega_m
    assert ((rows[:, 7] > 130) & (rows[:, 7] < 160)).all()  # rs_d in Mpc


def test_the_bao_example_runs_on_the_emulator(tmp_path):
    with open(PARAM) as f:
        text = f.read()
    out, rows, log = run_chain(tmp_path, text)
    check_chain(rows)
    # the priors are the emulator's box: every point MontePython computed is emulated
    points, emulated, computed, code = summary(out)
    assert code == "camb" and points > 0 and emulated == points and computed == 0, out[-2000:]
    assert "[zelos] emulator CAMB_LCDM_background" in out
    files = glob.glob(str(log / "points.*.jsonl"))
    assert files, f"no point log in {log}"
    assert zelos.read_point_log(str(log)) == []  # no fallback point


def test_points_outside_the_box_are_computed_by_camb_and_logged(tmp_path):
    """The same file, started at h = 0.80 (H0 = 80 > 76, outside the emulator's box) with the h
    prior widened: the first points are CAMB's and logged, the chain then walks into the box."""
    with open(PARAM) as f:
        text = f.read()
    old = "data.parameters['h']         = [0.68,   0.60,  0.76,"
    assert old in text
    text = text.replace(old, "data.parameters['h']         = [0.80,   0.60,  0.90,")
    out, rows, log = run_chain(tmp_path, text)
    check_chain(rows)
    points, emulated, computed, code = summary(out)
    assert code == "camb" and computed >= 1 and emulated >= 1 and points == emulated + computed, out[-2000:]
    assert "outside_every_region" in out
    records = zelos.read_point_log(str(log))
    assert len(records) == computed
    for r in records:
        assert r["reason"] == "outside_every_region"
        assert r["parameters"]["H0"] > 76 or not 0.020 <= r["parameters"]["ombh2"] <= 0.025 \
            or not 0.095 <= r["parameters"]["omch2"] <= 0.140
        assert set(r["outputs"]) >= {"H", "D_M", "rdrag"} and np.isfinite(r["outputs"]["H"]).all()
