"""zelos.tf: an archive as a differentiable TensorFlow function whose values and gradients are the
Rust core's (values, Jacobian) and agree with finite differences, eagerly and inside tf.function."""

import importlib
import os
import sys

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF's C++ start-up notices, not warnings of ours
# PyPI's CUDA torch brings triton, and triton and TensorFlow each bundle LLVM: loading triton after
# TensorFlow aborts the process (LLVM options "registered more than once"), so it is loaded first
# where it is installed (pytest-xdist workers collect every test file: test_torch.py shares the process).
try:
    import triton  # noqa: F401
except ImportError:
    pass
tf = pytest.importorskip("tensorflow", reason="TensorFlow is not installed (pip install tensorflow-cpu; "
                                              "`make setup-ci` installs it)")

import zelos  # noqa: E402
import zelos.tf as ztf  # noqa: E402
from zelos import pk_interp  # noqa: E402


def _point(emu, seed=0, n=None):
    rng = np.random.default_rng(seed)
    shape = (len(emu.parameters),) if n is None else (n, len(emu.parameters))
    return emu.lower + (emu.upper - emu.lower) * rng.random(shape)


def _rust_jacobian(emu, x):
    """The Rust core's Jacobian as [n_outputs, n_params], outputs in the flat vector's order."""
    rust = emu.jacobian(x)
    return np.concatenate([rust[k].reshape(-1, len(emu.parameters)) for k in emu.outputs], axis=0)


def _jacfwd(function, x):
    """``d function / d x`` [..., n_params] by forward mode, one tangent per parameter."""
    columns = []
    for i in range(int(x.shape[-1])):
        with tf.autodiff.ForwardAccumulator(x, tf.one_hot(i, int(x.shape[-1]), dtype=x.dtype)) as acc:
            y = function(x)
        columns.append(acc.jvp(y).numpy())
    return np.stack(columns, axis=-1)


# (archive, dtype to compute in, tolerance relative to each output's largest value)
CASES = [("cp64", tf.float64, 1e-11), ("silu64", tf.float64, 1e-11), ("skip64", tf.float64, 1e-11),
         ("tanh32", tf.float32, 2e-5), ("skip32", tf.float32, 2e-5)]


@pytest.mark.parametrize("key, dtype, tol", CASES)
def test_values_and_jacobian_agree_with_rust(archives, key, dtype, tol):
    emu = zelos.load(archives[key], out_of_range="ignore")
    f = ztf.load(archives[key])
    assert f.dtype == dtype and f.parameters == emu.parameters
    x = _point(emu)
    theirs = emu.eval_flat(x)
    assert np.abs(f.flat(x).numpy() - theirs).max() <= tol * np.abs(theirs).max()
    jac = _jacfwd(f.flat, tf.constant(x, dtype=dtype))
    rust = _rust_jacobian(emu, x)
    assert jac.shape == rust.shape
    assert np.all(np.abs(jac - rust).max(axis=0) <= tol * 10 * np.abs(rust).max(axis=0))


@pytest.mark.parametrize("name", ["CAMB_LCDM_background", "CAMB_LCDM_CMB"])
def test_shipped_gradients_equal_rust_jacobian_and_finite_differences(name):
    emu = zelos.get_emulator(name)
    x = _point(emu, seed=3)
    rust = _rust_jacobian(emu, x)
    scale = np.abs(rust).max(axis=0)
    f32 = ztf.load(name)  # the archive's float32, as the Rust core computes
    assert f32.dtype == tf.float32
    theirs = emu.eval_flat(x)
    assert np.abs(f32.flat(x).numpy() - theirs).max() <= 2e-5 * np.abs(theirs).max()
    assert np.all(np.abs(_jacfwd(f32.flat, tf.constant(x, tf.float32)) - rust).max(axis=0) <= 2e-4 * scale)
    # float64 (the float32 weights promoted): the gradient against central differences of itself
    f = ztf.load(name, dtype=tf.float64)
    xt = tf.constant(x, tf.float64)
    jac = _jacfwd(f.flat, xt)
    assert np.all(np.abs(jac - rust).max(axis=0) <= 2e-4 * scale)  # float32 Rust vs float64 here
    step = 1e-4 * (emu.upper - emu.lower)
    for i in range(len(x)):
        e = tf.one_hot(i, len(x), dtype=tf.float64) * step[i]
        fd = ((f.flat(xt + e) - f.flat(xt - e)) / (2 * step[i])).numpy()
        assert np.abs(fd - jac[:, i]).max() <= 1e-6 * scale[i], (name, emu.parameters[i])
    # reverse mode (GradientTape) of a chi^2, inside tf.function, is J^T r from the Rust Jacobian
    target = tf.constant(theirs * 1.001)

    @tf.function
    def chi2_grad(v):
        with tf.GradientTape() as tape:
            tape.watch(v)
            chi2 = tf.reduce_sum((f.flat(v) - target) ** 2)
        return tape.gradient(chi2, v)

    expected = rust.T @ (2 * (f.flat(xt).numpy() - theirs * 1.001))
    np.testing.assert_allclose(chi2_grad(xt).numpy(), expected, rtol=1e-3, atol=1e-4 * np.abs(expected).max())


