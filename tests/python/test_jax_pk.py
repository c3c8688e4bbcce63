"""P(k, z) under JAX: `emulator(params, k, z)` inside `jax.grad`, and `zelos.jax` functions of
(params, k, z), against the numpy path and the Rust Jacobian chained through the spline.

All on the shipped `CAMB_LCDM_linear_Pk` (float32 weights), and on a float64 copy of the same
network (its weights cast) where float64 lets the checks be tight.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

import zelos  # noqa: E402
import zelos.jax as zjax  # noqa: E402
from zelos import _zelos, pk_interp  # noqa: E402
from zelos.interpolate import pk_spline  # noqa: E402
from zelos.reference import read_safetensors  # noqa: E402
from zelos.testing import constant_archive  # noqa: E402

NAME = "CAMB_LCDM_linear_Pk"
K = np.logspace(-3, 0, 50)
Z = np.linspace(0, 2, 5)


@pytest.fixture(scope="module")
def emu():
    return zelos.get_emulator(NAME)


@pytest.fixture(scope="module")
def centre(emu):
    return {p: float((lo + hi) / 2) for p, lo, hi in zip(emu.parameters, emu.lower, emu.upper)}


@pytest.fixture(scope="module")
def emu64(emu, tmp_path_factory):
    """The shipped network with its weights cast to float64 (so Rust and JAX compute in float64)."""
    members = _zelos.read_archive_members(emu.path)
    tensors = {k: v.astype(np.float64) for k, v in read_safetensors(members["weights.safetensors"]).items()}
    path = tmp_path_factory.mktemp("pk64") / f"{NAME}_f64.tar.gz"
    _zelos.write_emulator_archive(str(path), emu.spec_yaml, members["model.json"].decode(), tensors,
                                  {k: np.asarray(v, float) for k, v in emu.region.items()},
                                  members["report.json"].decode(), "float64 copy for tests\n")
    return zelos.load(path)


def _chained(emu, x, k, z, k_scale=1.0):
    """d P(z_q, k_q) / d params from the Rust Jacobian of the grid, through the spline's matrices:
    P_q * (A_z @ (J / P_grid) @ A_k.T) per parameter; shape (len(z), len(k), n_params)."""
    out = emu(x)
    grid = out["pk_lin"]
    jac = emu.jacobian(x)["pk_lin"]  # (nz, nk, p)
    a_z = pk_interp.z_matrix(emu.grids["z_pk"], z)
    a_k = pk_interp.k_matrix(emu.grids["k"], np.asarray(k) * k_scale)
    pk = np.exp(a_z @ np.log(grid) @ a_k.T)
    dlog = np.einsum("qi,ijp,kj->qkp", a_z, jac / grid[..., None], a_k)
    return pk[..., None] * dlog


def _as_x(emu, params):
    return np.array([params[p] for p in emu.parameters])


# -- the notes' lines, as written ------------------------------------------------------------------------------
def test_the_notes_usage_as_written(centre):
    params = dict(centre)
    k = np.logspace(-3, 0, 50)
    z = np.linspace(0, 2, 5)

    import zelos

    emulator = zelos.get_emulator('CAMB_LCDM_linear_Pk')
    pk = emulator(params, k, z)
    assert isinstance(pk, np.ndarray) and pk.shape == (5, 50)

    def pk(params):
        return emulator(params, k, z)

    grads = jax.grad(lambda p: jnp.sum(pk(p)))(params)  # jax.grad wants a scalar function of it
    assert set(grads) == set(params) and all(np.isfinite(float(g)) for g in grads.values())
    jac = jax.jacfwd(pk)(params)  # and the full Jacobian of pk itself
    assert all(j.shape == (5, 50) for j in jac.values())

    expected = _chained(emulator, _as_x(emulator, params), k, z)  # (5, 50, p), from the Rust Jacobian
    for i, p in enumerate(emulator.parameters):
        scale = np.abs(expected[..., i]).max()
        assert abs(float(grads[p]) - expected[..., i].sum()) <= 1e-4 * np.abs(expected[..., i]).sum()
        np.testing.assert_allclose(np.asarray(jac[p]), expected[..., i], atol=1e-4 * scale)


# -- the matrices ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("nz", [2, 3, 4, 6])
def test_the_matrices_reproduce_pk_spline(emu, centre, nz):
    grid = emu(centre)["pk_lin"]
    z_grid, k_grid = emu.grids["z_pk"][:nz], emu.grids["k"]
    rng = np.random.default_rng(nz)
    # unsorted queries, the grid nodes and both ends among them
    k = np.concatenate([k_grid[[0, 1, 57, -2, -1]], np.exp(rng.uniform(np.log(k_grid[0]), np.log(k_grid[-1]), 40))])
    z = np.concatenate([z_grid, rng.uniform(z_grid[0], z_grid[-1], 7)])
    rng.shuffle(k)
    rng.shuffle(z)
    a_z, a_k = pk_interp.z_matrix(z_grid, z), pk_interp.k_matrix(k_grid, k)
    assert a_z.shape == (len(z), nz) and a_k.shape == (len(k), len(k_grid))
    ours = np.exp(a_z @ np.log(grid[:nz]) @ a_k.T)
    iz, ik = np.argsort(z), np.argsort(k)
    theirs = np.empty_like(ours)
    theirs[np.ix_(iz, ik)] = pk_spline(z_grid, k_grid, grid[:nz])(z[iz], k[ik])
    assert np.abs(ours / theirs - 1).max() < 1e-12
    # the same query gives the same (cached, read-only) matrix
    assert pk_interp.k_matrix(k_grid, k.copy()) is a_k and not a_k.flags.writeable


def test_the_piecewise_cubics_equal_the_k_matrix(emu):
    k_grid = emu.grids["k"]
    k = np.exp(np.random.default_rng(3).uniform(np.log(k_grid[0]), np.log(k_grid[-1]), 300))
    k = np.concatenate([k, k_grid])
    with jax.enable_x64(True):
        weights, inside = zjax._k_weights(pk_interp.k_pieces(k_grid), jnp.log(jnp.asarray(k)), jnp.float64)
    assert bool(np.all(np.asarray(inside)))
    assert np.abs(np.asarray(weights) - pk_interp.k_matrix(k_grid, k)).max() < 1e-12


# -- values: JAX against numpy ------------------------------------------------------------------------------------
def test_zelos_jax_takes_k_and_z(emu, emu64, centre):
    x = _as_x(emu, centre)
    f = zjax.load(NAME)
    pk = f(x, K, Z)
    assert pk.shape == (5, 50)
    np.testing.assert_allclose(np.asarray(pk), emu(centre, K, Z), rtol=2e-5)  # float32 network, both sides
    np.testing.assert_allclose(np.asarray(jax.jit(lambda x: f(x, K, Z))(x)), np.asarray(pk), rtol=1e-5)  # float32 rounding
    with jax.enable_x64(True):
        f64 = zjax.load(emu64.path)
        assert f64.dtype == np.float64
        rng = np.random.default_rng(0)
        xs = emu.lower + (emu.upper - emu.lower) * rng.random((3, 5))
        k = np.exp(rng.uniform(np.log(1e-4), np.log(10.0), 64))  # unsorted, over the whole grid
        z = np.array([1.3, 0.0, 5.0, 0.25])
        ours = np.asarray(f64(xs, k, z))
        ours_pk = np.asarray(f64.pk(xs, k, z, nonlinear=False))
    theirs = emu64(xs, k, z)
    assert ours.shape == theirs.shape == (3, 4, 64)
    assert np.abs(ours / theirs - 1).max() < 1e-12
    assert np.abs(ours_pk / theirs - 1).max() < 1e-12


def test_scalar_k_or_z_drop_their_axis(emu, centre):
    f = zjax.load(NAME)
    x = _as_x(emu, centre)
    for k, z, shape in [(K, 0.5, (50,)), (0.1, Z, (5,)), (0.1, 0.5, ()), ([0.1], [0.5], (1, 1))]:
        assert emu(centre, k, z).shape == shape
        assert f(x, k, z).shape == shape
        assert emu(np.stack([x, x]), k, z).shape == (2,) + shape
        assert f(np.stack([x, x]), k, z).shape == (2,) + shape
    np.testing.assert_allclose(emu(centre, K, 0.5), emu(centre, K, [0.5])[0], rtol=1e-15)
    np.testing.assert_allclose(emu(centre, 0.1, Z), emu(centre, [0.1], Z)[:, 0], rtol=1e-15)


# -- gradients ---------------------------------------------------------------------------------------------------
def test_gradients_equal_rust_and_finite_differences_in_float64(emu64, centre):
    x = _as_x(emu64, centre)
    with jax.enable_x64(True):
        jac = np.asarray(jax.jacfwd(lambda p: emu64(p, K, Z))(jnp.asarray(x)))  # (5, 50, p)
        g_dict = jax.grad(lambda p: jnp.sum(jnp.log(emu64(p, K, Z))))(centre)
        g_sigma8 = jax.grad(lambda p: emu64(p)["sigma8"])(jnp.asarray(x))
    chained = _chained(emu64, x, K, Z)
    np.testing.assert_allclose(jac, chained, rtol=1e-9, atol=1e-12 * np.abs(chained).max())
    # against central differences of the numpy path itself
    step = 1e-4 * (emu64.upper - emu64.lower)
    for i, p in enumerate(emu64.parameters):
        d = np.zeros_like(x)
        d[i] = step[i]
        fd = (emu64(x + d, K, Z) - emu64(x - d, K, Z)) / (2 * step[i])
        np.testing.assert_allclose(jac[..., i], fd, rtol=1e-6, atol=1e-7 * np.abs(fd).max())
        np.testing.assert_allclose(float(g_dict[p]), np.sum(fd / emu64(x, K, Z)), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(g_sigma8), emu64.jacobian(x)["sigma8"], rtol=1e-10)


def test_gradients_of_the_float32_archive(emu, centre):
    x = _as_x(emu, centre)
    chained = _chained(emu, x, K, Z)
    for x64 in (False, True):
        with jax.enable_x64(x64):
            jac = np.asarray(jax.jacrev(lambda p: emu(p, K, Z))(jnp.asarray(x)))
            g_plain = jax.jacfwd(lambda p: emu(p)["sigma8"])(centre)
        scale = np.abs(chained).max(axis=(0, 1))
        assert np.all(np.abs(jac - chained).max(axis=(0, 1)) <= 1e-4 * scale)
        rust = emu.jacobian(x)["sigma8"]
        np.testing.assert_allclose([float(g_plain[p]) for p in emu.parameters], rust, rtol=1e-4,
                                   atol=1e-5 * np.abs(rust).max())
    # central differences of the float32 numpy path: its rounding (~1e-6 of P) wants a wide step,
    # 3% of the box (1e-3 measured; the float64 test above holds them to 1e-6)
    step = 3e-2 * (emu.upper - emu.lower)
    for i in range(len(x)):
        d = np.zeros_like(x)
        d[i] = step[i]
        fd = (emu(x + d, K, Z) - emu(x - d, K, Z)) / (2 * step[i])
        assert np.abs(jac[..., i] - fd).max() <= 3e-3 * np.abs(fd).max()


def test_params_as_dict_of_jax_scalars_array_list_and_batch(emu64, centre):
    x = _as_x(emu64, centre)
    with jax.enable_x64(True):
        scalar = lambda p: jnp.sum(emu64(p, K, Z) ** 0.5)  # noqa: E731
        g_array = np.asarray(jax.grad(scalar)(jnp.asarray(x)))
        g_dict = jax.grad(scalar)({p: jnp.asarray(v) for p, v in centre.items()})
        g_list = jax.grad(lambda p: scalar(list(p)))(jnp.asarray(x))
        # one parameter traced, the rest plain floats
        g_h0 = jax.grad(lambda h0: scalar({**centre, "H0": h0}))(centre["H0"])
        xs = np.stack([x, x * 1.01])
        batch = jax.jit(lambda p: emu64(p, K, Z))(xs)
        mapped = jax.vmap(lambda p: emu64(p, K, Z))(jnp.asarray(xs))
        plain = jax.jit(emu64)(jnp.asarray(x))  # no k, z: the named outputs, as JAX arrays
    np.testing.assert_allclose([float(g_dict[p]) for p in emu64.parameters], g_array, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(g_list), g_array, rtol=1e-12)
    np.testing.assert_allclose(float(g_h0), g_array[emu64.parameters.index("H0")], rtol=1e-12)
    assert batch.shape == mapped.shape == (2, 5, 50)
    np.testing.assert_allclose(np.asarray(batch), emu64(xs, K, Z), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(mapped), emu64(xs, K, Z), rtol=1e-12)
    assert set(plain) == {"pk_lin", "sigma8"}
    np.testing.assert_allclose(np.asarray(plain["sigma8"]), emu64(x)["sigma8"], rtol=1e-12)
    assert set(emu64._jax_functions) == {True}  # one function, built once, cached on the emulator


def test_traced_k_or_z_is_refused_with_a_reason(emu, centre):
    f = zjax.load(NAME)
    with pytest.raises(zelos.ParameterError, match="`k` is a traced JAX value; P\\(k, z\\) needs concrete k and z"):
        jax.jit(lambda k: emu(centre, k, Z))(K)
    with pytest.raises(zelos.ParameterError, match="`z` is a traced JAX value"):
        jax.grad(lambda z: f(_as_x(emu, centre), K, z).sum())(0.5)
    with pytest.raises(zelos.ParameterError, match=r"`k` must lie in the emulated range"):
        jax.grad(lambda p: emu(p, [20.0], Z).sum())(centre)


# -- k_hunit -------------------------------------------------------------------------------------------------------
def test_k_hunit_numpy_and_jax(emu64, centre):
    x = _as_x(emu64, centre)
    h = centre["H0"] / 100
    kh = np.logspace(-3, 0, 50)
    expected = emu64(centre, kh * h, Z) * h**3
    np.testing.assert_allclose(emu64(centre, kh, Z, k_hunit=True), expected, rtol=1e-13)
    np.testing.assert_allclose(emu64.pk(x, kh, Z, k_hunit=True), expected, rtol=1e-13)
    xs = np.stack([x, x + [0, 0, 5.0, 0, 0]])
    batch = emu64(xs, kh, 1.0, k_hunit=True)
    h2 = xs[1, 2] / 100
    np.testing.assert_allclose(batch[1], emu64(xs[1], kh * h2, 1.0) * h2**3, rtol=1e-13)
    with jax.enable_x64(True):
        f = zjax.load(emu64.path)
        np.testing.assert_allclose(np.asarray(f(x, kh, Z, k_hunit=True)), expected, rtol=1e-12)  # concrete h
        np.testing.assert_allclose(np.asarray(jax.jit(lambda p: f(p, kh, 1.0, k_hunit=True))(xs)), batch, rtol=1e-12)
        jac = np.asarray(jax.jacfwd(lambda p: emu64(p, kh, Z, k_hunit=True))(jnp.asarray(x)))
    # the H0 derivative moves k h along the spline too: check every one against central differences
    step = 1e-4 * (emu64.upper - emu64.lower)
    for i in range(len(x)):
        d = np.zeros_like(x)
        d[i] = step[i]
        fd = (emu64(x + d, kh, Z, k_hunit=True) - emu64(x - d, kh, Z, k_hunit=True)) / (2 * step[i])
        np.testing.assert_allclose(jac[..., i], fd, rtol=1e-6, atol=1e-7 * np.abs(fd).max())


def test_k_hunit_off_the_grid(emu, centre):
    with pytest.raises(zelos.ParameterError, match=r"times h must lie in the emulated range \[0.0001, 10\] 1/Mpc"):
        emu(centre, [1e-4, 0.1], Z, k_hunit=True)  # 1e-4 h/Mpc is below 1e-4/Mpc
    f = zjax.load(NAME)
    x = _as_x(emu, centre)
    with pytest.raises(zelos.ParameterError, match="times h must lie"):
        f(x, [1e-4, 0.1], Z, k_hunit=True)  # h concrete: checked
    traced = np.asarray(jax.jit(lambda p: f(p, [1e-4, 0.1], Z, k_hunit=True))(x))  # h traced: NaN there
    assert np.isnan(traced[:, 0]).all() and np.isfinite(traced[:, 1]).all()


def _archive(path, emu, grid, derived):
    """An archive with parameters (ombh2, omch2, cosmomc_theta) and constant outputs: `grid` as
    pk_lin, and `derived` ({name: value})."""
    spec = yaml.safe_load(emu.spec_yaml)
    box = {"ombh2": (0.02, 0.025), "omch2": (0.1, 0.14), "cosmomc_theta": (0.0103, 0.0105)}
    spec["name"] = os.path.basename(path).split(".")[0]
    spec["parameters"] = {p: {"range": list(r)} for p, r in box.items()}
    spec["outputs"]["derived"] = list(derived)
    constant_archive(path, yaml.safe_dump(spec, sort_keys=False), box,
                     {"pk_lin": [("pk_lin", grid, ("z_pk", "k"))],
                      "derived": [(n, np.array(v), ()) for n, v in derived.items()]},
                     {"k": emu.grids["k"], "z_pk": emu.grids["z_pk"]})
    return zelos.load(path)


def test_k_hunit_takes_h_from_a_derived_H0_else_says_it_is_unknown(emu, centre, tmp_path):
    grid = emu(centre)["pk_lin"]
    theta = _archive(str(tmp_path / "theta_pk.tar.gz"), emu, grid, {"H0": 71.0, "sigma8": 0.8})
    point = {"ombh2": 0.0224, "omch2": 0.12, "cosmomc_theta": 0.0104}
    h = 0.71
    expected = pk_spline(emu.grids["z_pk"], emu.grids["k"], grid)(Z, K * h) * h**3
    np.testing.assert_allclose(theta(point, K, Z, k_hunit=True), expected, rtol=1e-12)
    with jax.enable_x64(True):
        g = jax.grad(lambda p: theta(p, K, Z, k_hunit=True).sum())(point)  # h traced, from the output
        traced = jax.jit(lambda p: theta(p, K, Z, k_hunit=True))(point)
    np.testing.assert_allclose(np.asarray(traced), expected, rtol=1e-12)
    assert all(abs(float(v)) < 1e-8 * expected.sum() for v in g.values())  # constant outputs
    none = _archive(str(tmp_path / "no_h_pk.tar.gz"), emu, grid, {"sigma8": 0.8})
    with pytest.raises(zelos.ParameterError, match="k_hunit=True needs h, which is unknown here"):
        none(point, K, Z, k_hunit=True)
    with pytest.raises(zelos.ParameterError, match="k_hunit=True needs h, which is unknown here"):
        jax.grad(lambda p: none(p, K, Z, k_hunit=True).sum())(point)
    np.testing.assert_allclose(none(point, K, Z), emu(centre, K, Z), rtol=1e-12)  # k in 1/Mpc needs no h


# -- no JAX unless it is already there -----------------------------------------------------------------------------
def test_the_numpy_path_never_imports_jax():
    code = ("import sys, numpy as np, zelos\n"
            "e = zelos.get_emulator('CAMB_LCDM_linear_Pk')\n"
            "x = (e.lower + e.upper) / 2\n"
            "e(x); e(np.stack([x, x])); e(x, np.logspace(-3, 0, 5), [0.0, 1.0]); e(x, 0.1, 0.5, k_hunit=True)\n"
            "e({p: v for p, v in zip(e.parameters, x)}, [0.1], [0.5])\n"
            "assert 'jax' not in sys.modules, 'jax was imported'\n")
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
