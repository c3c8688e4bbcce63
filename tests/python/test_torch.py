"""zelos.torch: an archive as a differentiable PyTorch function whose values and gradients are the
Rust core's (values, Jacobian) and agree with finite differences, under autograd, torch.func and
torch.compile."""

import importlib
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch; `make setup-ci` installs it)")

import zelos  # noqa: E402
import zelos.torch as zt  # noqa: E402
from zelos import pk_interp  # noqa: E402

# torch's own forward-mode AD (torch.func.jacfwd) still calls torch.jit.script internally
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")


def _point(emu, seed=0, n=None):
    rng = np.random.default_rng(seed)
    shape = (len(emu.parameters),) if n is None else (n, len(emu.parameters))
    return emu.lower + (emu.upper - emu.lower) * rng.random(shape)


def _rust_jacobian(emu, x):
    """The Rust core's Jacobian as [n_outputs, n_params], outputs in the flat vector's order."""
    rust = emu.jacobian(x)
    return np.concatenate([rust[k].reshape(-1, len(emu.parameters)) for k in emu.outputs], axis=0)


# (archive, dtype to compute in, tolerance relative to each output's largest value)
CASES = [("cp64", torch.float64, 1e-11), ("silu64", torch.float64, 1e-11), ("skip64", torch.float64, 1e-11),
         ("tanh32", torch.float32, 2e-5), ("skip32", torch.float32, 2e-5)]


@pytest.mark.parametrize("key, dtype, tol", CASES)
def test_values_and_jacobian_agree_with_rust(archives, key, dtype, tol):
    emu = zelos.load(archives[key], out_of_range="ignore")
    f = zt.load(archives[key])
    assert f.dtype == dtype and f.parameters == emu.parameters
    x = _point(emu)
    theirs = emu.eval_flat(x)
    assert np.abs(f.flat(x).numpy() - theirs).max() <= tol * np.abs(theirs).max()
    jac = torch.func.jacfwd(f.flat)(torch.tensor(x, dtype=dtype)).numpy()
    rust = _rust_jacobian(emu, x)
    assert jac.shape == rust.shape
    assert np.all(np.abs(jac - rust).max(axis=0) <= tol * 10 * np.abs(rust).max(axis=0))


@pytest.mark.parametrize("name", ["CAMB_LCDM_background", "CAMB_LCDM_CMB"])
def test_shipped_gradients_equal_rust_jacobian_and_finite_differences(name):
    emu = zelos.get_emulator(name)
    x = _point(emu, seed=3)
    rust = _rust_jacobian(emu, x)
    scale = np.abs(rust).max(axis=0)
    f32 = zt.load(name)  # the archive's float32, as the Rust core computes
    assert f32.dtype == torch.float32
    theirs = emu.eval_flat(x)
    assert np.abs(f32.flat(x).numpy() - theirs).max() <= 2e-5 * np.abs(theirs).max()
    jac32 = torch.func.jacfwd(f32.flat)(torch.tensor(x, dtype=torch.float32)).numpy()
    assert np.all(np.abs(jac32 - rust).max(axis=0) <= 2e-4 * scale)
    # float64 (the float32 weights promoted): the gradient against central differences of itself
    f = zt.load(name, dtype=torch.float64)
    xt = torch.tensor(x, dtype=torch.float64)
    jac = torch.func.jacfwd(f.flat)(xt).numpy()
    assert np.all(np.abs(jac - rust).max(axis=0) <= 2e-4 * scale)  # float32 Rust vs float64 here
    step = 1e-4 * (emu.upper - emu.lower)
    for i in range(len(x)):
        e = torch.zeros_like(xt)
        e[i] = step[i]
        fd = ((f.flat(xt + e) - f.flat(xt - e)) / (2 * step[i])).numpy()
        assert np.abs(fd - jac[:, i]).max() <= 1e-6 * scale[i], (name, emu.parameters[i])
    # autograd's backward pass (reverse mode) of a chi^2 is J^T r from the Rust Jacobian
    xg = xt.clone().requires_grad_(True)
    target = torch.tensor(theirs * 1.001)
    chi2 = ((f.flat(xg) - target) ** 2).sum()
    chi2.backward()
    expected = rust.T @ (2 * (f.flat(xt).numpy() - theirs * 1.001))
    np.testing.assert_allclose(xg.grad.numpy(), expected, rtol=1e-3, atol=1e-4 * np.abs(expected).max())


def test_batches_dicts_devices_and_errors(archives):
    emu = zelos.load(archives["cp64"], out_of_range="ignore")
    f = zt.load(archives["cp64"])
    xs = _point(emu, seed=1, n=5)
    rust = emu(xs)
    batched = f(torch.tensor(xs))
    for name in emu.outputs:
        assert batched[name].shape == rust[name].shape
        np.testing.assert_allclose(batched[name].numpy(), rust[name], rtol=1e-11)
    grid = f(torch.tensor(xs.reshape(5, 1, -1)))["dl_tt"]  # any leading axes
    assert grid.shape == (5, 1) + rust["dl_tt"].shape[1:]
    named = f({p: torch.tensor(xs[:, i]) for i, p in enumerate(f.parameters)})
    np.testing.assert_allclose(named["dl_tt"].numpy(), rust["dl_tt"], rtol=1e-12)
    single = f({p: float(xs[0, i]) for i, p in enumerate(f.parameters)})  # Python floats keep float64
    np.testing.assert_allclose(single["dl_tt"].numpy(), rust["dl_tt"][0], rtol=1e-12)
    # a float32 input is computed in the emulator's float64, its gradient returned in float32
    x32 = torch.tensor(xs[0], dtype=torch.float32, requires_grad=True)
    f(x32)["dl_tt"].sum().backward()
    assert x32.grad.dtype == torch.float32 and torch.isfinite(x32.grad).all()
    with pytest.raises(zelos.ParameterError, match="missing"):
        f({"ombh2": 0.022})
    with pytest.raises(zelos.ParameterError, match="dtype must be"):
        zt.load(archives["cp64"], dtype=torch.int32)
    assert zt.load(archives["cp64"], device="meta").flat(torch.zeros(6, device="meta")).device.type == "meta"


