"""The founding notes' example (../shared/seeds/), run as written from an empty folder with no hub.

The notes show, for "most users, who just want to grab a power spectrum":

    import zelos
    emulator = zelos.get_emulator('hub:CAMB_linear_matter_power')
    pk = emulator(params, k, z)
    def pk(params):
        return emulator(params, k, z)
    jax.grad(pk)(params)

Those lines are copied below verbatim (with the notes' comments) and executed in a fresh Python
process, in an empty folder, with no hub configured and an empty cache: the shipped copy answers
(with the warning that says so). The values are then checked against CAMB at the same point, and
the gradient against finite differences of the emulator.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import zelos
from zelos.shipped import shipped_archive  # noqa: E402

# The spec is in specs/; its first build (700 CAMB points) was far from the accuracy these tests
# ask for (docs/accuracy.md, "CAMB_linear_matter_power: where the build stands"), so it is not
# shipped yet, and these tests wait for it rather than pass on something else.
pytestmark = pytest.mark.skipif(shipped_archive("CAMB_linear_matter_power") is None,
                                reason="CAMB_linear_matter_power is not shipped yet (docs/accuracy.md: where its "
                                       "build stands)")

NOTES = '''
import zelos
# This automatically downloads the emulator from the cloud
emulator = zelos.get_emulator('hub:CAMB_linear_matter_power')
pk = emulator(params, k, z) # Evaluates the emulator for a set of params at desired k and z
def pk(params):
    return emulator(params, k, z)
jax.grad(pk)(params)
'''

# A w0waCDM point with massive neutrinos, inside the emulator's box but away from its centre.
PARAMS = {"ombh2": 0.0226, "omch2": 0.118, "H0": 69.5, "logA": 3.02, "ns": 0.96, "w": -0.85, "wa": -0.6,
          "mnu": 0.15}
K, Z = 0.2, 1.3  # 1/Mpc, between the emulator's redshift nodes


def _run_notes(tmp_path, k, z):
    prologue = f"""
        import json, jax
        params = {PARAMS!r}
        k, z = {k!r}, {z!r}
    """
    epilogue = """
        first = emulator(params, k, z)
        grad = jax.grad(pk)(params)
        print("RESULT " + json.dumps({"pk": float(first), "grad": {n: float(v) for n, v in grad.items()}}))
    """
    script = textwrap.dedent(prologue) + NOTES + textwrap.dedent(epilogue)
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZELOS_")}
    env["ZELOS_CACHE"] = str(tmp_path / "cache")  # empty: nothing cached, no hub configured
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    line = next(line for line in run.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):]), run.stderr


@pytest.fixture(scope="module")
def notes_run(tmp_path_factory):
    return _run_notes(tmp_path_factory.mktemp("notes"), K, Z)


def test_the_notes_lines_run_as_written_on_the_shipped_copy(notes_run):
    result, stderr = notes_run
    assert "no hub is configured" in stderr and "shipped with zelos" in stderr
    assert result["pk"] > 0
    assert set(result["grad"]) == set(PARAMS)


def test_the_notes_power_spectrum_is_cambs(notes_run):
    from zelos.drivers import OutputRequest, get_driver

    result, _ = notes_run
    emulator = zelos.get_emulator("CAMB_linear_matter_power")
    code = emulator.spec["code"]
    request = OutputRequest(pk_linear=True, k=np.array([0.05, K, 1.0]), z_pk=np.array([0.0, Z]))
    truth = get_driver("camb", code["settings"], request, version=code["version"], threads=1).compute(PARAMS)
    # The archive's documented held-out accuracy (docs/accuracy.md) plus the z spline between nodes.
    assert result["pk"] == pytest.approx(truth["pk_lin"][1, 1], rel=1e-2)
    np.testing.assert_allclose(emulator.pk(PARAMS, [0.05, K, 1.0], [0.0, Z]), truth["pk_lin"], rtol=1e-2)


def test_the_notes_gradient_is_the_emulators_derivative(notes_run):
    result, _ = notes_run
    emulator = zelos.get_emulator("CAMB_linear_matter_power")
    lower, upper = dict(zip(emulator.parameters, emulator.lower)), dict(zip(emulator.parameters, emulator.upper))
    for name, grad in result["grad"].items():
        # A step of 0.3% of the range: smaller ones meet the float32 rounding of a 5x384 network.
        h = 3e-3 * (upper[name] - lower[name])
        up, down = dict(PARAMS, **{name: PARAMS[name] + h}), dict(PARAMS, **{name: PARAMS[name] - h})
        numeric = (emulator.pk(up, K, Z) - emulator.pk(down, K, Z)) / (2 * h)
        scale = abs(result["pk"]) / (upper[name] - lower[name])  # dP over the whole box, per unit
        # JAX runs in float32 by default: agreement to a few 1e-4 of P's range over the box.
        assert abs(grad - numeric) <= 2e-3 * scale + 2e-3 * abs(numeric), (name, grad, numeric)
