"""A pure-numpy evaluator of an archive's model: the format read with nothing but numpy.

It is the executable half of docs/model.md: tests check the Rust evaluation against it, and the
benchmarks use it as the numpy baseline. It is deliberately plain, not fast.
"""

from __future__ import annotations

import json
import struct

import numpy as np

_DTYPES = {"F32": np.float32, "F64": np.float64}


def read_safetensors(data: bytes) -> dict:
    """``{name: numpy array}`` from safetensors bytes (8-byte little-endian header length, JSON
    header, raw little-endian data)."""
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    body = memoryview(data)[8 + header_len :]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = np.dtype(_DTYPES[info["dtype"]]).newbyteorder("<")
        tensors[name] = np.frombuffer(body[start:end], dtype=dtype).reshape(info["shape"])
    return tensors


def _activation(name, x, alpha=None, beta=None):
    if name == "tanh":
        return np.tanh(x)
    if name == "relu":
        return np.maximum(x, 0)
    if name == "silu":
        return x / (1 + np.exp(-x))
    if name == "cosmopower":
        return (beta + (1 - beta) / (1 + np.exp(-alpha * x))) * x
    raise ValueError(f"unknown activation {name!r}")


class NumpyModel:
    """Evaluates ``model.json`` + ``weights.safetensors`` with numpy, in the weights' dtype."""

    def __init__(self, model_json: bytes | str, weights: bytes):
        self.description = json.loads(model_json)
        self.tensors = read_safetensors(weights)
        t = self.tensors
        d = self.description
        self.parameters = d["parameters"]
        self.shift = t[d["input"]["shift"]].astype(float)
        self.scale = t[d["input"]["scale"]].astype(float)
        self.networks = []
        for net in d["networks"]:
            layers = []
            for i in range(net["layers"]):
                w = t[f"{net['name']}.{i}.weight"]
                b = t[f"{net['name']}.{i}.bias"]
                hidden = i + 1 < net["layers"]
                alpha = t.get(f"{net['name']}.{i}.alpha")
                beta = t.get(f"{net['name']}.{i}.beta")
                # Transposed once here, as any numpy user would: x @ W.T.
                layers.append((np.ascontiguousarray(w.T), b, net["activation"] if hidden else None, alpha, beta))
            skip = t[net["skip"]].T if net.get("skip") else None  # [n_params, n_out]: x @ S.T
            self.networks.append((layers, skip, net["output_transform"]))
        self.dtype = self.networks[0][0][0][0].dtype

    @classmethod
    def from_members(cls, members: dict) -> "NumpyModel":
        return cls(members["model.json"], members["weights.safetensors"])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``x``: ``[n_params]`` or ``[n, n_params]`` -> the flat output vector(s), float64."""
        xn = ((np.asarray(x, float) - self.shift) / self.scale).astype(self.dtype)
        parts = []
        for layers, skip, steps in self.networks:
            h = xn
            for wt, b, act, alpha, beta in layers:
                h = h @ wt + b
                if act is not None:
                    h = _activation(act, h, alpha, beta)
            if skip is not None:
                h = h + xn @ skip
            for step in steps:
                h = self._step(step, h)
            parts.append(np.asarray(h, dtype=float))
        return np.concatenate(parts, axis=-1)

    def _step(self, step, h):
        t = self.tensors
        op = step["op"]
        if op == "affine":
            return h * t[step["scale"]] + t[step["shift"]]
        if op == "linear":
            out = h @ t[step["matrix"]]
            return out + t[step["bias"]] if step.get("bias") else out
        if op == "pow10":
            return np.power(10.0, h)
        if op == "exp":
            return np.exp(h)
        raise ValueError(f"unknown output step {op!r}")
