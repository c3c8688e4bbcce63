"""The Python face of an emulator: named parameters in, named numpy arrays out."""

from __future__ import annotations

import json
import math
import numbers
import os
import warnings
from dataclasses import dataclass
from functools import cached_property
from typing import Mapping, Sequence

import numpy as np

from . import _zelos
from ._zelos import OutOfRange, ParameterError, ZelosError

#: What to do with a point outside the training box: raise `OutOfRange`, warn, or say nothing.
OUT_OF_RANGE_POLICIES = ("error", "warn", "ignore")
# Value types the fast path takes as they are; anything else goes through `_real_array`, which
# accepts or refuses it with a message naming the parameter (docs/reliability.md).
_FAST_TYPES = frozenset({float, int, np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.int8,
                         np.uint64, np.uint32, np.uint16, np.uint8})


@dataclass(frozen=True)
class OutputInfo:
    """One named output: its shape and the grid each axis runs over (``ell``, ``k``, ``z_pk``...)."""

    name: str
    offset: int
    shape: tuple
    axes: tuple

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


class Emulator:
    """An emulator loaded from a verified archive.

    Call it with a dict of parameters (or an array in :attr:`parameters` order; 2-D for a batch)
    to get a dict of named outputs; with ``k`` and ``z`` to get P(k, z).
    """

    def __init__(self, core: "_zelos.Emulator", out_of_range: str = "error"):
        if out_of_range not in OUT_OF_RANGE_POLICIES:
            raise ValueError(f"out_of_range={out_of_range!r}; expected one of {OUT_OF_RANGE_POLICIES}")
        self._core = core
        self.out_of_range = out_of_range
        self.parameters: tuple = tuple(core.parameters)
        self.outputs: dict = {
            name: OutputInfo(name, offset, tuple(shape), tuple(axes)) for name, offset, shape, axes in core.layout
        }
        self.grids: dict = dict(core.grids)
        self.lower, self.upper = core.bounds
        # (name, slice, shape) per output: splitting a flat vector is then a few slicings.
        self._views = [(o.name, slice(o.offset, o.offset + o.size), o.shape) for o in self.outputs.values()]

    # -- what it is ------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._core.name

    @property
    def sha256(self) -> str:
        """sha256 of the archive file: its identity in reports, hubs and lineage."""
        return self._core.sha256

    @property
    def fixed_settings(self) -> dict:
        """``{name: value}``: the parameters its spec's ``code.settings`` hold fixed (each setting
        whose value is a finite number, or a string that reads as one, that is not a varied
        parameter). A point that sets one to another value is not this emulator's to answer: the
        router, the plugins' plans and ``zelos retrain`` all use this one definition (the Rust
        core's ``CodeSpec::fixed_parameters``)."""
        return dict(self._core.fixed_settings)

    @property
    def path(self) -> str:
        return self._core.origin

    @cached_property
    def spec(self) -> dict:
        """The spec the emulator was built from (validated, self-contained)."""
        return json.loads(self._core.spec_json)

    @property
    def spec_yaml(self) -> str:
        return self._core.spec_yaml

    @cached_property
    def report(self) -> dict:
        """The build report: accuracy on held-out points, provenance, versions."""
        return json.loads(self._core.report_json)

    @property
    def report_markdown(self) -> str:
        return self._core.report_markdown

    @cached_property
    def region(self) -> dict:
        """Trust-region data: ``lower``, ``upper`` and, when stored, ``mean``, ``covariance``, ``points``."""
        return dict(self._core.region_tensors)

    def __repr__(self) -> str:
        outs = ", ".join(self.outputs)
        return f"<zelos.Emulator {self.name} ({', '.join(self.parameters)}) -> ({outs})>"

    # -- evaluation ------------------------------------------------------------------------
    def __call__(self, params, k=None, z=None, *, nonlinear: bool | None = None, k_hunit: bool = False):
        """Evaluates the emulator.

        ``params``: a dict ``{name: value}`` (values may be 1-D arrays of equal length for a
        batch), or an array in :attr:`parameters` order, 1-D for one point, 2-D for a batch.

        Returns a dict ``{output name: numpy array}``; with ``k`` [1/Mpc] and ``z``, returns
        P(k, z) [Mpc^3] of shape ``(len(z), len(k))`` (a batch adds a leading axis; a scalar ``z``
        gives a 1-D array over k, a scalar ``k`` one over z); ``k_hunit=True`` takes k in h/Mpc
        and returns P in (Mpc/h)^3 (see :meth:`pk`).

        Under JAX tracing (a parameter value is a JAX tracer: inside ``jax.grad``, ``jax.jit``,
        ``jax.vmap``...) the call is evaluated by :mod:`zelos.jax` on the same archive and returns
        JAX arrays, so ``jax.grad(lambda p: emulator(p, k, z).sum())(params)`` works (``k`` and
        ``z`` must then be concrete; the training box is not checked on traced values).
        """
        if k is not None or z is not None:
            if k is None or z is None:
                raise ParameterError("P(k, z) needs both `k` and `z`")
            return self.pk(params, k, z, nonlinear=nonlinear, k_hunit=k_hunit)
        if k_hunit:
            raise ParameterError("k_hunit applies to P(k, z): pass `k` and `z` too")
        fast = self._fast_point(params)
        if fast is not None:
            return fast
        from .pk_interp import jax_function, traced

        if traced(params):  # inside jax.grad/jit/vmap: the same archive as a JAX function
            return jax_function(self)(params)
        x, batched = self._as_array(params)
        if batched:
            return self._split(self._core.eval_batch(x), batched=True)
        return self._split(self._core.eval(x), batched=False)

    def _fast_point(self, params, networks=None):
        """One point given as a dict of floats, checked in Rust: the common case, kept lean.
        Anything unusual returns None and takes the general path, which explains errors.
        ``networks``: only these networks run (the other outputs are NaN)."""
        if type(params) is not dict or len(params) != len(self.parameters):
            return None
        try:
            values = tuple(map(params.__getitem__, self.parameters))
        except KeyError:
            return None
        # Exactly real numbers (no bool, str, complex, None...), finite even when the range
        # check is off: the Rust check below refuses NaN and inf, but only when it runs.
        if not _FAST_TYPES.issuperset(map(type, values)):
            return None
        try:
            x = np.fromiter(values, float, len(values))
        except OverflowError:  # an int beyond float64
            return None
        if self.out_of_range == "ignore" and not math.isfinite(sum(values)):
            return None
        try:
            flat = self._core.eval(x, self.out_of_range != "ignore", networks)
        except OutOfRange as e:
            if self.out_of_range == "error":
                raise
            warnings.warn(str(e), RuntimeWarning, stacklevel=3)
            flat = self._core.eval(x, False, networks)
        return {name: flat[s].reshape(shape) for name, s, shape in self._views}

    def eval_flat(self, x: np.ndarray) -> np.ndarray:
        """The fast path: a 1-D float64 array in parameter order -> the flat output vector.

        No range check and no dict: for inner loops that manage both themselves.
        """
        return self._core.eval(x)

    def jacobian(self, params) -> dict:
        """``{output name: d output / d parameter}`` at one point; each array has the output's
        shape plus a last axis over :attr:`parameters`."""
        x, batched = self._as_array(params)
        if batched:
            raise ParameterError("jacobian takes one point; loop over a batch")
        _, jac = self._core.jacobian(x)
        p = len(self.parameters)
        return {o.name: jac[o.offset : o.offset + o.size].reshape(o.shape + (p,)) for o in self.outputs.values()}

    def pk(self, params, k, z, nonlinear: bool | None = None, *, k_hunit: bool = False) -> np.ndarray:
        """P(k, z) in Mpc^3 at ``k`` [1/Mpc] and ``z``, shape ``(len(z), len(k))``; a batch of
        parameters adds a leading axis, a scalar ``z`` gives a 1-D array over k and a scalar ``k``
        one over z. k and z may come in any order (the result follows it).

        Interpolated from the emulated grid with a bicubic spline in (ln(1 + z), ln k) on ln P,
        which is smooth where P is (no extrapolation: outside the grid raises ``ParameterError``).
        ln(1 + z), because growth makes ln P nearly linear in it. Between grid redshifts the
        accuracy depends on the grid's spacing: ``zelos validate ARCHIVE --dense-pk`` measures it
        against the code (CAMB_LCDM_linear_Pk, nodes 0, 0.5, 1, 2, 3, 5: under 2e-3, worst
        between 0 and 0.5 where dark energy bends growth; docs/accuracy.md).

        ``nonlinear``: ``pk_nonlin`` (True) or ``pk_lin`` (False); None takes the one the archive
        has, linear first. ``k_hunit=True``: ``k`` in h/Mpc and P in (Mpc/h)^3, as CAMB's and
        Cobaya's ``k_hunit``/``hubble_units``, with h from the parameter ``H0`` (or ``h``), else from
        an emulated ``H0`` output; an emulator with neither raises ``ParameterError``.

        Under JAX tracing (a parameter is a JAX tracer, e.g. inside ``jax.grad``) this is
        :meth:`zelos.jax.JaxEmulator.pk` on the same archive: the same spline, as matrices on
        ln P (:mod:`zelos.pk_interp`), differentiable, returning JAX arrays; ``k`` and ``z`` must
        be concrete then.
        """
        from . import pk_interp

        if pk_interp.traced(params, k, z):
            return pk_interp.jax_function(self).pk(params, k, z, nonlinear=nonlinear, k_hunit=k_hunit)
        axes = {name: info.axes for name, info in self.outputs.items()}
        q = pk_interp.query(self.name, axes, self.grids, k, z, nonlinear, k_hunit)
        # one point in 1/Mpc needs the P(k) network alone (the other outputs are NaN then)
        out = None if k_hunit else self._fast_point(params, networks=(q.output,))
        return pk_interp.numpy_pk(q, out if out is not None else self(params), params, self.name, self.parameters)

    # -- helpers ---------------------------------------------------------------------------
    def _as_array(self, params) -> tuple:
        """Parameters -> (float64 array in parameter order, batched?) with every check made."""
        if isinstance(params, Mapping):
            x = self._from_dict(params)
        else:
            x = self._from_sequence(params)
        batched = x.ndim == 2
        rows = x if batched else x[None, :]
        bad = ~np.isfinite(rows)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise ParameterError(f"{self.name}: parameter `{self.parameters[j]}` is {float(rows[i, j])!r}; "
                                 "expected a finite number")
        self._check_range(rows)
        return np.ascontiguousarray(x), batched

    def _from_dict(self, params: Mapping) -> np.ndarray:
        missing = [p for p in self.parameters if p not in params]
        extra = [p for p in params if p not in self.parameters]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing {', '.join(missing)}")
            if extra:
                parts.append(f"unknown {', '.join(map(str, extra))}")
            raise ParameterError(f"{self.name}: {'; '.join(parts)} (it takes {', '.join(self.parameters)})")
        columns = [_real_array(params[p], lambda index, p=p: p, self.name) for p in self.parameters]
        if all(c.ndim == 0 for c in columns):
            return np.array([float(c) for c in columns])
        n = {c.size for c in columns if c.ndim > 0}
        if len(n) != 1 or any(c.ndim > 1 for c in columns):
            shapes = ", ".join(f"`{p}` {c.shape}" for p, c in zip(self.parameters, columns) if c.ndim > 0)
            raise ParameterError(f"{self.name}: batch parameters must be scalars or 1-D arrays of one length; "
                                 f"got shapes {shapes}")
        size = n.pop()
        return np.stack([np.broadcast_to(c, (size,)) for c in columns], axis=1)

    def _from_sequence(self, params) -> np.ndarray:
        """An array (1-D: one point, 2-D: a batch) in parameter order -> float64."""
        expected = (f"an array of shape ({len(self.parameters)},) or (n, {len(self.parameters)}) in the order "
                    f"{', '.join(self.parameters)} (or a dict {{name: value}})")
        if params is None or isinstance(params, (str, bytes)):
            raise ParameterError(f"{self.name}: expected {expected}; got {_found(params)}")
        shape = _shape(params, lambda: f"{self.name}: expected {expected}; got a ragged nested sequence")
        if len(shape) not in (1, 2) or shape[-1] != len(self.parameters):
            raise ParameterError(f"{self.name}: expected {expected}; got shape {shape}")
        return _real_array(params, lambda index: self.parameters[index[-1]], self.name,
                           point=(lambda index: index[0]) if len(shape) == 2 else None)

    @cached_property
    def _accept(self):
        """Which rows satisfy the spec's `constraints` (None without any)."""
        from .spec import constraint_filter

        return constraint_filter(list(self.parameters), self.spec.get("constraints") or [])

    def _check_range(self, rows: np.ndarray) -> None:
        if self.out_of_range == "ignore":
            return
        outside = (rows < self.lower) | (rows > self.upper)
        if not outside.any():
            self._check_constraints(rows)
            return
        i = int(np.argwhere(outside.any(axis=1))[0, 0])
        # The same words as the Rust core's check (one message, whichever path raised it).
        message = f"{self.name}: outside the training box: " + ", ".join(
            f"`{self.parameters[j]}` = {rows[i, j]} (trained on [{self.lower[j]}, {self.upper[j]}])"
            for j in np.flatnonzero(outside[i])
        )
        if len(rows) > 1:
            message += f" (point {i}; {int(outside.any(axis=1).sum())} of {len(rows)} points outside)"
        if self.out_of_range == "error":
            raise OutOfRange(message)
        warnings.warn(message, RuntimeWarning, stacklevel=4)

    def _check_constraints(self, rows: np.ndarray) -> None:
        """Inside the box: the spec's constraints too (the message is the Rust core's)."""
        if self._accept is None:
            return
        broken = ~self._accept(rows)
        if not broken.any():
            return
        i = int(np.flatnonzero(broken)[0])
        try:
            self._core.check_point(np.ascontiguousarray(rows[i], dtype=np.float64))
            return  # pragma: no cover - the core agrees with the numpy check
        except OutOfRange as e:
            message = str(e)
        if len(rows) > 1:
            message += f" (point {i}; {int(broken.sum())} of {len(rows)} points outside)"
        if self.out_of_range == "error":
            raise OutOfRange(message)
        warnings.warn(message, RuntimeWarning, stacklevel=5)

    def _split(self, flat: np.ndarray, batched: bool) -> dict:
        """Flat outputs -> named views (no copies)."""
        if batched:
            n = flat.shape[0]
            return {o.name: flat[:, o.offset : o.offset + o.size].reshape((n,) + o.shape) for o in self.outputs.values()}
        return {o.name: flat[o.offset : o.offset + o.size].reshape(o.shape) for o in self.outputs.values()}


