"""Trust regions, the router and the point log (the Python face of ``src/region``,
``src/router/`` and ``src/pointlog``; see docs/trust-regions.md).

>>> import zelos
>>> from zelos.routing import Router
>>> router = Router({"cmb": zelos.load("camb_lcdm_cmb.tar.gz")}, point_log="zelos_points/")
>>> values, fallbacks = router.evaluate({"ombh2": 0.0224, ...}, ["dl_tt", "rdrag"])
>>> # values: {output: numpy array} for the outputs an emulator served;
>>> # fallbacks: {output: Fallback} for the others: compute them with the real code, then
>>> router.log_fallback(params, fallbacks, computed_outputs)

Every call sees one consistent set of emulators: :meth:`Router.add` may swap an emulator while
other threads route (the Rust core swaps an immutable table; readers never wait).
"""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

from . import _zelos

__all__ = ["Decision", "FALLBACK_KINDS", "Fallback", "PointLog", "Route", "Router", "TrustRegion", "first_fallback",
           "read_point_log"]

#: The fallback kinds the router gives (the Rust core's ``Fallback::KINDS``).
ROUTER_KINDS = tuple(_zelos.Router.FALLBACK_KINDS)
#: The kinds the plugins add: the code computed what no emulator provides at an otherwise
#: emulated point; the router or an emulated path raised; no loaded emulator can answer the run;
#: no emulators were given (MontePython without ``zelos_emulators``).
REQUIREMENT_NOT_EMULATED = "requirement_not_emulated"
EMULATOR_ERROR = "emulator_error"
NO_USABLE_EMULATOR = "no_usable_emulator"
NO_EMULATORS = "no_emulators"
#: Every fallback kind, as in the point log's ``reason`` field and the run statistics (points
#: with a ``non_finite_input`` are refused, never computed).
FALLBACK_KINDS = ROUTER_KINDS + (REQUIREMENT_NOT_EMULATED, EMULATOR_ERROR, NO_USABLE_EMULATOR, NO_EMULATORS)
#: Which fallback of a point names it (in the point log and the statistics): a point outside
#: every region first (it says where the emulators end), then the order of the outputs.
FIRST_KINDS = ("outside_every_region",)


def first_fallback(fallbacks: Mapping):
    """The fallback that names a point: the first of ``fallbacks`` (``{output: Fallback}``)
    whose kind is in :data:`FIRST_KINDS`, else the first."""
    return sorted(fallbacks.values(), key=lambda f: f.kind not in FIRST_KINDS)[0]


Decision = _zelos.Decision


def _core_emulator(emulator):
    """A ``zelos.Emulator``, a core emulator or a path -> the core (``_zelos.Emulator``)."""
    if isinstance(emulator, _zelos.Emulator):
        return emulator
    core = getattr(emulator, "_core", None)
    if isinstance(core, _zelos.Emulator):
        return core
    if isinstance(emulator, (str, os.PathLike)):
        return _zelos.load_emulator(os.fspath(emulator))
    raise TypeError(f"expected a zelos.Emulator or an archive path; got {type(emulator).__name__}")


