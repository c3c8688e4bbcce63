"""zelos installs from its wheel with no Rust on the machine: `maturin build` makes the abi3
wheel (what `make wheel` does, here with the test profile to reuse the suite's build), a fresh
virtual environment installs it with the `cobaya` extra, and, with no cargo or rustc on PATH and
outside this repository, runs a shipped emulator, the `zelos` command and a Cobaya evaluation."""

import glob
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "cobaya_packages"))
MATURIN = os.path.join(os.path.dirname(sys.executable), "maturin")

pytestmark = pytest.mark.skipif(not os.path.exists(MATURIN), reason="maturin is not installed beside this Python")

SCRIPT = textwrap.dedent("""
    import shutil, sys
    import numpy as np
    import zelos
    assert zelos.__file__.startswith(sys.prefix), zelos.__file__  # the installed package, not the repository's
    assert shutil.which("cargo") is None and shutil.which("rustc") is None
    emu = zelos.get_emulator("CAMB_LCDM_background")
    out = emu({"ombh2": 0.0224, "omch2": 0.12, "H0": 67.5})
    assert np.all(np.isfinite(out["H"])) and 140 < float(out["rdrag"]) < 160
    from cobaya.model import get_model
    m = get_model({"theory": {"zelos": {"emulators": ["CAMB_LCDM_background"]}},
                   "likelihood": {"bao.desi_dr2": None}, "packages_path": sys.argv[1],
                   "params": {"ombh2": 0.0224, "omch2": 0.12, "H0": 67.5}})
    logp = m.loglikes({})[0]
    assert np.all(np.isfinite(logp)) and m.theory["zelos"].summary()["emulated"] == 1
    print("wheel ok", zelos.__version__, float(logp[0]))
""")


def test_the_wheel_installs_and_runs_without_rust(tmp_path):
    dist = tmp_path / "dist"
    build = subprocess.run([MATURIN, "build", "--profile", "ci", "--out", str(dist), "-q"], cwd=ROOT,
                           capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = glob.glob(str(dist / "zelos_cosmo-*.whl"))
    assert "abi3" in os.path.basename(wheel)  # one wheel for every CPython >= 3.9

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    install = subprocess.run([python, "-m", "pip", "install", "-q", "--no-compile", f"{wheel}[cobaya]"],
                             capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stderr[-3000:]

    # No Rust toolchain on PATH, and outside the repository.
    path = os.pathsep.join([str(venv / "bin"), "/usr/bin", "/bin"])
    env = {"PATH": path, "HOME": str(tmp_path), "OMP_NUM_THREADS": "1"}
    script = tmp_path / "use_zelos.py"
    script.write_text(SCRIPT)
    run = subprocess.run([python, str(script), PACKAGES], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0 and "wheel ok" in run.stdout, run.stdout[-2000:] + run.stderr[-3000:]
    cli = subprocess.run([str(venv / "bin" / "zelos"), "--version"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=60)
    assert cli.returncode == 0 and cli.stdout.startswith("zelos "), cli.stderr
    assert shutil.which("cargo", path=path) is None