def test_torch_compile(archives):
    emu = zelos.load(archives["tanh32"], out_of_range="ignore")
    f = zt.load(archives["tanh32"], dtype=torch.float64)
    x = torch.tensor(_point(emu, seed=2, n=3))
    compiled = torch.compile(f.flat)
    np.testing.assert_allclose(compiled(x).numpy(), f.flat(x).numpy(), rtol=1e-12)
    grad = torch.compile(torch.func.grad(lambda v: f(v)["dl_tt"].sum()))
    np.testing.assert_allclose(grad(x[0]).numpy(), _rust_jacobian(emu, x[0].numpy()).sum(axis=0), rtol=2e-4)


def test_pk_values_and_gradients():
    name = "CAMB_LCDM_linear_Pk"
    emu = zelos.get_emulator(name)
    f = zt.load(name, dtype=torch.float64)
    x = (emu.lower + emu.upper) / 2
    params = dict(zip(emu.parameters, x))
    k, z = np.logspace(-3, 0, 50), np.linspace(0, 2, 5)
    xt = torch.tensor(x)
    pk = f(xt, k, z)
    assert pk.shape == (5, 50)
    np.testing.assert_allclose(pk.numpy(), emu(params, k, z), rtol=2e-5)  # float32 network in Rust
    # the matrices: the numpy spline itself on this function's own grid, to rounding
    out = {o: v.numpy() for o, v in f(xt).items()}
    q = pk_interp.query(name, {o: a for o, (_, _, a) in f.outputs.items()}, f.grids, k, z, None, False)
    np.testing.assert_allclose(pk.numpy(), pk_interp.numpy_pk(q, out, x, name, emu.parameters), rtol=1e-12)
    assert f(xt, k, 0.5).shape == (50,) and f(xt, 0.1, z).shape == (5,)
    assert f(torch.stack([xt, xt]), k, z).shape == (2, 5, 50)
    # d P / d x against the Rust Jacobian of the grid chained through the spline, and central differences
    a_z, a_k = pk_interp.z_matrix(q.z_grid, z), pk_interp.k_matrix(q.k_grid, k)
    j_grid = emu.jacobian(x)["pk_lin"] / emu(x)["pk_lin"][..., None]  # d ln P_grid / d x
    chained = pk.numpy()[..., None] * np.einsum("qi,ijp,kj->qkp", a_z, j_grid, a_k)
    jac = torch.func.jacfwd(lambda v: f(v, k, z))(xt).numpy()
    scale = np.abs(chained).max(axis=(0, 1))
    assert np.all(np.abs(jac - chained).max(axis=(0, 1)) <= 2e-4 * scale)
    for k_hunit in (False, True):
        jac = torch.func.jacfwd(lambda v: f(v, k, z, k_hunit=k_hunit))(xt).numpy()
        step = 1e-4 * (emu.upper - emu.lower)
        for i in range(len(x)):
            e = torch.zeros_like(xt)
            e[i] = step[i]
            fd = ((f(xt + e, k, z, k_hunit=k_hunit) - f(xt - e, k, z, k_hunit=k_hunit)) / (2 * step[i])).numpy()
            assert np.abs(fd - jac[..., i]).max() <= 1e-6 * np.abs(jac[..., i]).max(), (k_hunit, emu.parameters[i])
    np.testing.assert_allclose(f(xt, k, z, k_hunit=True).numpy(), emu(params, k, z, k_hunit=True), rtol=2e-5)
    with pytest.raises(zelos.ParameterError, match="range|grid"):
        f(xt, [1e-6], z)
    with pytest.raises(zelos.ParameterError, match="h/Mpc"):
        f(xt, [1e-4], z, k_hunit=True)  # 1e-4 h/Mpc is 7e-5 1/Mpc: below the grid (1e-4 1/Mpc)
    with pytest.raises(zelos.ParameterError, match="h/Mpc"):  # h is read under torch.func transforms too
        torch.func.jacfwd(lambda v: f(v, [1e-4], z, k_hunit=True))(xt)
    # compiled, h is not known while tracing: off the grid gives NaN instead of an error
    compiled = torch.compile(lambda v: f(v, [1e-4, 0.1], 0.5, k_hunit=True))(xt).numpy()
    assert np.isnan(compiled[0]) and np.isclose(compiled[1], f(xt, 0.1, 0.5, k_hunit=True).item(), rtol=1e-12)
    with pytest.raises(zelos.ParameterError, match="fixed numbers"):
        f(xt, torch.tensor(k, requires_grad=True), z)
    with pytest.raises(zelos.ParameterError, match="both"):
        f(xt, k)


def test_missing_torch_says_pip_install_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # as if PyTorch were not installed
    monkeypatch.delitem(sys.modules, "zelos.torch")
    with pytest.raises(ImportError, match="pip install torch"):
        importlib.import_module("zelos.torch")