class TrustRegion:
    """Which points an emulator may answer: ``box``, ``mahalanobis`` and ``hull`` methods, all
    of which must accept a point. Build it from an emulator (:meth:`from_emulator`: its spec's
    ``trust`` section and its archive's region data) or from parts.
    """

    def __init__(self, parameters, methods=("box", "mahalanobis"), *, lower, upper, mean=None,
                 covariance=None, points=None, chi2_quantile=None, pico=None):
        def f64(a):
            return None if a is None else np.ascontiguousarray(a, dtype=float)

        self._core = _zelos.TrustRegion(
            list(parameters), [methods] if isinstance(methods, str) else list(methods),
            f64(lower), f64(upper), f64(mean), f64(covariance),
            None if points is None else np.atleast_2d(f64(points)), chi2_quantile, pico,
        )

    @classmethod
    def from_emulator(cls, emulator) -> "TrustRegion":
        self = cls.__new__(cls)
        self._core = _zelos.TrustRegion.from_emulator(_core_emulator(emulator))
        return self

    @property
    def parameters(self) -> tuple:
        return tuple(self._core.parameters)

    @property
    def methods(self) -> tuple:
        """The methods checked (those whose data the archive holds)."""
        return tuple(self._core.methods)

    @property
    def skipped(self) -> tuple:
        """Notes on requested methods skipped for lack of data (e.g. a box-only archive)."""
        return tuple(self._core.skipped)

    @property
    def mahalanobis_threshold(self) -> float | None:
        return self._core.mahalanobis_threshold

    def _point(self, params) -> np.ndarray:
        if isinstance(params, Mapping):
            missing = [p for p in self.parameters if p not in params]
            if missing:
                raise _zelos.ParameterError(f"trust region: the point lacks {', '.join(missing)}")
            return np.fromiter((float(params[p]) for p in self.parameters), float, len(self.parameters))
        return np.ascontiguousarray(params, dtype=float)

    def decide(self, params) -> Decision:
        """A dict ``{name: value}`` or an array in :attr:`parameters` order -> ``Decision`` with
        ``inside``, ``distance``, ``threshold``, ``method``, ``excess``, ``reason``, ``checks``."""
        return self._core.decide(self._point(params))

    def __contains__(self, params) -> bool:
        return self._core.contains(self._point(params))

    def decide_batch(self, x) -> tuple:
        """``[n, p]`` -> (inside ``[n]`` bool, excess ``[n]``: 0 inside, how far out otherwise)."""
        return self._core.decide_batch(np.atleast_2d(np.asarray(x, dtype=float)))

    def __repr__(self) -> str:
        return f"<zelos.TrustRegion {'+'.join(self.methods)} over ({', '.join(self.parameters)})>"


@dataclass(frozen=True)
class Fallback:
    """Why no emulator serves an output at a point: ``kind`` (one of :data:`FALLBACK_KINDS`),
    ``detail`` in words, and for ``outside_every_region`` the ``nearest`` emulator's key and the
    ``distance`` beyond its region; ``parameter`` for the parameter kinds."""

    kind: str
    detail: str
    nearest: str | None = None
    distance: float | None = None
    parameter: str | None = None

    def __str__(self) -> str:
        return self.detail


@dataclass(frozen=True)
class Route:
    """Where one output goes: ``key`` of the serving emulator, or a ``fallback``."""

    output: str
    key: str | None
    fallback: Fallback | None

    @property
    def served(self) -> bool:
        return self.key is not None


class PointLog:
    """The append-only log of fallback points: one file per process,
    ``{dir}/points.{host}.{pid}.jsonl``, written by a background thread.

    :meth:`log` returns at once with the record's sequence number; a record is *acknowledged*
    once written (:attr:`acknowledged`, :meth:`wait`, :meth:`flush`). Closed at interpreter
    exit, on :meth:`close`, or when leaving a ``with`` block.
    """

    def __init__(self, directory, *, sync: bool = False, file_name: str | None = None):
        self._core = _zelos.PointLog(os.fspath(directory), sync, file_name)
        # Close on exit without keeping the log alive.
        self._finalizer = weakref.finalize(self, _close_quietly, self._core)

    @property
    def path(self) -> str:
        return os.fspath(self._core.path)

    @property
    def acknowledged(self) -> int:
        return self._core.acknowledged

    @property
    def logged(self) -> int:
        return self._core.logged

    def log(self, params: Mapping[str, float], *, reason: str, detail: str = "",
            distance: float | None = None, nearest: str | None = None,
            outputs: Mapping[str, np.ndarray] | None = None) -> int:
        """Hands one point to the writer; returns its sequence number."""
        names = list(params)
        values = np.fromiter((float(params[n]) for n in names), float, len(names))
        outs = [(k, np.asarray(v, dtype=float)) for k, v in (outputs or {}).items()]
        return self._core.log(names, values, reason, detail, distance, nearest, outs)

    def log_fallback(self, params: Mapping[str, float], fallback: Fallback,
                     outputs: Mapping[str, np.ndarray] | None = None) -> int:
        return self.log(params, reason=fallback.kind, detail=fallback.detail, distance=fallback.distance,
                        nearest=fallback.nearest, outputs=outputs)

    def wait(self, seq: int) -> None:
        self._core.wait(seq)

    def flush(self) -> None:
        self._core.flush()

    def close(self) -> None:
        self._core.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _close_quietly(core) -> None:
    try:
        core.close()
    except Exception:  # noqa: BLE001 -- at exit there is nobody left to tell
        pass


