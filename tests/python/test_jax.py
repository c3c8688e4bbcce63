"""zelos.jax: an archive as a pure JAX function that agrees with the Rust core, values and
Jacobian, under jit, grad and vmap."""

import importlib
import sys

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

import zelos  # noqa: E402
import zelos.jax as zjax  # noqa: E402
from zelos import cli  # noqa: E402


def _point(emu, seed=0, n=None):
    rng = np.random.default_rng(seed)
    shape = (len(emu.parameters),) if n is None else (n, len(emu.parameters))
    return emu.lower + (emu.upper - emu.lower) * rng.random(shape)


# (archive, whether to run JAX in float64, tolerance relative to each output's largest value)
CASES = [("cp64", True, 1e-11), ("silu64", True, 1e-11), ("tanh32", False, 2e-5), ("cp64", False, 2e-5),
         ("skip64", True, 1e-11), ("skip32", False, 2e-5)]


@pytest.mark.parametrize("key, x64, tol", CASES)
def test_values_and_jacobian_agree_with_rust(archives, key, x64, tol):
    emu = zelos.load(archives[key], out_of_range="ignore")
    with jax.enable_x64(x64):
        f = zjax.load(archives[key])
        assert f.dtype == (np.float64 if x64 else np.float32) and f.parameters == emu.parameters
        x = _point(emu)
        ours = jax.jit(f.flat)(x)
        theirs = emu.eval_flat(x)
        assert np.abs(np.asarray(ours) - theirs).max() <= tol * np.abs(theirs).max()
        jac = np.asarray(jax.jacfwd(f.flat)(jnp.asarray(x)))
    rust = emu.jacobian(x)
    rust_flat = np.concatenate([rust[k].reshape(-1, len(emu.parameters)) for k in emu.outputs], axis=0)
    assert jac.shape == rust_flat.shape
    scale = np.abs(rust_flat).max(axis=0)
    assert np.all(np.abs(jac - rust_flat).max(axis=0) <= tol * 10 * scale)


def test_jit_grad_vmap_and_named_outputs(archives):
    emu = zelos.load(archives["cp64"], out_of_range="ignore")
    with jax.enable_x64(True):
        f = zjax.load(archives["cp64"])
        xs = _point(emu, seed=1, n=5)
        batched = jax.jit(f)(xs)
        mapped = jax.vmap(f)(xs)
        rust = emu(xs)
        for name in emu.outputs:
            assert batched[name].shape == rust[name].shape
            np.testing.assert_allclose(np.asarray(batched[name]), rust[name], rtol=1e-11)
            np.testing.assert_allclose(np.asarray(mapped[name]), rust[name], rtol=1e-11)
        as_dict = f({p: xs[:, i] for i, p in enumerate(f.parameters)})
        np.testing.assert_allclose(np.asarray(as_dict["dl_tt"]), np.asarray(batched["dl_tt"]), rtol=1e-12)
        # grad of a scalar (a chi^2 against the first point) equals J^T r from the Rust Jacobian.
        target = jnp.asarray(rust["dl_tt"][0])
        chi2 = lambda x: jnp.sum((f(x)["dl_tt"] - target) ** 2)  # noqa: E731
        g = jax.jit(jax.grad(chi2))(xs[1])
        r = 2 * (rust["dl_tt"][1] - rust["dl_tt"][0])
        expected = emu.jacobian(xs[1])["dl_tt"].T @ r
        np.testing.assert_allclose(np.asarray(g), expected, rtol=1e-8, atol=1e-12 * np.abs(expected).max())
    with pytest.raises(zelos.ParameterError, match="missing"):
        f({"ombh2": 0.022})


def test_loads_shipped_names_and_hub_references(tmp_path, monkeypatch, archives):
    shipped = zjax.load("CAMB_LCDM_background")
    emu = zelos.get_emulator("CAMB_LCDM_background")
    x = (emu.lower + emu.upper) / 2
    ours = np.asarray(shipped.flat(x))
    assert np.abs(ours - emu.eval_flat(x)).max() <= 2e-5 * np.abs(emu.eval_flat(x)).max()
    hub = tmp_path / "hub"
    assert cli.main(["hub", "publish", str(archives["tanh32"]), str(hub)]) == 0
    monkeypatch.setenv("ZELOS_CACHE", str(tmp_path / "cache"))
    f = zjax.load("hub:random_tt", hub=str(hub))
    assert f.name == "random_tt" and f.sha256 == zelos.load(archives["tanh32"]).sha256


def test_missing_jax_says_pip_install_jax(monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", None)  # as if JAX were not installed
    monkeypatch.delitem(sys.modules, "zelos.jax")
    with pytest.raises(ImportError, match="pip install jax"):
        importlib.import_module("zelos.jax")
