"""Archives as pure JAX functions: ``jax.jit``, ``jax.grad``, ``jax.vmap`` and GPUs work on them.

>>> import zelos.jax
>>> f = zelos.jax.load("CosmoPower_CMB.tar.gz")        # or hub:NAME, or a shipped name
>>> out = f(x)                                         # x: [..., n_params] -> {output: array}
>>> jac = jax.jacfwd(f.flat)(x)                        # [n_outputs, n_params]
>>> pk = zelos.jax.load("CAMB_LCDM_linear_Pk")(x, k, z)  # P(k, z) [Mpc^3], (len(z), len(k)); k, z concrete

The function is built from the archive's ``model.json`` and weights (docs/model.md), read from the
verified archive, and evaluates exactly what the Rust core does, in JAX: the same input
standardisation, layers, activations and output steps (the graph of :mod:`zelos._graph`, shared
with :mod:`zelos.torch` and :mod:`zelos.tf`). It closes over the weights as constants
and has no side effects, so it composes with every JAX transformation.

Precision: float32 archives run in float32. float64 archives run in float64 when JAX has 64-bit
types enabled (``jax.config.update("jax_enable_x64", True)`` or ``with jax.enable_x64(True):``
around ``load``), else in float32.

JAX is an optional dependency: ``pip install jax`` (or ``pip install 'zelos-cosmo[jax]'``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

try:
    import jax
    import jax.numpy as jnp
except ImportError as _error:  # pragma: no cover - exercised by a test that hides jax
    raise ImportError("zelos.jax needs JAX, which is not installed: pip install jax "
                      f"(or pip install 'zelos-cosmo[jax]'); {_error}") from _error

from . import _graph, _zelos

__all__ = ["JaxEmulator", "load"]


@dataclass(frozen=True, eq=False)  # eq=False: hashed by identity, as jax.jit wants
class JaxEmulator(_graph.Calls):
    """A pure JAX function of the parameters, with what describes it.

    Calling it with ``x`` of shape ``[..., n_params]`` (parameters in :attr:`parameters` order)
    or a dict ``{name: value}`` (values of one shape) returns ``{output name: array}``, each of
    shape ``x.shape[:-1] + output shape``. :attr:`flat` returns the flat output vector instead,
    the form ``jax.jacfwd`` wants for a Jacobian. With ``k`` and ``z`` (``f(x, k, z)``) it returns
    P(k, z) instead, differentiable in ``x``: see :meth:`pk`.
    """

    #: ``x [..., n_params] -> flat outputs [..., n_outputs]``: pure, jit-able, differentiable.
    flat: Callable
    parameters: tuple
    #: ``{name: (offset, shape, axes)}`` in the flat vector.
    outputs: dict
    grids: dict
    lower: np.ndarray
    upper: np.ndarray
    dtype: np.dtype
    name: str
    path: str
    sha256: str
    #: jitted P(k, z) functions, per request (:meth:`pk`)
    _pk_functions: dict = field(default_factory=dict, repr=False)
    #: their matrices as JAX arrays, per precision
    _pk_constants: dict = field(default_factory=dict, repr=False)

    def pk(self, params, k, z, nonlinear: bool | None = None, *, k_hunit: bool = False):
        """P(k, z) [Mpc^3] at ``k`` [1/Mpc] and ``z``: shape ``(len(z), len(k))``, a batch of
        parameters adding its leading axes; a scalar ``z`` gives a 1-D array over k, a scalar ``k``
        one over z. The same bicubic spline in (z, ln k) on ln P as :meth:`zelos.Emulator.pk`,
        written as ``exp(A_z @ ln P_grid @ A_k.T)`` (:mod:`zelos.pk_interp`): differentiable in the
        parameters and jit-able. ``k`` and ``z`` must be concrete (numbers, lists, numpy arrays:
        close over them in a jitted function), never traced; outside the grid raises ParameterError.

        ``nonlinear``: ``pk_nonlin`` (True) or ``pk_lin`` (False); None takes the one the archive
        has, linear first. ``k_hunit=True``: ``k`` in h/Mpc and P in (Mpc/h)^3 (CAMB's and Cobaya's
        ``k_hunit``/``hubble_units``), h from the parameter ``H0`` (or ``h``), else from an emulated
        ``H0`` output, else ParameterError. h may be traced (differentiated): then ``k h`` is known
        only inside JAX, and a ``k h`` off the emulated k grid gives NaN instead of an error.
        """
        from . import pk_interp

        q = self._pk_query(k, z, nonlinear, k_hunit)
        x = self._as_input(params)
        pk, h = self._pk_function(q)(jnp.asarray(x))
        if h is not None and not isinstance(h, jax.core.Tracer):
            pk_interp.check_k_hunit(q, np.asarray(h))  # h known: off the k grid is an error, not NaN
        return pk

    def _pk_function(self, q):
        """``x -> (P, h or None)`` for the request ``q`` (:func:`zelos._graph.pk_and_h`), jitted (one
        compilation for the whole graph, however it is then transformed), cached per request and
        precision."""
        from . import pk_interp

        dtype = np.dtype(jnp.result_type(float))  # float64 with jax_enable_x64, else float32
        key = pk_interp._key(q.z_grid, q.k_grid, q.k, q.z) + (q.output, q.k_hunit, q.scalar_k, q.scalar_z, dtype.name)
        run = self._pk_functions.get(key)
        if run is not None:
            return run
        ops, constants = _JaxOps(dtype), self._pk_constants.setdefault(dtype.name, {})
        run = jax.jit(lambda x: _graph.pk_and_h(q, self(x), x, self.parameters, self.name, ops, constants))
        if len(self._pk_functions) >= 64:
            self._pk_functions.pop(next(iter(self._pk_functions)))
        self._pk_functions[key] = run
        return run

    def _as_input(self, params):
        if isinstance(params, Mapping):
            return jnp.stack([jnp.asarray(v) for v in _graph.ordered(params, self.parameters, self.name)], axis=-1)
        return params


def _k_weights(pieces, ln_k, dtype):
    """``(W, inside)`` of :func:`zelos._graph.k_weights`, in JAX (``pieces``: :func:`zelos.pk_interp.k_pieces`)."""
    ops = _JaxOps(np.dtype(dtype))
    return _graph.k_weights(pieces, tuple(map(ops.const, (pieces.breaks, pieces.widths, pieces.coeffs))), ln_k, ops)


def load(name: str | os.PathLike, *, hub: str | None = None) -> JaxEmulator:
    """The emulator ``name`` (archive path, ``hub:NAME[@VERSION]``, or a shipped emulator's name,
    as :func:`zelos.get_emulator` resolves it) as a :class:`JaxEmulator`.

    The archive is verified by the Rust core first (hashes, safe names, model and spec agree); no
    range check happens inside the JAX function (use :attr:`JaxEmulator.lower` / ``upper``).
    """
    archive = _graph.read(name, hub=hub)
    flat, dtype = _build(archive.graph)
    return JaxEmulator(flat=flat, parameters=archive.parameters, outputs=archive.outputs, grids=archive.grids,
                       lower=archive.lower, upper=archive.upper, dtype=dtype,
                       name=archive.name, path=archive.path, sha256=archive.sha256)


def build(model: dict, tensors: dict) -> tuple:
    """``(flat function, dtype)`` from ``model.json`` (parsed) and its tensors (numpy arrays)."""
    return _build(_graph.parse(model, tensors))


def _build(graph: _graph.Graph) -> tuple:
    # float64 only where JAX has it; asking for it otherwise would be silently truncated anyway.
    dtype = np.dtype(np.float64 if graph.dtype == np.float64 and jax.config.jax_enable_x64 else np.float32)
    # jitted: one compilation per input shape instead of one per operation when called eagerly
    # (inside jax.grad, for instance); a pure function still, for every JAX transformation.
    return jax.jit(_graph.evaluator(graph, _JaxOps(dtype))), dtype


class _JaxOps(_graph.Ops):
    """The primitives of the evaluation graph (zelos._graph), in JAX."""

    def __init__(self, dtype):
        self.dtype = dtype

    def const(self, a):
        with jax.ensure_compile_time_eval():  # concrete even while tracing: P(k)'s matrices are cached
            return jnp.asarray(np.asarray(a, dtype=self.dtype))

    def cast(self, x):
        return jnp.asarray(x, dtype=self.dtype)

    def concat(self, parts):
        return jnp.concatenate(parts, axis=-1)

    tanh = staticmethod(jnp.tanh)
    sigmoid = staticmethod(jax.nn.sigmoid)
    exp = staticmethod(jnp.exp)

    def relu(self, h):
        return jnp.maximum(h, 0)

    def pow10(self, h):
        return jnp.power(10.0, h)

    log = staticmethod(jnp.log)
    einsum = staticmethod(jnp.einsum)

    def stack(self, parts):
        return jnp.stack(parts, axis=-1)

    def searchsorted(self, breaks, values):
        return jnp.searchsorted(breaks, values, side="right")

    def take(self, a, index):
        return a[index]

    def clip(self, index, lo, hi):
        return jnp.clip(index, lo, hi)

    def where(self, condition, a, b):
        return jnp.where(condition, a, b)

    def concrete(self, h):
        return None if isinstance(h, jax.core.Tracer) else np.asarray(h)
