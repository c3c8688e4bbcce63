"""``Class``: classy's ``Class`` for MontePython, answered by zelos emulators where they can.

MontePython makes one ``Class()`` for the run and, per point, calls ``struct_cleanup()``,
``set(data.cosmo_arguments)`` and ``compute()``; its likelihoods then call accessors (``h``,
``angular_distance``, ``Hubble``, ``rs_drag``, ``pk``, ``lensed_cl``...) and MontePython reads
``get_current_derived_parameters(names)``. Here ``compute()``:

1. reads the ``zelos_*`` options from a copy of the arguments (``options.split``) and plans the
   run once (``plan.Plan``: which emulators can answer it, for which outputs);
2. translates the point to the emulators' names and routes it (``zelos.routing.Router``): each
   wanted output comes from the most accurate emulator that covers the point. If an emulator
   covers it for some wanted output, the point is *emulated*: an output that none covers there
   (``sigma8`` at a w0wa point, beside an emulator that varies w0wa for the background) is left
   to the code the emulators were trained with (CLASS through the real classy, or CAMB through
   ``camb_class.CambClass``), which computes the point when a call reads that output, once, and
   the point then counts as computed, with the router's reason; an output the run's calls read
   at an earlier point is computed so inside ``compute()`` (``Plan.use``). If no emulator covers
   the point for any wanted output, by default the whole point is computed by the code and
   logged (``zelos_log``). One accessor never mixes emulated and computed values (a C_l dict
   is the code's when one of its spectra is).

At an emulated point, an accessor no emulator can answer (``Neff``, a redshift beyond the grid,
``sigma`` when no emulator has P(k)...) runs the code for that point, once, to the module it
needs (``background`` for distances, ``fourier`` for P(k), ``lensing`` for C_l), as classy's
own accessors do. A fraction ``zelos_spot_check`` of the emulated points is also computed by the
code, to measure the emulators' error on the chain; the end of the run prints a summary.

classy's accessors (``accessors``) and the code's runs (``code_runs``) are mixed into ``Class``
from the modules beside this one.
"""

from __future__ import annotations

import logging
import math
import numbers
import sys
import time
import weakref

import numpy as np

from ..physics import T_CMB
from ..routing import EMULATOR_ERROR, NO_EMULATORS, NO_USABLE_EMULATOR, Fallback, first_fallback
from ..runstats import RunStats
from ..serving import compose, session
from ..serving.compare import output_difference
from .accessors import ClassyAccessors
from .class_inputs import read_inputs, read_request
from .code_runs import CodeRuns
from .emulated import Served, SplineMaps, output_level
from .errors import CosmoComputationError, CosmoSevereError
from .levels import LEVELS, expand
from .options import split
from .outputs import read_outputs

log = logging.getLogger("zelos.montepython")


