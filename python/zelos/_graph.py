"""An archive's evaluation graph (docs/model.md), framework-neutral: what zelos.jax, zelos.torch
and zelos.tf share.

:func:`read` verifies an archive with the Rust core and reads its ``model.json`` and weights into
numpy arrays (no pickle, nothing executed), with what describes the emulator (parameters, output
offsets and shapes, grids, training box). :func:`evaluator` turns the graph into a function of the
parameters in any array library that supplies a few primitives (:class:`Ops`): the same input
standardisation, layers, activations and output steps as the Rust core, written once here, so the
three frameworks cannot drift apart.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence

import numpy as np

from . import _zelos
from .reference import read_safetensors

__all__ = ["Archive", "Graph", "Ops", "read", "parse", "evaluator", "ordered", "split", "pk", "pk_and_h",
           "k_weights", "ACTIVATIONS", "STEPS"]

ACTIVATIONS = ("tanh", "relu", "silu", "cosmopower")
STEPS = ("affine", "linear", "pow10", "exp")


@dataclass(frozen=True)
class Layer:
    weight: np.ndarray  # [n_in, n_out]: stored [n_out, n_in] (y = W x + b), transposed once for x @ W
    bias: np.ndarray
    hidden: bool  # hidden layers take the activation; the last layer is linear
    alpha: Optional[np.ndarray] = None  # cosmopower activation only
    beta: Optional[np.ndarray] = None


@dataclass(frozen=True)
class Step:
    op: str  # one of STEPS
    arrays: tuple = ()  # affine: (scale, shift); linear: (matrix, bias or None)


@dataclass(frozen=True)
class Network:
    name: str
    activation: str
    layers: tuple
    skip: Optional[np.ndarray]  # [n_params, n_out]: x_n @ S.T, added before the output steps
    steps: tuple


@dataclass(frozen=True)
class Graph:
    shift: np.ndarray  # float64: x_n = (x - shift) / scale
    scale: np.ndarray
    networks: tuple
    dtype: np.dtype  # the layers' dtype (float32 or float64), what the Rust core computes in


@dataclass(frozen=True)
class Archive:
    """A verified archive's graph and what describes the emulator."""

    graph: Graph
    parameters: tuple
    outputs: dict  # {name: (offset in the flat vector, shape, axes)}
    grids: dict  # {axis: numpy array}
    lower: np.ndarray
    upper: np.ndarray
    name: str
    path: str
    sha256: str

    @property
    def n_outputs(self) -> int:
        return sum(int(np.prod(shape, dtype=np.int64)) for _, shape, _ in self.outputs.values())


def read(name: str | os.PathLike, *, hub: str | None = None) -> Archive:
    """The archive ``name`` (a path, ``hub:NAME[@VERSION]`` or a shipped emulator's name, as
    :func:`zelos.get_emulator` resolves it), verified by the Rust core (hashes, safe names, model
    and spec agree) before its weights are read."""
    from .emulator import get_emulator

    emulator = get_emulator(name, out_of_range="ignore", hub=hub)
    members = _zelos.read_archive_members(emulator.path)
    graph = parse(json.loads(members["model.json"]), read_safetensors(members["weights.safetensors"]))
    outputs = {o.name: (o.offset, tuple(o.shape), tuple(o.axes)) for o in emulator.outputs.values()}
    return Archive(graph=graph, parameters=tuple(emulator.parameters), outputs=outputs,
                   grids={k: np.asarray(v) for k, v in emulator.grids.items()},
                   lower=np.asarray(emulator.lower), upper=np.asarray(emulator.upper),
                   name=emulator.name, path=emulator.path, sha256=emulator.sha256)


def parse(model: dict, tensors: Mapping) -> Graph:
    """The :class:`Graph` of ``model.json`` (parsed) and its tensors (numpy arrays)."""
    if model.get("model_format") != 1:  # docs/model.md: a reader MUST refuse other formats
        raise ValueError(f"model.json has model_format {model.get('model_format')!r}; this zelos reads 1 "
                         "(upgrade zelos)")
    networks = []
    for net in model["networks"]:
        name, n = net["name"], net["layers"]
        if net["activation"] not in ACTIVATIONS:
            raise ValueError(f"network {name!r}: unknown activation {net['activation']!r} "
                             f"(known: {', '.join(ACTIVATIONS)})")
        layers = []
        for i in range(n):
            hidden = i + 1 < n
            extra = {k: tensors[f"{name}.{i}.{k}"] for k in ("alpha", "beta")
                     if hidden and f"{name}.{i}.{k}" in tensors}
            layers.append(Layer(weight=tensors[f"{name}.{i}.weight"].T, bias=tensors[f"{name}.{i}.bias"],
                                hidden=hidden, **extra))
        skip = tensors[net["skip"]].T if net.get("skip") else None
        networks.append(Network(name=name, activation=net["activation"], layers=tuple(layers), skip=skip,
                                steps=tuple(_step(step, tensors) for step in net["output_transform"])))
    dtype = np.dtype(tensors[f"{model['networks'][0]['name']}.0.weight"].dtype)
    return Graph(shift=np.asarray(tensors[model["input"]["shift"]], np.float64),
                 scale=np.asarray(tensors[model["input"]["scale"]], np.float64),
                 networks=tuple(networks), dtype=dtype)


