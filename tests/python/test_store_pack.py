"""`zelos store pack|unpack` (zelos.build.store_pack): a build's stores packed small enough to
commit, unpacked into a store a build resumes from, every value within the tolerance."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from zelos.build.store import FORMAT, FORMAT_VERSION, StoreError, StoreWriter, load_training_set, points_sha256
from zelos.build.store_pack import PACK, pack_build, unpack_build

ELL = np.arange(2, 602)
Z = np.linspace(0.0, 3.0, 40)


def _outputs(p):
    """Smooth CMB-like spectra and a background of three parameters: TT, EE > 0, TE crossing zero,
    D_A zero at z = 0 for every point, two scalars."""
    a, b, c = p
    tt = 1e3 * (1 + a) * np.exp(-((ELL - 220 * (1 + 0.1 * b)) / 300.0) ** 2) + 50 * (ELL / 600.0) ** -1.5
    ee = 10 * (1 + c) * (ELL / 600.0) ** 2 * np.exp(-ELL / (400 * (1 + 0.05 * a))) + 1e-3
    te = np.sqrt(tt * ee) * np.sin(ELL / (60.0 * (1 + 0.02 * b)) + c)
    d_a = 4000 * Z / (1 + Z) ** (1.1 + 0.1 * a)
    return {"dl_tt": tt, "dl_te": te, "dl_ee": ee, "D_A": d_a, "H0": np.array(67 + a), "sigma8": np.array(0.8 + b)}


def _store(path, n=150, failed=(7, 40)):
    rng = np.random.default_rng(0)
    points = rng.uniform(-1, 1, (n, 3))
    shapes = {k: list(v.shape) for k, v in _outputs(points[0]).items()}
    layout = {"format": FORMAT, "format_version": FORMAT_VERSION, "names": ["a", "b", "c"], "n_points": n,
              "points_sha256": points_sha256(points), "outputs": [{"name": k, "shape": s} for k, s in shapes.items()],
              "dtype": "<f4", "driver": {"code": "synthetic"}}
    writer = StoreWriter(str(path), layout)
    for i, p in enumerate(points):
        if i in failed:
            writer.record(i, p, False, "CAMB error: synthetic", 0.5)
            continue
        record = np.concatenate([np.ravel(v) for v in _outputs(p).values()]).astype("<f4")
        writer.record(i, p, True, record.tobytes(), 1.0)
    writer.close()
    return layout


def test_a_packed_build_unpacks_to_its_stores_within_the_tolerance(tmp_path):
    build, packed, resumed = tmp_path / "X.build", tmp_path / "packed", tmp_path / "Y.build"
    layout = _store(build / "train")
    _store(build / "test", n=40, failed=())
    summary = pack_build(str(build), str(packed), tolerance=1e-6)
    assert set(summary) == {"test", "train"} and summary["train"]["D_A"] < 10
    raw = os.path.getsize(build / "train" / "outputs.f32")
    assert os.path.getsize(packed / "train" / PACK) < raw / 4
    assert json.loads((packed / "pack.json").read_text())["tolerance"] == 1e-6

    assert unpack_build(str(packed), str(resumed)) == {"test": 40, "train": 148}
    a, b = load_training_set(build / "train"), load_training_set(resumed / "train")
    assert np.array_equal(a.params, b.params) and np.array_equal(a.indices, b.indices)
    assert a.failures == b.failures and len(b.failures) == 2
    for name in ("dl_tt", "dl_ee"):
        np.testing.assert_allclose(b.outputs[name], a.outputs[name], rtol=1.2e-6, atol=0)
    te_scale = np.sqrt(a.outputs["dl_tt"] * a.outputs["dl_ee"])
    assert np.abs(b.outputs["dl_te"] - a.outputs["dl_te"]).max(initial=0) <= 1.2e-6 * te_scale.max()
    assert np.all(np.abs(b.outputs["dl_te"] - a.outputs["dl_te"]) <= 1.2e-6 * te_scale)
    assert np.all(b.outputs["D_A"][:, 0] == 0)  # zero at z = 0 everywhere: kept exactly
    np.testing.assert_allclose(b.outputs["D_A"][:, 1:], a.outputs["D_A"][:, 1:], rtol=1.2e-6)
    for name in ("H0", "sigma8"):
        assert np.array_equal(a.outputs[name], b.outputs[name])  # scalars as stored

    # the unpacked store is one a build resumes: every point done, nothing to compute again
    writer = StoreWriter(str(resumed / "train"), layout)
    assert writer.done == set(range(150))
    writer.close()
    with pytest.raises(StoreError, match="already holds a store"):
        unpack_build(str(packed), str(resumed))


def test_the_command_line(tmp_path):
    _store(tmp_path / "X.build" / "train", n=30, failed=())
    zelos = [sys.executable, "-m", "zelos", "store"]
    run = subprocess.run([*zelos, "pack", str(tmp_path / "X.build"), str(tmp_path / "p")], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0 and "train:" in run.stdout and "components" in run.stdout, run.stderr
    run = subprocess.run([*zelos, "unpack", str(tmp_path / "p"), str(tmp_path / "Y.build")], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0 and "train: 30 points" in run.stdout, run.stderr
    empty = subprocess.run([*zelos, "pack", str(tmp_path), str(tmp_path / "q")], capture_output=True, text=True,
                           timeout=120)
    assert empty.returncode == 1 and "no training-set store" in empty.stderr


def test_a_real_camb_store_resumes_from_its_pack_with_nothing_to_compute(tmp_path):
    """The round trip a build of several sittings makes: CAMB fills a store (H(z), D_M(z),
    r_drag over a 3-parameter box), it is packed and unpacked elsewhere, and generate() there finds
    every point done; the outputs agree with CAMB's to the tolerance."""
    pytest.importorskip("camb")
    import functools

    from zelos.build.generate import generate
    from zelos.build.sampling import latin_hypercube
    from zelos.drivers import OutputRequest
    from zelos.drivers.camb import CambDriver

    names = ["ombh2", "omch2", "H0"]
    points = latin_hypercube([0.020, 0.10, 60.0], [0.025, 0.14, 78.0], 24, seed=4)
    request = OutputRequest(background=("H", "D_M"), z_bg=tuple(np.linspace(0.0, 2.5, 30)), derived=("rdrag",))
    factory = functools.partial(CambDriver, {"mnu": 0.06, "num_massive_neutrinos": 1}, request, "2.0.5")
    first = generate(factory, points, names, tmp_path / "A.build" / "train", processes=0, progress=False)
    pack_build(str(tmp_path / "A.build"), str(tmp_path / "packed"))
    unpack_build(str(tmp_path / "packed"), str(tmp_path / "B.build"))
    again = generate(factory, points, names, tmp_path / "B.build" / "train", processes=0, progress=False)
    assert again.stats.already_done == 24 and again.stats.computed == 0
    np.testing.assert_array_equal(again.params, first.params)
    np.testing.assert_allclose(again.outputs["H"], first.outputs["H"], rtol=1.2e-6)
    np.testing.assert_allclose(again.outputs["D_M"][:, 1:], first.outputs["D_M"][:, 1:], rtol=1.2e-6)
    assert np.all(again.outputs["D_M"][:, 0] == 0)  # D_M(z = 0)
    np.testing.assert_array_equal(again.outputs["rdrag"], first.outputs["rdrag"])
