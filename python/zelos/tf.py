"""Archives as TensorFlow functions: ``tf.GradientTape``, ``tf.autodiff.ForwardAccumulator`` and
``tf.function`` work on them.

>>> import tensorflow as tf, zelos.tf
>>> f = zelos.tf.load("CAMB_LCDM_CMB", dtype=tf.float64)    # or a path, hub:NAME
>>> x = tf.Variable([0.0224, 0.12, 0.0104, 0.054, 3.05, 0.965], dtype=tf.float64)
>>> with tf.GradientTape() as tape:
...     chi2 = tf.reduce_sum(f(x)["dl_tt"] ** 2)
>>> tape.gradient(chi2, x)                                   # d chi2 / d parameters
>>> tf.function(f)(x)                                        # a graph, traced once per input signature
>>> pk = zelos.tf.load("CAMB_LCDM_linear_Pk")(x5, k, z)      # P(k, z) [Mpc^3], (len(z), len(k))

The function is the archive's evaluation graph (:mod:`zelos._graph`, shared with :mod:`zelos.jax`
and :mod:`zelos.torch`), read from the verified archive and evaluated with TensorFlow operations:
what the Rust core computes, and its gradients are the Rust core's Jacobian (docs/frameworks.md).

Precision: the archive's dtype (float32 for the shipped emulators) unless ``load(..., dtype=)``
says otherwise (``tf.float64`` runs a float32 archive's weights, promoted exactly, in float64).

TensorFlow is an optional dependency: ``pip install tensorflow-cpu`` (or ``tensorflow``; or
``pip install 'zelos-cosmo[tf]'``).
"""

from __future__ import annotations

import os

import numpy as np

try:
    import tensorflow as tf
except ImportError as _error:  # pragma: no cover - exercised by a test that hides tensorflow
    raise ImportError("zelos.tf needs TensorFlow, which is not installed: pip install tensorflow-cpu "
                      f"(or tensorflow, or pip install 'zelos-cosmo[tf]'); {_error}") from _error

from . import _graph, _zelos

__all__ = ["TfEmulator", "load"]


class TfEmulator(_graph.OpsEmulator):
    """A differentiable TensorFlow function of the parameters, with what describes it.

    Calling it with ``x`` of shape ``[..., n_params]`` (a tensor, variable, array or list,
    parameters in :attr:`parameters` order) or a dict ``{name: value}`` (values of one shape)
    returns ``{output name: tensor}``, each of shape ``x.shape[:-1] + output shape``, in
    :attr:`dtype`. :attr:`flat` returns the flat output vector instead. With ``k`` and ``z`` it
    returns P(k, z): see :meth:`pk`. No range check happens here (compare with :attr:`lower` and
    :attr:`upper`).

    P(k, z) inside ``tf.function``: ``k`` and ``z`` must be concrete (numbers, lists, arrays, eager
    tensors: close over them), and a ``k h`` off the grid (``k_hunit``) gives NaN instead of an
    error, since h is not known while tracing.
    """

    def __init__(self, archive: _graph.Archive, dtype: tf.DType):
        super().__init__(archive, _TfOps(dtype))
        self.dtype = dtype

    def __repr__(self):
        return f"TfEmulator({self.name!r}, {len(self.parameters)} parameters, {self.dtype.name})"

    @staticmethod
    def _reshape(t, shape):
        return _reshape(t, shape)

    @staticmethod
    def _numbers(values):
        return _numbers(values)


def _numbers(values):
    """k or z as numpy; a symbolic tensor (inside tf.function) cannot give the spline matrices."""
    if tf.is_tensor(values):
        if not tf.executing_eagerly():
            raise _zelos.ParameterError(
                "P(k, z): `k` or `z` is a symbolic tensor (inside tf.function); the interpolation matrices "
                "are computed from concrete k and z: close over them (numbers, lists or arrays) instead")
        return values.numpy()
    return values


def _reshape(t, shape):
    lead = t.shape[:-1]
    if lead.is_fully_defined():
        return tf.reshape(t, lead.as_list() + list(shape))
    return tf.reshape(t, tf.concat([tf.shape(t)[:-1], tf.constant(shape, dtype=tf.int32)], axis=0))


class _TfOps(_graph.Ops):
    """The primitives of the evaluation graph (zelos._graph), in TensorFlow."""

    def __init__(self, dtype):
        self.dtype = dtype

    def const(self, a):
        with tf.init_scope():  # eager even while tracing: cached constants any later graph may capture
            return tf.constant(np.asarray(a, dtype=self.dtype.as_numpy_dtype))

    def cast(self, x):
        if tf.is_tensor(x) or isinstance(x, tf.Variable):  # tf.cast is differentiable for floats
            return tf.cast(x, self.dtype)
        # numpy first: tf would make a float32 tensor of Python floats, losing float64 digits
        return tf.constant(np.asarray(x, dtype=np.float64).astype(self.dtype.as_numpy_dtype))

    def matmul(self, h, w):
        return tf.tensordot(h, w, axes=1)  # any number of leading axes, a single point included

    def concat(self, parts):
        return tf.concat(parts, axis=-1)

    def stack(self, parts):
        return tf.stack(parts, axis=-1)

    tanh = staticmethod(tf.tanh)
    sigmoid = staticmethod(tf.sigmoid)
    relu = staticmethod(tf.nn.relu)
    exp = staticmethod(tf.exp)

    def log(self, h):
        return tf.math.log(h)

    def einsum(self, spec, *operands):
        return tf.einsum(spec, *operands)

    def pow10(self, h):
        return tf.pow(tf.constant(10.0, dtype=h.dtype), h)

    def searchsorted(self, breaks, values):
        # tf.searchsorted wants the sequences and the values with the same leading axes
        flat = tf.reshape(values, [1, -1])
        index = tf.searchsorted(breaks[None, :], flat, side="right")
        return tf.reshape(index, tf.shape(values))

    def take(self, a, index):
        return tf.gather(a, index)

    def clip(self, index, lo, hi):
        return tf.clip_by_value(index, lo, hi)

    def where(self, condition, a, b):
        return tf.where(condition, a, tf.constant(b, dtype=a.dtype))

    def concrete(self, h):
        return h.numpy() if tf.executing_eagerly() else None


def load(name: str | os.PathLike, *, hub: str | None = None, dtype: tf.DType | None = None) -> TfEmulator:
    """The emulator ``name`` (archive path, ``hub:NAME[@VERSION]``, or a shipped emulator's name,
    as :func:`zelos.get_emulator` resolves it) as a :class:`TfEmulator`, verified by the Rust core
    before its weights are read. ``dtype``: what to compute in (default: the archive's)."""
    archive = _graph.read(name, hub=hub)
    if dtype is None:
        dtype = tf.float64 if archive.graph.dtype == np.float64 else tf.float32
    if dtype not in (tf.float32, tf.float64):
        raise _zelos.ParameterError(f"zelos.tf.load: dtype must be tf.float32 or tf.float64, not {dtype}")
    return TfEmulator(archive, dtype)