def _step(step: dict, tensors: Mapping) -> Step:
    op = step["op"]
    if op == "affine":
        return Step(op, (tensors[step["scale"]], tensors[step["shift"]]))
    if op == "linear":
        return Step(op, (tensors[step["matrix"]], tensors[step["bias"]] if step.get("bias") else None))
    if op in ("pow10", "exp"):
        return Step(op)
    raise ValueError(f"unknown output step {op!r} (known: {', '.join(STEPS)})")


class Ops:
    """The primitives a framework supplies to :func:`evaluator` (override each; all act on the
    framework's tensors, ``[..., n]`` with any leading batch axes)."""

    def const(self, a: np.ndarray):
        """A numpy array as a constant tensor, in the dtype the graph is evaluated in."""
        raise NotImplementedError

    def cast(self, x):
        """The parameters as a tensor in that dtype (differentiable: gradients reach ``x``)."""
        raise NotImplementedError

    def matmul(self, h, w):
        """``h [..., n] @ w [n, m] -> [..., m]``."""
        return h @ w

    def concat(self, parts: Sequence):
        """Concatenation along the last axis."""
        raise NotImplementedError

    def tanh(self, h):
        raise NotImplementedError

    def sigmoid(self, h):
        raise NotImplementedError

    def relu(self, h):
        raise NotImplementedError

    def exp(self, h):
        raise NotImplementedError

    def pow10(self, h):
        raise NotImplementedError

    # For P(k, z) (:func:`pk`) only.
    def log(self, h):
        raise NotImplementedError

    def einsum(self, spec: str, *operands):
        raise NotImplementedError

    def searchsorted(self, breaks, values):
        """Indices ``i`` with ``breaks[i - 1] <= values < breaks[i]`` (``side="right"``), ``breaks`` 1-D."""
        raise NotImplementedError

    def take(self, a, index):
        """``a[index]`` along ``a``'s first axis (``index``: integers of any shape)."""
        raise NotImplementedError

    def clip(self, index, lo: int, hi: int):
        raise NotImplementedError

    def where(self, condition, a, b: float):
        raise NotImplementedError

    def stack(self, parts: Sequence):
        """Stacking along a new last axis."""
        raise NotImplementedError

    def concrete(self, h) -> Optional[np.ndarray]:
        """``h`` as numpy where its value is known now (eager), else None (inside a compiled graph)."""
        raise NotImplementedError


def evaluator(graph: Graph, ops: Ops) -> Callable:
    """``x [..., n_params] -> flat outputs [..., n_outputs]`` in ``ops``' framework: what the Rust
    core evaluates, with the weights as constants (made once, here)."""
    shift, scale = ops.const(graph.shift), ops.const(graph.scale)
    networks = [_network(net, ops) for net in graph.networks]

    def flat(x):
        xn = (ops.cast(x) - shift) / scale
        return ops.concat([network(xn) for network in networks])

    return flat


def _network(net: Network, ops: Ops) -> Callable:
    """One network and its output steps as a function of the standardised inputs."""
    activation = _activation(net.activation, ops)
    opt = lambda a: None if a is None else ops.const(a)  # noqa: E731
    layers = [(ops.const(l.weight), ops.const(l.bias), l.hidden, opt(l.alpha), opt(l.beta)) for l in net.layers]
    skip = opt(net.skip)
    steps = [_step_function(step, ops) for step in net.steps]

    def run(xn):
        h = xn
        for w, b, hidden, alpha, beta in layers:
            h = ops.matmul(h, w) + b
            if hidden:
                h = activation(h, alpha, beta)
        if skip is not None:
            h = h + ops.matmul(xn, skip)
        for step in steps:
            h = step(h)
        return h

    return run


def _activation(name: str, ops: Ops) -> Callable:
    if name == "tanh":
        return lambda h, a, b: ops.tanh(h)
    if name == "relu":
        return lambda h, a, b: ops.relu(h)
    if name == "silu":
        return lambda h, a, b: h * ops.sigmoid(h)
    if name == "cosmopower":
        return lambda h, alpha, beta: (beta + (1 - beta) * ops.sigmoid(alpha * h)) * h
    raise ValueError(f"unknown activation {name!r}")