def read_point_log(directory) -> list:
    """Every record of every ``points.*.jsonl`` file in ``directory`` (or one file), in file-name
    then file order: dicts with ``host, pid, seq, time, reason, detail, distance, nearest``,
    ``parameters`` (a dict, in logged order) and ``outputs`` (name -> numpy array). A final line
    cut short by a crash is skipped."""
    raw = _zelos.read_point_log(os.fspath(directory))
    points = raw["points"]
    for p in points:
        p["parameters"] = dict(p["parameters"])
    return points


def _covering(covering) -> dict | None:
    return None if covering is None else {o: list(keys) for o, keys in covering.items()}


def _fallback(t) -> Fallback:
    kind, detail, nearest, distance, parameter = t
    return Fallback(kind, detail, nearest, distance, parameter)


class Router:
    """Several emulators, each under a key. For a point and the outputs wanted, serves each
    output from the most accurate emulator whose trust region holds the point, or says why none
    can (:class:`Fallback`). Most accurate: the smallest worst-likelihood |Δχ²| p99 that ``zelos
    validate`` recorded (``report["likelihood_accuracy"]``), then, for emulators without it, the
    smallest ``report["summary"]["max_relative_error"]`` (docs/trust-regions.md).

    Only the parameters an emulator takes matter to it; a parameter it holds fixed (its spec's
    numeric ``code.settings``, e.g. ``mnu``) must, if the point gives it, have that value. Pass
    cosmological parameters only: a parameter that changes the physics but that no emulator
    knows about cannot be detected.
    """

    def __init__(self, emulators: Mapping | None = None, *, point_log=None):
        self._core = _zelos.Router()
        for key, emulator in (emulators or {}).items():
            self.add(key, emulator)
        if point_log is None or isinstance(point_log, PointLog):
            self.point_log = point_log
        else:
            self.point_log = PointLog(point_log)

    # -- the set of emulators ---------------------------------------------------------------
    def add(self, key: str, emulator, *, region: TrustRegion | None = None,
            fixed: Mapping[str, float] | None = None, accuracy: float | None = None,
            keep_rank: bool = False) -> str | None:
        """Adds or swaps the emulator under ``key`` (a ``zelos.Emulator`` or an archive path);
        returns the sha256 of the one replaced. ``accuracy`` ranks it as that maximum relative
        error instead of its report's statistic. ``keep_rank``: a swap keeps the rank of the
        emulator it replaces (a retrained one has no `zelos validate` of its own yet). Safe while
        other threads route."""
        return self._core.insert(
            key, _core_emulator(emulator), None if region is None else region._core,
            None if fixed is None else [(k, float(v)) for k, v in fixed.items()], accuracy, keep_rank,
        )

    def remove(self, key: str) -> bool:
        return self._core.remove(key)

    def keys(self) -> list:
        """Keys in rank order (best validated accuracy first)."""
        return self._core.keys()

    def entries(self) -> list:
        """One dict per emulator, in rank order: key, name, sha256, accuracy (the number ranked
        by) and accuracy_statistic (which: ``likelihood_abs_delta_chi2_p99`` or
        ``max_relative_error``), parameters, outputs, fixed, methods, skipped."""
        return self._core.entries()

    @property
    def generation(self) -> int:
        """Incremented by every add, swap and removal."""
        return self._core.generation

    def __contains__(self, key) -> bool:
        return key in self.keys()

    def __len__(self) -> int:
        return len(self.keys())

    # -- calls --------------------------------------------------------------------------------
    @staticmethod
    def _point(params: Mapping[str, float]) -> tuple:
        names = list(params)
        values = np.fromiter((float(params[n]) for n in names), float, len(names))
        return names, values

    def route(self, params: Mapping[str, float], outputs: Iterable[str],
              covering: Mapping[str, Sequence[str]] | None = None) -> dict:
        """``{output: Route}`` for each wanted output. ``covering``: ``{output: keys}``, the only
        candidates for that output (the emulators whose grids cover what the caller asks of
        it: a lower-ranked one that covers the request then serves it); other outputs may go to
        any emulator that emulates them."""
        names, values = self._point(params)
        return {o: Route(o, key, None if fb is None else _fallback(fb))
                for o, key, fb in self._core.route(names, values, list(outputs), _covering(covering))}

    def evaluate(self, params: Mapping[str, float], outputs: Sequence[str],
                 covering: Mapping[str, Sequence[str]] | None = None) -> tuple:
        """Routes (``covering`` as for :meth:`route`) and evaluates: (``{output: array}`` for
        served outputs, ``{output: Fallback}`` for the others). Each serving emulator runs once."""
        names, values = self._point(params)
        served, _keys, fallbacks = self._core.evaluate(names, values, list(outputs), _covering(covering))
        return served, {o: _fallback(t) for o, t in fallbacks}

    def evaluate_with_keys(self, params: Mapping[str, float], outputs: Sequence[str],
                           covering: Mapping[str, Sequence[str]] | None = None) -> tuple:
        """As :meth:`evaluate`, plus ``{output: key}`` of the serving emulators."""
        names, values = self._point(params)
        served, keys, fallbacks = self._core.evaluate(names, values, list(outputs), _covering(covering))
        return served, dict(keys), {o: _fallback(t) for o, t in fallbacks}

    def log_fallback(self, params: Mapping[str, float], fallbacks: Mapping[str, Fallback],
                     outputs: Mapping[str, np.ndarray]) -> int | None:
        """Logs a fallback point with the outputs the real code computed for it (one record per
        point; the reason is that of the first fallback, preferring ``outside_every_region``).
        Returns the sequence number, or None without a point log or without fallbacks."""
        if self.point_log is None or not fallbacks:
            return None
        return self.point_log.log_fallback(params, first_fallback(fallbacks), outputs)

    def __repr__(self) -> str:
        return f"<zelos.routing.Router {', '.join(self.keys()) or '(empty)'}>"


#: Parameter names that restate one another, per code (an emulator taking one varies the other).
_SAME_PARAMETER = {"camb": {"As": "logA", "logA": "As"},
                   "classy": {"h": "H0", "H0": "h", "A_s": "ln10^{10}A_s", "ln10^{10}A_s": "A_s"}}


def emulators_varying(parameter: str, code: str) -> list:
    """The emulators shipped with zelos (``zelos.shipped``) trained with ``code`` that take
    ``parameter`` (or a name restating it), as ``NAME (what it emulates)``. For the plugins'
    start-up warning about a sampled parameter no loaded emulator varies."""
    from .emulator import get_emulator
    from .shipped import shipped_names

    names = {parameter, _SAME_PARAMETER.get(code, {}).get(parameter, parameter)}
    out = []
    for name in shipped_names():
        try:
            emu = get_emulator(name, out_of_range="ignore")
        except Exception:  # noqa: BLE001 -- a broken install is not this warning's business
            continue
        if emu.spec["code"]["name"] == code and names & set(emu.parameters):
            out.append(f"{name} ({', '.join(emu.outputs)})")
    return out
