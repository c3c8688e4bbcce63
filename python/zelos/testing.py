"""Random emulators for tests and benchmarks: real archives holding random networks.

A random network is dressed as a real output (a TT spectrum, or derived scalars) so that the
spec and the model agree exactly about what is emulated, as in any archive.
"""

from __future__ import annotations

import json
import os

import numpy as np

from . import _zelos

LCDM = {
    # name: (min, max) -- a box around the Planck 2018 posterior
    "ombh2": (0.0210, 0.0238),
    "omch2": (0.105, 0.135),
    "cosmomc_theta": (0.01036, 0.01046),
    "tau": (0.03, 0.09),
    "logA": (2.95, 3.15),
    "ns": (0.92, 1.01),
}


def spec_yaml(name: str, ranges: dict, lmax: int, derived=(), cmb: bool = True, constraints=None) -> str:
    params = "\n".join(f"  {p}: [{lo!r}, {hi!r}]" for p, (lo, hi) in ranges.items())
    outputs = ""
    if cmb:
        outputs += f"  cmb:\n    spectra: [tt]\n    lmin: 2\n    lmax: {lmax}\n"
    if derived:
        outputs += f"  derived: [{', '.join(derived)}]\n"
    return (
        f"name: {name}\nauthor: zelos tests\nversion: 0.0.1\n"
        "description: random weights, for tests and benchmarks only\n"
        'code:\n  name: camb\n  version: "2.0.5"\n  settings: {lens_potential_accuracy: 1}\n'
        f"parameters:\n{params}\noutputs:\n{outputs}"
        + (f"constraints: {json.dumps(constraints)}\n" if constraints else "")
    )


def random_archive(
    path: str | os.PathLike,
    *,
    hidden: int = 5,
    width: int = 128,
    n_out: int = 200,
    activation: str = "tanh",
    dtype=np.float32,
    seed: int = 0,
    pca: int | None = None,
    log: bool = False,
    skip: bool = False,
    name: str = "random_tt",
    report: dict | None = None,
    constraints: list | None = None,
) -> str:
    """Writes an archive of a random network ``6 -> hidden x width -> n_out`` emulating a TT
    spectrum of ``n_out`` multipoles (or ``pca`` -> ``n_out`` with a PCA step), with a linear skip
    connection if ``skip``; ``constraints`` go into its spec as written. Returns its sha256.
    """
    rng = np.random.default_rng(seed)
    params = list(LCDM)
    p = len(params)
    lo = np.array([LCDM[k][0] for k in params])
    hi = np.array([LCDM[k][1] for k in params])
    n_net = pca if pca else n_out
    tensors = {"input.shift": (lo + hi) / 2, "input.scale": (hi - lo) / 2}
    sizes = [p] + [width] * hidden + [n_net]
    for i in range(hidden + 1):
        a = np.sqrt(6.0 / (sizes[i] + sizes[i + 1]))
        tensors[f"tt.{i}.weight"] = rng.uniform(-a, a, (sizes[i + 1], sizes[i])).astype(dtype)
        tensors[f"tt.{i}.bias"] = rng.uniform(-0.1, 0.1, sizes[i + 1]).astype(dtype)
        if activation == "cosmopower" and i < hidden:
            tensors[f"tt.{i}.alpha"] = rng.uniform(0.5, 1.5, sizes[i + 1]).astype(dtype)
            tensors[f"tt.{i}.beta"] = rng.uniform(0.0, 0.5, sizes[i + 1]).astype(dtype)
    if skip:
        tensors["tt.skip.weight"] = rng.uniform(-1, 1, (n_net, p)).astype(dtype)
    steps = [{"op": "affine", "scale": "tt.out.scale", "shift": "tt.out.shift"}]
    tensors["tt.out.scale"] = rng.uniform(0.05, 0.2, n_net).astype(dtype)
    tensors["tt.out.shift"] = rng.uniform(-0.5, 0.5, n_net).astype(dtype)
    if pca:
        q, _ = np.linalg.qr(rng.normal(size=(n_out, pca)))
        tensors["tt.pca.matrix"] = q.T.astype(dtype)
        tensors["tt.pca.mean"] = rng.uniform(-1, 1, n_out).astype(dtype)
        steps.append({"op": "linear", "matrix": "tt.pca.matrix", "bias": "tt.pca.mean"})
    if log:
        steps.append({"op": "pow10"})
    lmax = n_out + 1
    tensors["grid.ell"] = np.arange(2, lmax + 1, dtype=float)
    model = {
        "model_format": 1,
        "parameters": params,
        "input": {"shift": "input.shift", "scale": "input.scale"},
        "networks": [
            {
                "name": "tt",
                "activation": activation,
                "layers": hidden + 1,
                **({"skip": "tt.skip.weight"} if skip else {}),
                "output_transform": steps,
                "outputs": [{"name": "dl_tt", "shape": [n_out], "axes": ["ell"]}],
            }
        ],
        "grids": {"ell": "grid.ell"},
    }
    region = {"lower": lo, "upper": hi}
    report = report if report is not None else {"note": "random weights", "accuracy": {}}
    return _zelos.write_emulator_archive(
        os.fspath(path),
        spec_yaml(name, LCDM, lmax, constraints=constraints),
        json.dumps(model),
        tensors,
        region,
        json.dumps(report),
        "# random weights\n\nFor tests and benchmarks only.\n",
    )