def _step_function(step: Step, ops: Ops) -> Callable:
    if step.op == "affine":
        scale, shift = map(ops.const, step.arrays)
        return lambda h: h * scale + shift
    if step.op == "linear":
        matrix = ops.const(step.arrays[0])
        bias = None if step.arrays[1] is None else ops.const(step.arrays[1])

        def linear(h):  # a def, not two lambdas on a line: TF's AutoGraph reads the source
            out = ops.matmul(h, matrix)
            return out if bias is None else out + bias

        return linear
    if step.op == "pow10":
        return ops.pow10
    if step.op == "exp":
        return ops.exp
    raise ValueError(f"unknown output step {step.op!r}")


def ordered(params: Mapping, parameters: Sequence, name: str) -> list:
    """The values of the dict ``params`` in ``parameters`` order; ParameterError naming what is
    missing or unknown."""
    missing = [p for p in parameters if p not in params]
    extra = [p for p in params if p not in parameters]
    if missing or extra:
        raise _zelos.ParameterError(
            f"{name}: " + "; ".join(([f"missing {', '.join(missing)}"] if missing else [])
                                    + ([f"unknown {', '.join(map(str, extra))}"] if extra else []))
            + f" (it takes {', '.join(parameters)})")
    return [params[p] for p in parameters]


def split(flat, outputs: Mapping, reshape: Callable) -> dict:
    """``{name: output}`` from the flat vector(s) ``[..., n_outputs]``; ``reshape(t, shape)`` gives
    ``t [..., size]`` the trailing ``shape`` (leading axes kept)."""
    return {name: reshape(flat[..., off : off + int(np.prod(shape, dtype=np.int64))], tuple(shape))
            for name, (off, shape, _) in outputs.items()}


# -- P(k, z) between the emulated grid points (zelos.pk_interp: the spline as matrices) ----------------------
def pk(q, out: Mapping, x, parameters: Sequence, name: str, ops: Ops, constants: dict):
    """P(k, z): :func:`pk_and_h` without h."""
    return pk_and_h(q, out, x, parameters, name, ops, constants)[0]


def pk_and_h(q, out: Mapping, x, parameters: Sequence, name: str, ops: Ops, constants: dict) -> tuple:
    """``(P, h)``, h None unless ``q.k_hunit``: P(k, z) [Mpc^3] for the checked request ``q``
    (:func:`zelos.pk_interp.query`) from the emulator's outputs ``out`` at the parameters
    ``x [..., n_params]`` (tensors of ``ops``; both cast to ``ops``' dtype here):
    ``exp(A_z @ ln P_grid @ A_k.T)``, the spline of :meth:`zelos.Emulator.pk` as matrices, so
    differentiable in ``x``. ``constants`` caches the matrices as tensors (keyed by the request).

    ``k_hunit``: ``k`` in h/Mpc, P in (Mpc/h)^3, h from the parameters or outputs; the k spline is
    then evaluated as one cubic per knot interval at ``k h``, so d/dh includes the shift along k.
    Where h is known now (:meth:`Ops.concrete`), ``k h`` off the grid raises ParameterError; inside
    a compiled graph it gives NaN there (a caller may check the returned h once it is known).
    """
    from . import pk_interp

    def const(key, make):
        key = pk_interp._key(q.z_grid, q.k_grid, q.k, q.z) + key
        if key not in constants:
            if len(constants) >= 64:
                constants.pop(next(iter(constants)))
            constants[key] = make()
        return constants[key]

    a_z = const(("z",), lambda: ops.const(pk_interp.z_matrix(q.z_grid, q.z)))
    ln_grid = ops.log(ops.cast(out[q.output]))
    if not q.k_hunit:
        a_k = const(("k",), lambda: ops.const(pk_interp.k_matrix(q.k_grid, q.k)))
        return q.squeeze(ops.exp(ops.einsum("qi,...ij,pj->...qp", a_z, ln_grid, a_k))), None
    h = ops.cast(pk_interp.hubble_h(name, parameters, out, lambda i: x[..., i], lambda o: out[o]))
    known = ops.concrete(h)
    if known is not None:
        pk_interp.check_k_hunit(q, known)  # h known: off the k grid is an error, not NaN
    pieces = pk_interp.k_pieces(q.k_grid)
    tensors = const(("pieces",), lambda: tuple(map(ops.const, (pieces.breaks, pieces.widths, pieces.coeffs))))
    ln_k = const(("ln k",), lambda: ops.const(np.log(q.k)))
    ln_h = ops.log(h)
    weights, inside = k_weights(pieces, tensors, ln_k + ln_h[..., None], ops)  # at k h, in 1/Mpc
    ln_pk = ops.einsum("qi,...ij,...pj->...qp", a_z, ln_grid, weights) + 3 * ln_h[..., None, None]
    return q.squeeze(ops.exp(ops.where(inside[..., None, :], ln_pk, float("nan")))), h