def _found(value) -> str:
    """What a refused value is, in a few words."""
    if value is None:
        return "None"
    if isinstance(value, (bool, np.bool_)):
        return f"the boolean {bool(value)}"
    if isinstance(value, (str, bytes)):
        text = repr(value)
        return f"the string {text if len(text) <= 40 else text[:37] + '...'}"
    if isinstance(value, (complex, np.complexfloating)):
        return f"the complex number {complex(value)}"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _shape(value, ragged) -> tuple:
    """``np.shape`` of a (possibly nested) sequence; a ragged one raises ParameterError(ragged())."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy < 1.24 warns before making a ragged object array
            shape = np.shape(value)
    except ValueError:
        raise ParameterError(ragged()) from None
    return shape


def _holds_bool(value) -> bool:
    """Whether a (nested) list or tuple holds a bool anywhere."""
    types = set(map(type, value))
    if bool in types or np.bool_ in types:
        return True
    return (list in types or tuple in types) and any(_holds_bool(v) for v in value if type(v) in (list, tuple))


def _real_array(value, name_at, emulator: str, point=None) -> np.ndarray:
    """``value`` as float64, or ParameterError naming the parameter (``name_at(index)``).

    Taken: real numbers (Python int and float, numpy integer and floating values, and anything
    whose array is of such a dtype), alone or in regular (nested) sequences or arrays; an object
    array when every element is a real number. Refused: bool, str, bytes, None, complex (even with
    a zero imaginary part: never cut to its real part), structured, datetime and ragged input,
    and integers beyond float64 (docs/reliability.md).
    """
    def where(index):
        at = "" if point is None or index is None or len(index) < 2 else f" (point {point(index)})"
        return f"{emulator}: parameter `{name_at(index)}`{at}"

    def refuse(index, element, expected="a real number"):
        raise ParameterError(f"{where(index)} is {_found(element)}; expected {expected}")

    if isinstance(value, (complex, np.complexfloating)):
        refuse((0,), value, "a real number (complex input is refused, never cut to its real part)")
    if value is None or isinstance(value, (str, bytes, bool, np.bool_)):
        refuse((0,), value)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = np.asarray(value)
    except (ValueError, TypeError):
        raise ParameterError(f"{where((0,))}: a ragged nested sequence; expected a number or a regular "
                             "array of numbers") from None
    kind = a.dtype.kind
    if kind in "fiu" and isinstance(value, (list, tuple)) and _holds_bool(value):
        kind = "b"  # numpy made [0.02, True] floats: look at the elements instead
    if kind in "fiu":
        return a.astype(np.float64, copy=False)
    if a.size == 0:
        return np.zeros(a.shape)
    if kind in "USbc" and not isinstance(value, np.ndarray):
        # A list mixing numbers with a string (or bool...) became strings: look at its elements.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a, kind = np.asarray(value, dtype=object), "O"
    if kind == "O":
        out = np.empty(a.shape)
        for index, element in np.ndenumerate(a):
            if isinstance(element, (complex, np.complexfloating)):
                refuse(index, element, "a real number (complex input is refused, never cut to its real part)")
            if isinstance(element, (bool, np.bool_)) or not isinstance(element, numbers.Real):
                refuse(index, element)
            try:
                out[index] = float(element)
            except OverflowError:
                refuse(index, element, "a number within float64's range")
        return out
    # bool, complex, strings, structured records, dates: the first element says what was found.
    first = a.reshape(-1)[0]
    index = np.unravel_index(0, a.shape) if a.ndim else (0,)
    if kind == "c":
        nonreal = np.flatnonzero(a.reshape(-1).imag != 0)
        at = int(nonreal[0]) if nonreal.size else 0
        index = np.unravel_index(at, a.shape) if a.ndim else (0,)
        refuse(index, a.reshape(-1)[at], "a real number (complex input is refused, never cut to its real part)")
    if kind == "V":
        raise ParameterError(f"{where(index)}: a structured array (dtype {a.dtype}); expected plain numbers")
    refuse(index, first.item() if hasattr(first, "item") else first)


def _check_inside(name: str, values: np.ndarray, grid: np.ndarray) -> None:
    lo, hi = grid[0], grid[-1]
    tol = 1e-10 * max(abs(lo), abs(hi), 1.0)
    if values.min() < lo - tol or values.max() > hi + tol:
        raise ParameterError(f"`{name}` must lie in the emulated range [{lo:g}, {hi:g}]; got [{values.min():g}, {values.max():g}]")


def load(path: str | os.PathLike, out_of_range: str = "error") -> Emulator:
    """Reads, verifies and loads an archive (``NAME.tar.gz``).

    ``out_of_range``: what a call outside the training box does: ``"error"`` (raise
    :class:`zelos.OutOfRange`), ``"warn"`` or ``"ignore"``.
    """
    return Emulator(_zelos.load_emulator(os.fspath(path)), out_of_range=out_of_range)


def get_emulator(name: str | os.PathLike, out_of_range: str = "error", *, hub: str | None = None) -> Emulator:
    """An emulator by archive path, by ``hub:NAME[@VERSION]``, or by the name of one shipped
    with zelos.

    ``hub:NAME`` takes the newest version on the hub (``hub=``, else ``ZELOS_HUB``) and
    ``hub:NAME@VERSION`` a pinned one; either is downloaded once, verified and cached, then
    read from the cache with no request (see docs/hub.md and :mod:`zelos.hub`). When the hub
    cannot answer and nothing is cached, an emulator of that name shipped with zelos does.
    """
    text = os.fspath(name)
    if text.startswith("hub:"):
        return _from_hub(text, out_of_range, hub)
    if os.path.exists(text):
        return load(text, out_of_range)
    from .shipped import shipped_archive

    path = shipped_archive(text)
    if path is not None:
        return load(path, out_of_range)
    from .shipped import unknown_name_message

    raise ZelosError(unknown_name_message(text))


def _from_hub(reference: str, out_of_range: str, hub: str | None) -> Emulator:
    from . import hub as hub_module
    from .shipped import shipped_archive

    try:
        resolved = hub_module.fetch(reference, hub)
    except hub_module.HubError as e:
        name, version = hub_module.parse_reference(reference)
        path = shipped_archive(name)
        if path is None:
            raise
        emu = load(path, out_of_range)
        if version is not None and emu.spec.get("version") != version:
            raise
        hub_module.logger.warning("%s: %s; using the emulator shipped with zelos (%s)", reference, e, path)
        return emu
    emu = load(resolved.path, out_of_range)
    if emu.sha256 != resolved.sha256:
        raise hub_module.HubError(
            f"{resolved.path}: the cached archive changed since it was verified (sha256 {emu.sha256}, "
            f"expected {resolved.sha256}); delete it and try again"
        )
    return emu