def test_batches_dicts_tf_function_and_errors(archives):
    emu = zelos.load(archives["cp64"], out_of_range="ignore")
    f = ztf.load(archives["cp64"])
    xs = _point(emu, seed=1, n=5)
    rust = emu(xs)
    batched = f(xs)
    for name in emu.outputs:
        assert tuple(batched[name].shape) == rust[name].shape
        np.testing.assert_allclose(batched[name].numpy(), rust[name], rtol=1e-11)
    assert tuple(f(xs.reshape(5, 1, -1))["dl_tt"].shape) == (5, 1) + rust["dl_tt"].shape[1:]  # any leading axes
    named = f({p: tf.constant(xs[:, i]) for i, p in enumerate(f.parameters)})
    np.testing.assert_allclose(named["dl_tt"].numpy(), rust["dl_tt"], rtol=1e-12)
    single = f({p: float(xs[0, i]) for i, p in enumerate(f.parameters)})  # Python floats keep float64
    np.testing.assert_allclose(single["dl_tt"].numpy(), rust["dl_tt"][0], rtol=1e-12)
    # one graph for every batch size: the leading axis unknown while tracing
    graph = tf.function(f, input_signature=[tf.TensorSpec([None, len(f.parameters)], tf.float64)])
    for n in (1, 5):
        out = graph(tf.constant(xs[:n]))
        assert tuple(out["dl_tt"].shape) == (n,) + rust["dl_tt"].shape[1:]
        np.testing.assert_allclose(out["dl_tt"].numpy(), rust["dl_tt"][:n], rtol=1e-11)
    # a float32 variable: computed in the emulator's float64, its gradient in float32
    v = tf.Variable(xs[0], dtype=tf.float32)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(f(v)["dl_tt"])
    grad = tape.gradient(total, v)
    assert grad.dtype == tf.float32 and np.all(np.isfinite(grad.numpy()))
    with pytest.raises(zelos.ParameterError, match="missing"):
        f({"ombh2": 0.022})
    with pytest.raises(zelos.ParameterError, match="dtype must be"):
        ztf.load(archives["cp64"], dtype=tf.int32)


def test_pk_values_and_gradients():
    name = "CAMB_LCDM_linear_Pk"
    emu = zelos.get_emulator(name)
    f = ztf.load(name, dtype=tf.float64)
    x = (emu.lower + emu.upper) / 2
    params = dict(zip(emu.parameters, x))
    k, z = np.logspace(-3, 0, 50), np.linspace(0, 2, 5)
    xt = tf.constant(x)
    pk = f(xt, k, z)
    assert tuple(pk.shape) == (5, 50)
    np.testing.assert_allclose(pk.numpy(), emu(params, k, z), rtol=2e-5)  # float32 network in Rust
    out = {o: v.numpy() for o, v in f(xt).items()}
    q = pk_interp.query(name, {o: a for o, (_, _, a) in f.outputs.items()}, f.grids, k, z, None, False)
    np.testing.assert_allclose(pk.numpy(), pk_interp.numpy_pk(q, out, x, name, emu.parameters), rtol=1e-12)
    assert tuple(f(xt, k, 0.5).shape) == (50,) and tuple(f(xt, 0.1, z).shape) == (5,)
    assert tuple(f(tf.stack([xt, xt]), k, z).shape) == (2, 5, 50)
    # d P / d x against the Rust Jacobian of the grid chained through the spline, and central differences
    a_z, a_k = pk_interp.z_matrix(q.z_grid, z), pk_interp.k_matrix(q.k_grid, k)
    j_grid = emu.jacobian(x)["pk_lin"] / emu(x)["pk_lin"][..., None]  # d ln P_grid / d x
    chained = pk.numpy()[..., None] * np.einsum("qi,ijp,kj->qkp", a_z, j_grid, a_k)
    jac = _jacfwd(lambda v: f(v, k, z), xt)
    assert np.all(np.abs(jac - chained).max(axis=(0, 1)) <= 2e-4 * np.abs(chained).max(axis=(0, 1)))
    step = 1e-4 * (emu.upper - emu.lower)
    for k_hunit in (False, True):
        graph = tf.function(lambda v: f(v, k, z, k_hunit=k_hunit))  # k, z closed over: concrete
        jac = _jacfwd(graph, xt)
        for i in range(len(x)):
            e = tf.one_hot(i, len(x), dtype=tf.float64) * step[i]
            fd = ((graph(xt + e) - graph(xt - e)) / (2 * step[i])).numpy()
            assert np.abs(fd - jac[..., i]).max() <= 1e-6 * np.abs(jac[..., i]).max(), (k_hunit, emu.parameters[i])
    np.testing.assert_allclose(f(xt, k, z, k_hunit=True).numpy(), emu(params, k, z, k_hunit=True), rtol=2e-5)
    with pytest.raises(zelos.ParameterError, match="range|grid"):
        f(xt, [1e-6], z)
    with pytest.raises(zelos.ParameterError, match="h/Mpc"):
        f(xt, [1e-4], z, k_hunit=True)  # 1e-4 h/Mpc is 7e-5 1/Mpc: below the grid (1e-4 1/Mpc)
    # inside tf.function h is not known while tracing: off the grid gives NaN instead of an error
    assert np.isnan(tf.function(lambda v: f(v, [1e-4], z, k_hunit=True))(xt).numpy()).all()
    with pytest.raises(zelos.ParameterError, match="symbolic"):
        tf.function(lambda v, kk: f(v, kk, z))(xt, tf.constant(k))
    with pytest.raises(zelos.ParameterError, match="both"):
        f(xt, k)


def test_missing_tensorflow_says_pip_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # as if TensorFlow were not installed
    monkeypatch.delitem(sys.modules, "zelos.tf")
    with pytest.raises(ImportError, match="pip install tensorflow-cpu"):
        importlib.import_module("zelos.tf")