class _Stdout(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is when a line is logged (MontePython may redirect it)."""

    def emit(self, record):
        self.stream = sys.stdout
        super().emit(record)


def _setup_logging() -> None:
    """``[zelos] ...`` lines on stdout, beside MontePython's own prints, unless the caller
    configured logging."""
    if not log.handlers and not logging.getLogger().handlers:
        handler = _Stdout()
        handler.setFormatter(logging.Formatter("[zelos] %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


class _Point:
    """The state of the point being answered."""

    def __init__(self, plan, clean, inputs, request, level):
        self.plan, self.clean, self.inputs, self.request = plan, clean, inputs, request
        self.level = level
        self.mode = None  # "emulated" | "fallback" (the code computes the whole point)
        self.served = None
        self.router_point = self.camb_point = None
        self.values = self.keys = None
        self.live = frozenset()  # classy modules the code has computed for this point
        self.rest_reason = None
        self.unserved = {}  # wanted outputs no emulator covers at this emulated point: {output: Fallback}
        self.seconds = 0.0  # the time of answering it when emulated


class Class(ClassyAccessors, CodeRuns):
    """classy's ``Class``, answered from zelos emulators inside their trust regions and by the
    code they were trained with elsewhere. Options: ``zelos_*`` keys of the arguments given to
    :meth:`set` (docs/montepython.md)."""

    _levellist = list(LEVELS)

    def __init__(self, default=False):
        self._pars = {}
        self._computed = False
        self._point = None
        self._plans = {}
        self._emulators = {}
        self._backends = {}
        self._logs = {}
        self._maps = SplineMaps()
        self._stats = RunStats()
        self._rng = None
        self._said = set()
        self._said_held = set()  # inputs warned about: every serving emulator holds another value
        self._said_uncovered = set()  # (output, reason, parameter) said once: the code computes it
        self._code = None
        self._end = _End(self._stats, self._logs)
        # the summary is printed when the object goes, or at interpreter exit, whichever is first
        weakref.finalize(self, self._end.close)
        _setup_logging()
        if default:
            self.set_default()

    # -- classy's set-up calls ------------------------------------------------------------------------
    @property
    def state(self):
        return True

    @property
    def pars(self):
        return self._pars

    def set_default(self):
        self.set(output="tCl mPk")

    def set(self, *pars, **kars):
        """Adds parameters (a dict and/or keywords), as classy does. The dict given is copied,
        never modified; nothing changes if every item was already set."""
        old = dict(self._pars)
        new = dict(self._pars)
        if len(pars) == 1:
            new.update(dict(pars[0]))
        elif len(pars) != 0:
            raise CosmoSevereError("bad call")
        new.update(kars)
        self._pars = new
        try:
            if new.items() <= old.items():
                return None  # classy: an already-contained dict keeps the computed state
        except Exception:  # noqa: BLE001 -- values that do not compare (arrays): taken as changed
            pass
        self._computed = False
        return True

    def empty(self):
        self._pars = {}
        self._computed = False
        self._point = None

    def struct_cleanup(self):
        self._computed = False
        self._point = None
        for backend in self._backends.values():
            backend.struct_cleanup()

    # -- compute ----------------------------------------------------------------------------------------
    def compute(self, level=["distortions"]):  # noqa: B006 -- classy's signature
        """Answers the current parameters: emulated, or computed by the code (see the module
        docstring). A no-op when already done for these parameters."""
        wanted = expand(level)
        p = self._point
        if self._computed and p is not None:
            if p.mode != "emulated":
                self._run_code(p, wanted)
            p.level = p.level | wanted
            return None
        self._new_point(wanted)
        return None

    def _new_point(self, level):
        options, clean = split(self._pars)
        inputs = read_inputs(clean, options.ignore)
        request = read_request(clean)
        plan = self._plan(options, clean, inputs, request)
        t0 = time.perf_counter()  # after the plan: the first point's set-up is not a point's cost
        stats = self._stats
        stats.calls += 1
        bad = _non_finite(clean)
        if bad:
            self._refuse(plan, options, clean, bad)
        p = self._point = _Point(plan, clean, inputs, request, level)
        p.router_point, p.camb_point = plan.translate(inputs)
        if plan.router is None:
            fb = Fallback(NO_USABLE_EMULATOR if plan.emulators else NO_EMULATORS,
                           "no emulator can answer this run (see the start-up lines)")
        else:
            fb = self._route(p, options)
            if fb is None:
                self._computed = True
                p.seconds = time.perf_counter() - t0
                stats.add("emulated", p.seconds)
                self._compute_used(p)
                if p.rest_reason is None and options.spot_check and self._draw(options) < options.spot_check:
                    self._spot_check(p)
                self._progress(options)
                return
            if options.out_of_range != "compute":
                stats.fallbacks[fb.kind] += 1
                self._point = None
                if options.out_of_range == "error":
                    raise CosmoSevereError(f"zelos: point outside the emulators' trust regions and "
                                           f"zelos_out_of_range is 'error': {fb.detail}")
                raise CosmoComputationError(f"zelos: point outside the emulators' trust regions, rejected "
                                            f"(zelos_out_of_range: 'reject'): {fb.detail}")
        p.mode = "fallback"
        try:
            self._run_code(p, level)
        except Exception:
            stats.failed += 1
            self._point = None
            raise
        self._computed = True
        stats.add("fallback", time.perf_counter() - t0)
        stats.fallbacks[fb.kind] += 1
        if plan.router is not None:
            self._log_fallback(p, fb, options)
            if fb.kind == "parameter_not_emulated":
                self._warn_held(p)
        self._progress(options)

    def _refuse(self, plan, options, clean, bad):
        """A point with a non-finite input is rejected (``CosmoComputationError``, naming it),
        never passed to the code; said on the log and in the point log."""
        detail = "non-finite input " + ", ".join(f"`{k}` = {v!r}" for k, v in bad.items())
        self._stats.refused["non_finite_input"] += 1
        self._point = None
        if options.log:
            numbers = {k: _as_float(v) for k, v in clean.items() if _as_float(v) is not None}
            self._point_log(options).log(numbers, reason="non_finite_input", detail=detail)
        log.info("point rejected, never passed to %s: %s", plan.code, detail)
        raise CosmoComputationError(f"zelos: {detail}: the point is rejected, never passed to {plan.code}")

    def _warn_held(self, p):
        """A WARNING, once per input, when a point sets an input that every serving emulator
        holding it holds at another value (CLASS's massless default against an emulator trained
        with mnu = 0.06; a sampled w): every such point is computed by the code."""
        from ..code_inputs import same_number

        plan = p.plan
        differs = {}
        for key in plan.serving:
            for name, held in plan.held_otherwise(key, p.router_point):
                differs.setdefault(name, []).append((key, held))
        for name, holders in differs.items():
            if name in self._said_held or any(same_number(float(p.router_point[name]), float(h)) for k in plan.serving
                                              for n, h in plan.usable[k][1].items() if n == name and k not in
                                              {key for key, _ in holders}):
                continue
            self._said_held.add(name)
            from ..routing import emulators_varying
            from .class_inputs import CAMB_SOURCE

            source = CAMB_SOURCE.get(name, ()) if plan.code == "camb" else ()
            given = [k for k in source if k in p.clean or k in p.inputs.physics]
            origin = ("" if not source else f" (from CLASS's {', '.join(f'`{k}`' for k in source)}: "
                      + (f"given as {', '.join(f'{k} = {p.clean.get(k, p.inputs.physics.get(k))!r}' for k in given)})"
                         if given else "not given, CLASS's default)"))
            shipped = emulators_varying(name, plan.code)
            log.warning("`%s` = %.6g in this run%s, but %s, as trained: every point where it differs is computed by %s "
                        "(parameter_not_emulated), not emulated; %s", name, p.router_point[name], origin,
                        ", ".join(f"`{k}` holds {name} = {h:g}" for k, h in holders), plan.code,
                        f"emulators shipped with zelos that vary it: {', '.join(shipped)}" if shipped else
                        f"no emulator shipped with zelos varies `{name}`: set the run's inputs to the emulators' "
                        "values (see docs/montepython.md, Which inputs matter), or build an emulator that varies it")

    def _route(self, p, options):
        """Routes point ``p``; serves it (returns None) or says why not (a fallback)."""
        plan = p.plan
        try:
            values, keys, fallbacks = plan.router.evaluate_with_keys(p.router_point, plan.stage_one, plan.covering())
            if plan.composed:  # the outputs only emulators taking H0 serve, with the H0 derived
                _, values, keys, fallbacks = compose.second_stage(plan.router, p.router_point, values, keys,
                                                                  fallbacks, plan.after_h0, plan.covering())
        except Exception as e:  # noqa: BLE001 -- a bad point goes to the code, never to a zero likelihood
            return Fallback(EMULATOR_ERROR, f"the router failed: {e}")
        if fallbacks and (not values or options.out_of_range != "compute"):
            return first_fallback(fallbacks)
        # served in part: what no emulator covers here is the code's when a call reads it
        p.mode, p.values, p.keys, p.unserved = "emulated", values, keys, fallbacks
        p.served = Served(values, keys, plan.serving, p.inputs.physics, p.request, plan.code, self._maps,
                          options.missing_cl, asked=plan.asked, unserved=fallbacks, used=plan.use)
        return None

    def _compute_used(self, p):
        """At an emulated point, the code computes now, inside ``compute()``, the outputs no
        emulator covers here that the run's calls have read before (so a failure of the code is a
        failed point for MontePython, as with CLASS); the point then counts as computed."""
        used = [o for o in sorted(p.unserved) if o in p.plan.used]
        if not used:
            return
        level = expand([output_level(o) for o in used])
        output, fb = used[0], p.unserved[used[0]]
        try:
            self._rest(p, level, f"{output}: {fb.kind}", fb, output)
        except Exception:
            stats = self._stats
            if p.rest_reason is None:  # counted neither emulated nor computed: failed
                stats.count["emulated"] -= 1
                stats.time["emulated"] -= p.seconds
            self._point = None
            self._computed = False
            raise

    def _plan(self, options, clean, inputs, request):
        """The plan for these options and this shape of inputs (cached: made once per run)."""
        from .plan import installed_version

        shape = (options, frozenset(clean), tuple(sorted((k, repr(v)) for k, v in inputs.physics.items()
                                                         if not isinstance(v, float))), request.has_cl,
                 request.lensing, request.mPk, request.nonlinear)
        plan = self._plans.get(shape)
        if plan is None:
            plan = self._new_plan(options, inputs, request)
            version = installed_version(plan.code)
            if version is None:
                raise CosmoSevereError(
                    f"zelos: {'the emulators were trained with ' + plan.code if plan.emulators else 'no zelos_emulators'}, "
                    f"and {plan.code} is not installed (pip install {plan.code}); it computes what no emulator "
                    "answers")
            if plan.emulators:
                plan.check_versions(version)
                if plan.router is None and options.out_of_range != "compute":
                    raise CosmoSevereError(
                        f"zelos: no emulator can answer this run and zelos_out_of_range is '{options.out_of_range}': "
                        + "; ".join(f"{k}: {why}" for k, why in plan.excluded.items()))
            self._plans[shape] = plan
            self._code = self._end.code = plan.code
            if self._rng is None:
                self._rng = np.random.default_rng(options.spot_check_seed)
            self._report(plan, options, version)
        return plan

    def _new_plan(self, options, inputs, request):
        """The plan of ``options.emulators``, or, where the run leaves ``zelos_emulators`` out,
        of every shipped emulator in the router's rank order (as Cobaya's theory without
        ``emulators``), unless none of them can answer this run: it is then a plain classy, as
        the user's .param file asked, rather than CAMB at every point."""
        from ..shipped import shipped_names
        from .plan import Plan, installed_version

        default = options.emulators is None
        emulators = {}
        for entry in shipped_names() if default else options.emulators:
            session.add_keyed(emulators, self._load(entry))
        if options.ranked or default:
            emulators = session.ranked(emulators)
        plan = Plan(options, emulators, inputs, request)
        if not default:
            return plan
        installed = installed_version(plan.code)
        if plan.router is None:
            reasons = sorted(set(plan.excluded.values()))
            why = "none can answer this run"
            if reasons:
                others = f"; {len(reasons) - 1} other reasons" if len(reasons) > 1 else ""
                why += f" ({reasons[0]}{others})"
        elif not (held := plan.first_point_servable(inputs))[0]:
            why = f"each holds an input at another value than this run's ({held[1]})"
        elif installed is None:
            why = f"they were trained with {plan.code}, which is not installed"
        elif session.version_mismatches(emulators, installed) and not options.allow_version_mismatch:
            why = f"they were trained with another {plan.code} than the installed {installed}"
        else:
            return plan
        plain = Plan(options, {}, inputs, request)
        plain.notes.append(f"zelos_emulators not given: the {len(emulators)} shipped emulators were candidates, but "
                           f"{why}; set zelos_emulators to name emulators, or to 'none' to say none is wanted")
        return plain

    def _load(self, entry):
        emu = self._emulators.get(entry)
        if emu is None:
            from ..emulator import get_emulator

            try:
                emu = self._emulators[entry] = get_emulator(entry, out_of_range="ignore")
            except Exception as e:  # ZelosError, ArchiveError, OSError...
                raise CosmoSevereError(f"zelos_emulators: {entry!r}: {e}") from e
        return emu

    def _report(self, plan, options, version):
        lines = (plan.describe() if plan.emulators
                 else plan.notes + [f"no zelos_emulators: every point is computed by classy {version}"])
        if plan.emulators:
            lines.append(f"computes what the emulators cannot answer with {plan.code} {version}"
                         + (f", settings {plan.settings}" if plan.code == "camb" else " (the run's CLASS inputs)")
                         + (f"; fallback points logged to {self._point_log(options).path}" if options.log else
                            "; no point log (set zelos_log)"))
        if options.out_of_range != "compute":
            lines.append(f"points outside every trust region: {options.out_of_range} (zelos_out_of_range)")
        if options.spot_check:
            lines.append(f"spot checks: {options.spot_check:.3g} of the emulated points are also computed by "
                         f"{plan.code}")
        for line in lines:
            if line not in self._said:
                self._said.add(line)
                log.info("%s", line)
        if plan.emulators and plan.router is None:
            line = (f"no emulator can answer this run (see the `not used` lines): every point is computed by "
                    f"{plan.code}, none emulated")
            if line not in self._said:
                self._said.add(line)
                log.warning("%s", line)

    def _draw(self, options) -> float:
        if self._rng is None:
            self._rng = np.random.default_rng(options.spot_check_seed)
        return float(self._rng.random())

    def _progress(self, options):
        if self._stats.due(options.report_every):
            log.info("%s", self._stats.progress())
        self._stats.save_if_due(options.log, options.report_every)  # for `zelos report`: calls, emulated share

    # -- the point log and spot checks -------------------------------------------------------------------
    def _point_log(self, options):
        from ..routing import PointLog

        plog = self._logs.get(options.log)
        if plog is None:
            plog = self._logs[options.log] = PointLog(options.log)
        return plog

    def _t_cmb(self, p) -> float:
        t = p.inputs.physics.get("T_cmb")
        return t if isinstance(t, float) else T_CMB

    def _log_fallback(self, p, fb, options):
        if not options.log:
            return
        outputs, _ = read_outputs(self._backends[p.plan.code], p.plan.serving, self._t_cmb(p))
        self._point_log(options).log(p.router_point, reason=fb.kind, detail=fb.detail, distance=fb.distance,
                                     nearest=fb.nearest, outputs=outputs)

    def _spot_check(self, p):
        t0 = time.perf_counter()
        try:
            backend = self._run_code(p, p.level)
        except Exception as e:  # noqa: BLE001 -- a spot check never stops a chain
            self._stats.spot_failed += 1
            log.debug("spot check failed: %s", e)
            return
        truth, _ = read_outputs(backend, {k: p.plan.serving[k] for k in set(p.keys.values())}, self._t_cmb(p),
                                partial=True)
        diffs = {}
        for name, key in p.keys.items():
            label = name if name in truth else f"{key}:{name}"
            if label in truth:
                diffs[name] = output_difference(name, p.values[name], truth[label], p.values)
        self._stats.spot_check(diffs, time.perf_counter() - t0)
        options = p.plan.options
        if options.log:
            detail = f"emulated - {p.plan.code}: " + ", ".join(f"{k} {v:.2g}" for k, v in diffs.items())
            self._point_log(options).log(p.router_point, reason="spot_check", detail=detail,
                                         outputs={f"max_rel_diff.{k}": np.asarray(v) for k, v in diffs.items()})

    # -- the end -------------------------------------------------------------------------------------------
    def summary(self) -> dict:
        """Points, emulated share, fallbacks by reason, time in each path, live runs at emulated
        points and why, spot-check errors."""
        return self._stats.as_dict()

    def close(self) -> None:
        """Prints the summary and closes the point log (also done when the object is deleted, or
        at interpreter exit)."""
        self._end.close()


class _End:
    """The end of a run: the summary, once, the run statistics saved in each point-log folder
    (``zelos report`` reads them) and the point logs closed. Holds no reference to
    the ``Class``, so it can run when the ``Class`` is gone (MontePython's namespace is cleared
    before the interpreter exits)."""

    def __init__(self, stats, logs):
        self.stats, self.logs = stats, logs
        self.code = None
        self.closed = False

    def close(self) -> None:
        if self.stats.calls and not self.closed:
            try:
                for line in self.stats.final_lines(self.code or "the code"):
                    log.info("%s", line)
            except Exception:  # noqa: BLE001 -- at exit there is nobody left to tell
                pass
        self.closed = True
        for folder, plog in self.logs.items():
            self.stats.save(folder, final=True)
            plog.close()


def _as_float(value):
    """A number (or a string of one) as a float, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _non_finite(arguments: dict) -> dict:
    """The CLASS arguments that are NaN or infinite (a number, a string of one, or in a list)."""
    bad = {}
    for key, value in arguments.items():
        items = value if isinstance(value, (list, tuple, np.ndarray)) else [value]
        for item in items:
            v = _as_float(item)
            if v is not None and not math.isfinite(v):
                bad[key] = value
                break
    return bad