def k_weights(pieces, tensors: tuple, ln_k, ops: Ops) -> tuple:
    """``(W, inside)``: rows ``W[..., q, :]`` take ln P on the k grid to the ln k spline at
    ``ln_k[..., q]`` (positions that may be known only inside the framework), and whether each lies
    on the grid (to the tolerance of the numpy path). ``pieces``: :func:`zelos.pk_interp.k_pieces`;
    ``tensors``: its breaks, widths and coeffs as ``ops`` constants."""
    breaks, widths, coeffs = tensors
    i = ops.clip(ops.searchsorted(breaks, ln_k) - 1, 0, len(pieces.widths) - 1)
    u = (ln_k - ops.take(breaks, i)) / ops.take(widths, i)
    powers = ops.stack([u * 0 + 1, u, u * u, u * u * u])  # (..., n_k, 4)
    weights = ops.einsum("...qm,...qmj->...qj", powers, ops.take(coeffs, i))
    lo, hi = float(np.exp(pieces.breaks[0])), float(np.exp(pieces.breaks[-1]))
    tol = 1e-10 * max(abs(lo), abs(hi), 1.0)
    k = ops.exp(ln_k)
    return weights, (k >= lo - tol) & (k <= hi + tol)


# -- the emulator objects the frameworks hand out -------------------------------------------------------
class Calls:
    """What calling a framework's emulator means, the same for JAX, PyTorch and TensorFlow:
    ``f(x)`` gives ``{output name: array}`` (the flat vector of :attr:`flat` cut by :func:`split`),
    ``f(x, k, z)`` gives P(k, z) through ``pk``. A subclass supplies ``flat``, ``outputs``, ``pk``
    and ``_as_input`` (parameters as an array or a dict -> the framework's array)."""

    def __call__(self, params, k=None, z=None, *, nonlinear: bool | None = None, k_hunit: bool = False):
        """``{output name: array}`` at ``params``; with ``k`` and ``z``, P(k, z): see :meth:`pk`."""
        if k is not None or z is not None:
            if k is None or z is None:
                raise _zelos.ParameterError("P(k, z) needs both `k` and `z`")
            return self.pk(params, k, z, nonlinear=nonlinear, k_hunit=k_hunit)
        if k_hunit:
            raise _zelos.ParameterError("k_hunit applies to P(k, z): pass `k` and `z` too")
        return split(self.flat(self._as_input(params)), self.outputs, self._reshape)

    @staticmethod
    def _reshape(t, shape: tuple):
        return t.reshape(t.shape[:-1] + shape)

    def _pk_query(self, k, z, nonlinear, k_hunit):
        from . import pk_interp

        axes = {name: out_axes for name, (_, _, out_axes) in self.outputs.items()}
        return pk_interp.query(self.name, axes, self.grids, k, z, nonlinear, k_hunit)


class OpsEmulator(Calls):
    """An archive as a function built from a framework's :class:`Ops` (zelos.torch, zelos.tf):
    what describes it (:class:`Archive`'s fields), :attr:`flat`, and P(k, z) evaluated eagerly.
    A subclass supplies ``_numbers`` (k or z as numpy, refusing what cannot be one)."""

    def __init__(self, archive: Archive, ops: Ops):
        self.parameters, self.outputs, self.grids = archive.parameters, archive.outputs, archive.grids
        self.lower, self.upper = archive.lower, archive.upper
        self.name, self.path, self.sha256 = archive.name, archive.path, archive.sha256
        self._ops = ops
        #: ``x [..., n_params] -> flat outputs [..., n_outputs]``
        self.flat = evaluator(archive.graph, ops)
        self._pk_constants: dict = {}

    def pk(self, params, k, z, nonlinear: bool | None = None, *, k_hunit: bool = False):
        """P(k, z) [Mpc^3] at ``k`` [1/Mpc] and ``z``: shape ``(len(z), len(k))``, a batch of
        parameters adding its leading axes; a scalar ``z`` gives a 1-D tensor over k, a scalar ``k``
        one over z. The same bicubic spline as :meth:`zelos.Emulator.pk`, as matrices
        (:mod:`zelos.pk_interp`), so differentiable in the parameters; ``k`` and ``z`` are fixed
        numbers (no gradient flows to them). Outside the grid raises ParameterError.
        ``nonlinear`` and ``k_hunit`` as in :meth:`zelos.jax.JaxEmulator.pk` (docs/jax.md).
        """
        q = self._pk_query(self._numbers(k), self._numbers(z), nonlinear, k_hunit)
        x = self._as_input(params)
        return pk(q, self(x), x, self.parameters, self.name, self._ops, self._pk_constants)  # the module function

    def _as_input(self, params):
        if isinstance(params, Mapping):
            return self._ops.stack([self._ops.cast(v) for v in ordered(params, self.parameters, self.name)])
        return self._ops.cast(params)

    @staticmethod
    def _numbers(values):
        return values
