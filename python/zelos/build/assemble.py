"""A trained emulator as archive members: model.json, weights, trust-region data."""

from __future__ import annotations

import json

import numpy as np

from .plan import Plan
from .train import TrainedNetwork

GRID_TENSOR = "grid.{}"


def model_and_weights(plan: Plan, shift, scale, trained: list) -> tuple[dict, dict]:
    """`(model.json as a dict, {tensor name: array})` in the format of docs/model.md."""
    tensors = {"input.shift": np.asarray(shift, float), "input.scale": np.asarray(scale, float)}
    networks = []
    for tn in trained:
        net = tn.network
        n_layers = len([k for k in tn.weights if k.endswith(".weight")])
        for key, value in tn.weights.items():
            tensors[f"{net.name}.{key}"] = np.asarray(value, dtype=np.float32)
        steps, step_tensors = tn.transform.steps(np.float32)
        tensors.update(step_tensors)
        skip = {}
        if tn.skip is not None:
            tensors[f"{net.name}.skip.weight"] = np.asarray(tn.skip, dtype=np.float32)
            skip = {"skip": f"{net.name}.skip.weight"}
        networks.append({
            "name": net.name,
            "activation": net.activation,
            "layers": n_layers,
            **skip,
            "output_transform": steps,
            "outputs": [{"name": n, "shape": list(shape), "axes": list(axes)} for n, shape, axes in net.outputs],
        })
    grids = {}
    for axis, values in plan.grids.items():
        tensors[GRID_TENSOR.format(axis)] = np.asarray(values, float)
        grids[axis] = GRID_TENSOR.format(axis)
    model = {"model_format": 1, "parameters": plan.parameters,
             "input": {"shift": "input.shift", "scale": "input.scale"}, "networks": networks, "grids": grids}
    return model, tensors


def region_tensors(plan: Plan, train_points: np.ndarray) -> dict:
    """Trust-region data: the spec's box, and the training points' mean, covariance and the
    points themselves (for Mahalanobis and convex-hull regions)."""
    return {
        "lower": plan.lower,
        "upper": plan.upper,
        "mean": train_points.mean(axis=0),
        "covariance": np.atleast_2d(np.cov(train_points, rowvar=False)),
        "points": np.ascontiguousarray(train_points, dtype=float),
    }


def dumps(obj) -> str:
    return json.dumps(obj, indent=1, default=_jsonable)


def _jsonable(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")
