"""Archives as PyTorch functions: autograd, ``torch.func``, ``torch.compile`` and devices work on them.

>>> import torch, zelos.torch
>>> f = zelos.torch.load("CAMB_LCDM_CMB", dtype=torch.float64)   # or a path, hub:NAME
>>> x = torch.tensor([0.0224, 0.12, 0.0104, 0.054, 3.05, 0.965], dtype=torch.float64, requires_grad=True)
>>> f(x)["dl_tt"].sum().backward()                  # x.grad: d sum(D_ell^TT) / d parameters
>>> jac = torch.func.jacfwd(f.flat)(x.detach())      # [n_outputs, n_params]
>>> pk = zelos.torch.load("CAMB_LCDM_linear_Pk")(x5, k, z)   # P(k, z) [Mpc^3], (len(z), len(k))

The function is the archive's evaluation graph (:mod:`zelos._graph`, shared with :mod:`zelos.jax`
and :mod:`zelos.tf`), read from the verified archive and evaluated with torch operations: what the
Rust core computes, and its autograd gradients are the Rust core's Jacobian (docs/frameworks.md).

Precision: the archive's dtype (float32 for the shipped emulators) unless ``load(..., dtype=)``
says otherwise (``torch.float64`` runs a float32 archive's weights, promoted exactly, in float64).

PyTorch is an optional dependency: ``pip install torch`` (or ``pip install 'zelos-cosmo[torch]'``).
"""

from __future__ import annotations

import os

import numpy as np

try:
    import torch
except ImportError as _error:  # pragma: no cover - exercised by a test that hides torch
    raise ImportError("zelos.torch needs PyTorch, which is not installed: pip install torch "
                      f"(or pip install 'zelos-cosmo[torch]'); {_error}") from _error

from . import _graph, _zelos

__all__ = ["TorchEmulator", "load"]


class TorchEmulator(_graph.OpsEmulator):
    """A differentiable PyTorch function of the parameters, with what describes it.

    Calling it with ``x`` of shape ``[..., n_params]`` (a tensor, array or list, parameters in
    :attr:`parameters` order) or a dict ``{name: value}`` (values of one shape) returns
    ``{output name: tensor}``, each of shape ``x.shape[:-1] + output shape``, in :attr:`dtype` on
    :attr:`device`. :attr:`flat` returns the flat output vector instead (``torch.func.jacfwd``'s
    form for a Jacobian). With ``k`` and ``z`` it returns P(k, z): see :meth:`pk`.
    No range check happens here (compare with :attr:`lower` and :attr:`upper`).
    """

    def __init__(self, archive: _graph.Archive, dtype: torch.dtype, device: torch.device):
        super().__init__(archive, _TorchOps(dtype, device))
        self.dtype, self.device = dtype, device

    def __repr__(self):
        return f"TorchEmulator({self.name!r}, {len(self.parameters)} parameters, {self.dtype}, {self.device})"

    @staticmethod
    def _numbers(values):
        return _numbers(values)


def _numbers(values):
    """k or z as numpy: they are where to interpolate, not something to differentiate."""
    if isinstance(values, torch.Tensor):
        if values.requires_grad:
            raise _zelos.ParameterError("P(k, z): `k` and `z` are fixed numbers; a tensor that requires grad "
                                        "is refused (differentiate with respect to the parameters only)")
        return values.detach().cpu().numpy()
    return values


class _TorchOps(_graph.Ops):
    """The primitives of the evaluation graph (zelos._graph), in PyTorch."""

    def __init__(self, dtype, device):
        self.dtype, self.device = dtype, device

    def const(self, a):
        return torch.as_tensor(np.array(a), device=self.device).to(self.dtype)  # a copy: archive arrays are read-only

    def cast(self, x):
        if isinstance(x, torch.Tensor):  # .to is differentiable: gradients reach x in its own dtype
            return x.to(device=self.device, dtype=self.dtype)
        return torch.as_tensor(np.asarray(x, dtype=np.float64), device=self.device).to(self.dtype)

    def concat(self, parts):
        return torch.cat(parts, dim=-1)

    def stack(self, parts):
        return torch.stack(parts, dim=-1)

    tanh = staticmethod(torch.tanh)
    sigmoid = staticmethod(torch.sigmoid)
    relu = staticmethod(torch.relu)
    exp = staticmethod(torch.exp)
    log = staticmethod(torch.log)
    einsum = staticmethod(torch.einsum)

    def pow10(self, h):
        return torch.pow(10.0, h)

    def searchsorted(self, breaks, values):
        return torch.searchsorted(breaks, values.contiguous(), right=True)

    def take(self, a, index):
        return a[index]

    def clip(self, index, lo, hi):
        return torch.clamp(index, lo, hi)

    def where(self, condition, a, b):
        return torch.where(condition, a, torch.as_tensor(b, dtype=a.dtype, device=a.device))

    def concrete(self, h):
        if torch.compiler.is_compiling():
            return None
        h = h.detach()
        try:  # inside torch.func transforms (jacfwd, vmap...) the values sit under wrappers
            from torch._C._functorch import get_unwrapped, is_functorch_wrapped_tensor

            while is_functorch_wrapped_tensor(h):
                h = get_unwrapped(h)
        except (ImportError, AttributeError):  # private API: without it, NaN off the grid as when compiled
            pass
        try:  # tolist, not numpy: forward-mode duals (jacfwd) have values but no storage to view
            return np.asarray(h.tolist(), dtype=float)
        except (RuntimeError, NotImplementedError):  # no data to read (a meta tensor, an unknown wrapper)
            return None


def load(name: str | os.PathLike, *, hub: str | None = None, dtype: torch.dtype | None = None,
         device: str | torch.device | None = None) -> TorchEmulator:
    """The emulator ``name`` (archive path, ``hub:NAME[@VERSION]``, or a shipped emulator's name,
    as :func:`zelos.get_emulator` resolves it) as a :class:`TorchEmulator`, verified by the Rust
    core before its weights are read.

    ``dtype``: what to compute in (default: the archive's, float32 or float64); ``device``: where
    the weights live and the outputs are made (default: CPU); inputs are moved there.
    """
    archive = _graph.read(name, hub=hub)
    if dtype is None:
        dtype = torch.float64 if archive.graph.dtype == np.float64 else torch.float32
    if dtype not in (torch.float32, torch.float64):
        raise _zelos.ParameterError(f"zelos.torch.load: dtype must be torch.float32 or torch.float64, not {dtype}")
    return TorchEmulator(archive, dtype, torch.device(device if device is not None else "cpu"))