def random_point(rng: np.random.Generator, ranges: dict = LCDM) -> dict:
    """A point drawn uniformly from the box."""
    return {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in ranges.items()}


def constant_archive(
    path: str | os.PathLike,
    spec_yaml_text: str,
    parameters: dict,
    networks: dict,
    grids: dict,
    *,
    accuracy: float | None = None,
) -> str:
    """Writes an archive whose networks output given constants, whatever the parameters: for
    tests that need emulated values known exactly (e.g. a code's outputs at one point, to check
    a plugin's unit conversions against the code itself).

    ``parameters``: ``{name: (min, max)}`` in the spec's order (the box is the trust region);
    ``networks``: ``{network name: [(output name, values, axes), ...]}`` in the spec's network
    order (``tt``, ``te``, ..., ``background``, ``derived``), ``values`` float arrays of the
    output's shape (``()`` for a scalar); ``grids``: ``{axis: values}``. Float64 throughout, so
    the outputs are the values given to the last bit. Returns the archive's sha256.
    """
    names = list(parameters)
    lo = np.array([parameters[k][0] for k in names], float)
    hi = np.array([parameters[k][1] for k in names], float)
    tensors = {"input.shift": (lo + hi) / 2, "input.scale": (hi - lo) / 2}
    nets = []
    for net, outputs in networks.items():
        flat = np.concatenate([np.asarray(v, float).reshape(-1) for _, v, _ in outputs])
        # one hidden neuron with zero weights: the network outputs 0, the affine step the constants
        tensors[f"{net}.0.weight"] = np.zeros((1, len(names)))
        tensors[f"{net}.0.bias"] = np.zeros(1)
        tensors[f"{net}.1.weight"] = np.zeros((len(flat), 1))
        tensors[f"{net}.1.bias"] = np.zeros(len(flat))
        tensors[f"{net}.out.scale"] = np.ones(len(flat))
        tensors[f"{net}.out.shift"] = flat
        nets.append({
            "name": net, "activation": "tanh", "layers": 2,
            "output_transform": [{"op": "affine", "scale": f"{net}.out.scale", "shift": f"{net}.out.shift"}],
            "outputs": [{"name": o, "shape": list(np.shape(v)), "axes": list(axes)} for o, v, axes in outputs],
        })
    for axis, values in grids.items():
        tensors[f"grid.{axis}"] = np.asarray(values, float)
    model = {"model_format": 1, "parameters": names, "input": {"shift": "input.shift", "scale": "input.scale"},
             "networks": nets, "grids": {axis: f"grid.{axis}" for axis in grids}}
    report = {"note": "constant outputs", "accuracy": {}}
    if accuracy is not None:
        report["summary"] = {"max_relative_error": float(accuracy)}
    return _zelos.write_emulator_archive(
        os.fspath(path), spec_yaml_text, json.dumps(model), tensors, {"lower": lo, "upper": hi},
        json.dumps(report), "# constant outputs\n\nFor tests only.\n",
    )
