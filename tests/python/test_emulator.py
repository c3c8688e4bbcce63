"""The Python API of an emulator: round trip, evaluation, Jacobian and parameter errors."""

import json
import os
import re
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import zelos
from zelos import _zelos
from zelos.reference import NumpyModel, read_safetensors
from zelos.testing import LCDM, random_point

PARAMS = list(LCDM)


def test_round_trip_keeps_weights_bit_identical(tmp_path, monkeypatch):
    from zelos.testing import random_archive

    # The manifest records when an archive was written, to the second: a fixed time (as
    # reproducible builds set it) so that the two writes below cannot straddle a second.
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1765000000")
    path = tmp_path / "rt.tar.gz"
    sha = random_archive(path, hidden=2, width=16, n_out=30, dtype=np.float32, seed=42)
    members = _zelos.read_archive_members(str(path))
    tensors = read_safetensors(members["weights.safetensors"])
    rng = np.random.default_rng(42)
    expected = rng.uniform(-np.sqrt(6 / 22), np.sqrt(6 / 22), (16, 6)).astype(np.float32)
    assert tensors["tt.0.weight"].dtype == np.float32
    assert np.array_equal(tensors["tt.0.weight"], expected)
    emu = zelos.load(path)
    assert emu.sha256 == sha
    # Writing the same contents at the same time again gives the same bytes, hence the same sha256.
    assert random_archive(tmp_path / "rt2.tar.gz", hidden=2, width=16, n_out=30, dtype=np.float32, seed=42) == sha


@pytest.mark.parametrize("which", ["tanh32", "cp64", "silu64", "skip32", "skip64"])
def test_rust_evaluation_equals_an_independent_numpy_reader(archives, which):
    emu = zelos.load(archives[which])
    reference = NumpyModel.from_members(_zelos.read_archive_members(str(archives[which])))
    rng = np.random.default_rng(0)
    x = np.array([[random_point(rng)[p] for p in PARAMS] for _ in range(50)])
    ours = emu(x)["dl_tt"]
    theirs = reference(x)
    rtol = 2e-5 if emu._core.dtype == "F32" else 1e-12
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * np.abs(theirs).max())


def test_dict_array_and_batch_calls_agree(archives):
    emu = zelos.load(archives["cp64"])
    rng = np.random.default_rng(1)
    points = [random_point(rng) for _ in range(4)]
    batch = emu({p: [pt[p] for pt in points] for p in PARAMS})["dl_tt"]
    assert batch.shape == (4, 300)
    for i, pt in enumerate(points):
        by_dict = emu(pt)["dl_tt"]
        by_array = emu(np.array([pt[p] for p in PARAMS]))["dl_tt"]
        np.testing.assert_array_equal(by_dict, by_array)
        np.testing.assert_allclose(by_dict, batch[i], rtol=1e-12)


def test_core_batch_reads_any_memory_layout(archives):
    # A Fortran-ordered batch is contiguous too, column by column: read in place it gave rows
    # made of other points' parameters.
    emu = zelos.load(archives["cp64"])
    rng = np.random.default_rng(7)
    x = np.array([[random_point(rng)[p] for p in PARAMS] for _ in range(9)])
    expected = emu._core.eval_batch(x)
    wide = np.zeros((9, 2 * len(PARAMS)))
    wide[:, ::2] = x
    for layout in (np.asfortranarray(x), wide[:, ::2], x[::-1][::-1]):
        assert np.array_equal(emu._core.eval_batch(layout), expected)


def test_outputs_parameters_report_and_spec(archives):
    emu = zelos.load(archives["tanh32"])
    assert emu.parameters == tuple(PARAMS)
    assert emu.outputs["dl_tt"].shape == (200,) and emu.outputs["dl_tt"].axes == ("ell",)
    np.testing.assert_array_equal(emu.grids["ell"], np.arange(2, 202))
    assert emu.spec["code"]["name"] == "camb" and emu.spec["code"]["version"] == "2.0.5"
    assert emu.report["note"] == "random weights"
    assert "random weights" in emu.report_markdown
    assert set(emu.region) >= {"lower", "upper"}


@pytest.mark.parametrize("which", ["cp64", "silu64"])
def test_jacobian_matches_central_differences(archives, which):
    emu = zelos.load(archives[which])
    rng = np.random.default_rng(3)
    for _ in range(3):
        x = np.array([random_point(rng)[p] for p in PARAMS])
        jac = emu.jacobian(x)["dl_tt"]
        assert jac.shape == (emu.outputs["dl_tt"].size, 6)
        for j in range(6):
            h = 1e-6 * (emu.upper[j] - emu.lower[j])
            xp, xm = x.copy(), x.copy()
            xp[j] += h
            xm[j] -= h
            numeric = (emu(xp)["dl_tt"] - emu(xm)["dl_tt"]) / (2 * h)
            scale = np.abs(jac[:, j]).max()
            np.testing.assert_allclose(jac[:, j], numeric, rtol=1e-6, atol=1e-6 * scale)


