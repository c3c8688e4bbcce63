"""`emulator(params, k, z)`: P(k, z) interpolated from the emulated grid.

The archive holds a network whose output is a known analytic log10 P(k, z) (zero weights, the
function in the output shift), so the interpolation is checked against the truth between grid
points, and the axis order (z, k) cannot be confused.
"""

import json

import numpy as np
import pytest

import zelos
from zelos import _zelos
from zelos.build.plan import grid_values, k_values

K = {"min": 1.0e-3, "max": 1.0, "n": 80}
Z = {"min": 0.0, "max": 2.0, "n": 9}
SPEC = f"""
name: analytic_pk
author: zelos tests
version: 0.0.1
code: {{name: camb, version: "2.0.5", settings: {{}}}}
parameters:
  omch2: [0.1, 0.14]
  ns: [0.9, 1.0]
outputs:
  matter_power:
    k: {json.dumps(K)}
    z: {json.dumps(Z)}
"""


def true_pk(k, z, ns=0.95):
    k, z = np.asarray(k, float), np.asarray(z, float)
    shape = k**ns / (1 + (k / 0.02) ** 2) ** 1.4 * 2e7
    return shape[None, :] / (1 + z[:, None]) ** 2


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    k, z = k_values(K), grid_values(Z)
    log_pk = np.log10(true_pk(k, z)).ravel()
    tensors = {
        "input.shift": np.array([0.12, 0.95]), "input.scale": np.array([0.02, 0.05]),
        "pk_lin.0.weight": np.zeros((log_pk.size, 2)), "pk_lin.0.bias": np.zeros(log_pk.size),
        "pk_lin.out.scale": np.ones(log_pk.size), "pk_lin.out.shift": log_pk,
        "grid.k": k, "grid.z_pk": z,
    }
    model = {
        "model_format": 1, "parameters": ["omch2", "ns"], "input": {"shift": "input.shift", "scale": "input.scale"},
        "networks": [{"name": "pk_lin", "activation": "tanh", "layers": 1,
                      "output_transform": [{"op": "affine", "scale": "pk_lin.out.scale", "shift": "pk_lin.out.shift"},
                                           {"op": "pow10"}],
                      "outputs": [{"name": "pk_lin", "shape": [len(z), len(k)], "axes": ["z_pk", "k"]}]}],
        "grids": {"k": "grid.k", "z_pk": "grid.z_pk"},
    }
    path = tmp_path_factory.mktemp("pk") / "analytic_pk.tar.gz"
    region = {"lower": np.array([0.1, 0.9]), "upper": np.array([0.14, 1.0])}
    _zelos.write_emulator_archive(str(path), SPEC, json.dumps(model), tensors, region, "{}", "analytic\n")
    return zelos.load(path)


PARAMS = {"omch2": 0.12, "ns": 0.95}


def test_grid_values_are_returned_exactly(emulator):
    k, z = k_values(K), grid_values(Z)
    np.testing.assert_allclose(emulator(PARAMS)["pk_lin"], true_pk(k, z), rtol=1e-12)
    np.testing.assert_allclose(emulator(PARAMS, k=k[5:9], z=z[2:4]), true_pk(k[5:9], z[2:4]), rtol=1e-10)


def test_between_grid_points_the_spline_follows_the_function(emulator):
    k = np.logspace(-2.9, -0.05, 57)
    z = np.array([0.13, 0.61, 1.37, 1.93])
    pk = emulator(PARAMS, k=k, z=z)
    assert pk.shape == (4, 57)
    # The spline runs in ln(1 + z), where this growth, (1 + z)^-2, is a straight line: exact in z
    # between nodes (a spline in z itself missed it by a few 1e-4 at 0.25 spacing); what is left,
    # 4e-7, is the cubic in ln k.
    np.testing.assert_allclose(pk, true_pk(k, z), rtol=1e-6)


def test_a_batch_gives_one_grid_per_point(emulator):
    pk = emulator({"omch2": [0.11, 0.12, 0.13], "ns": [0.95, 0.95, 0.95]}, k=[0.01, 0.1], z=[0.5])
    assert pk.shape == (3, 1, 2)


def test_outside_the_emulated_range_is_refused(emulator):
    with pytest.raises(zelos.ParameterError, match=r"`k` must lie in the emulated range \[0.001, 1\]"):
        emulator(PARAMS, k=[2.0], z=[0.0])
    with pytest.raises(zelos.ParameterError, match=r"`z` must lie in the emulated range \[0, 2\]"):
        emulator(PARAMS, k=[0.1], z=[3.0])
    with pytest.raises(zelos.ParameterError, match="needs both `k` and `z`"):
        emulator(PARAMS, k=[0.1])


def test_jacobian_of_a_constant_network_is_zero(emulator):
    jac = emulator.jacobian(PARAMS)["pk_lin"]
    assert jac.shape == (9, 80, 2) and not jac.any()


def test_a_repeated_query_is_remembered_by_value_not_by_array(emulator):
    """The checked query and its matrices are cached by the bytes of k and z: an array changed
    in place after a call is a new query, checked again (never the stale one)."""
    from zelos.interpolate import pk_spline

    k = np.logspace(-2.9, -0.05, 57)
    z = np.array([0.13, 0.61, 1.37])
    first = emulator.pk(PARAMS, k, z)
    assert np.array_equal(emulator.pk(PARAMS, k, z), first)
    k *= 1.01  # still inside [1e-3, 1]
    moved = emulator.pk(PARAMS, k, z)
    np.testing.assert_allclose(moved, true_pk(k, z), rtol=1e-6)
    # The matrix path is the spline fitted per call (zelos.interpolate.pk_spline), to rounding.
    grid = emulator(PARAMS)["pk_lin"]
    np.testing.assert_allclose(moved, pk_spline(grid_values(Z), k_values(K), grid)(z, k), rtol=1e-12)
    z[0] = 3.0  # off the grid now: refused, though the same array passed before
    with pytest.raises(zelos.ParameterError, match=r"`z` must lie in the emulated range"):
        emulator.pk(PARAMS, k, z)
    batch = emulator.pk({"omch2": [0.11, 0.13], "ns": [0.95, 0.97]}, k[:5], [0.5, 1.0])
    for i, point in enumerate(({"omch2": 0.11, "ns": 0.95}, {"omch2": 0.13, "ns": 0.97})):
        np.testing.assert_allclose(batch[i], emulator.pk(point, k[:5], [0.5, 1.0]), rtol=1e-13)


def test_one_point_runs_the_pk_network_alone_with_the_same_values():
    """`emu.pk` at one point runs only the P(k) network (the derived one is skipped): the
    values are those of the general path, which runs every network."""
    emu = zelos.get_emulator("CAMB_LCDM_linear_Pk")
    point = {"ombh2": 0.0224, "omch2": 0.12, "H0": 67.3, "logA": 3.045, "ns": 0.965}
    k, z = np.geomspace(1e-3, 5.0, 40), [0.0, 0.7, 2.5]
    as_array = np.array([point[p] for p in emu.parameters])  # not a dict: the general path
    assert np.array_equal(emu.pk(point, k, z), emu.pk(as_array, k, z))
    flat = emu._core.eval(as_array, False, ["pk_lin"])
    info = emu.outputs["sigma8"]
    assert np.isnan(flat[info.offset]) and not np.isnan(flat[emu.outputs["pk_lin"].offset:][:10]).any()
    with pytest.raises(zelos.ParameterError, match="no network `pk_nonlin`"):
        emu._core.eval(as_array, False, ["pk_nonlin"])