def test_missing_and_extra_parameters_are_named(archives):
    emu = zelos.load(archives["tanh32"])
    point = random_point(np.random.default_rng(4))
    del point["tau"]
    point["H0"] = 67.0
    with pytest.raises(zelos.ParameterError, match=r"random_tt: missing tau; unknown H0 \(it takes ombh2, omch2, cosmomc_theta, tau, logA, ns\)"):
        emu(point)


def test_non_finite_parameter_is_refused(archives):
    emu = zelos.load(archives["tanh32"])
    point = random_point(np.random.default_rng(5))
    point["ns"] = float("nan")
    with pytest.raises(zelos.ParameterError, match="(?i)parameter `ns` is nan; expected a finite number"):
        emu(point)


def test_wrong_array_shape_is_refused(archives):
    emu = zelos.load(archives["tanh32"])
    with pytest.raises(zelos.ParameterError, match=r"expected an array of shape \(6,\) or \(n, 6\)"):
        emu(np.zeros(5))


def test_out_of_range_is_an_error_a_warning_or_ignored_by_choice(archives):
    point = random_point(np.random.default_rng(6))
    point["omch2"] = 0.2
    message = re.escape("random_tt: outside the training box: `omch2` = 0.2 (trained on [0.105, 0.135])")
    with pytest.raises(zelos.OutOfRange, match=message):
        zelos.load(archives["tanh32"])(point)
    assert issubclass(zelos.OutOfRange, zelos.ParameterError) and issubclass(zelos.ParameterError, zelos.ZelosError)
    with pytest.warns(RuntimeWarning, match=message):
        zelos.load(archives["tanh32"], out_of_range="warn")(point)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = zelos.load(archives["tanh32"], out_of_range="ignore")(point)
    assert np.all(np.isfinite(out["dl_tt"]))


def test_batch_out_of_range_names_the_point(archives):
    rng = np.random.default_rng(8)
    x = np.array([[random_point(rng)[p] for p in PARAMS] for _ in range(3)])
    x[1, 0] = 0.03
    with pytest.raises(zelos.OutOfRange, match=r"`ombh2` = 0.03 \(trained on \[0.021, 0.0238\]\) \(point 1; 1 of 3 points outside\)"):
        zelos.load(archives["tanh32"])(x)


def test_core_check_point_names_the_parameter(archives):
    emu = zelos.load(archives["tanh32"])
    x = np.array([random_point(np.random.default_rng(7))[p] for p in PARAMS])
    x[3] = 0.5
    with pytest.raises(zelos.OutOfRange, match=r"`tau` = 0.5 \(trained on \[0.03, 0.09\]\)"):
        emu._core.check_point(x)


def test_get_emulator_reports_what_is_missing(tmp_path):
    with pytest.raises(zelos.ZelosError, match="no such archive file, and no emulator of that name ships with zelos"):
        zelos.get_emulator(str(tmp_path / "nothing.tar.gz"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs RLIMIT_AS")
def test_a_huge_batch_raises_instead_of_aborting():
    """100 000 points of the shipped CMB emulator need 8 GB of outputs: under a 4 GB address-space
    limit the call raises zelos.OutOfMemory (a ZelosError and a MemoryError) naming the batch, where
    a Rust allocation failure used to abort the interpreter. In a child process: the limit is
    per process."""
    script = textwrap.dedent("""
        import resource
        import numpy as np
        import zelos
        emu = zelos.get_emulator("CAMB_LCDM_CMB")
        center = (emu.lower + emu.upper) / 2
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
        try:
            emu(np.tile(center, (100000, 1)))
        except MemoryError as e:
            assert isinstance(e, zelos.OutOfMemory) and isinstance(e, zelos.ZelosError), type(e).__mro__
            assert "a batch of 100000 points" in str(e) and " bytes " in str(e), e
            print("RAISED", e)
        out = emu(np.tile(center, (1000, 1)))  # and the interpreter goes on
        assert out["dl_tt"].shape[0] == 1000
    """)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, f"exit {result.returncode}:\n{result.stdout}\n{result.stderr}"
    assert "RAISED CAMB_LCDM_CMB: a batch of 100000 points" in result.stdout, result.stdout
