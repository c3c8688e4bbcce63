"""The Cobaya theory ``zelos``: emulators inside their trust regions, the real code outside.

Options (every one documented in ``Zelos.yaml`` beside this file, and in docs/cobaya.md)::

    theory:
      zelos:
        emulators: [CAMB_LCDM_background.tar.gz]
        log: chains/zelos_points

Per point: the router (``zelos.routing.Router``) says, for the emulator outputs that answer the
likelihoods' requirements, which emulator serves each one or why none can. If every one is
served, the requirements are computed from emulated outputs (splines in z, unit conversions);
otherwise the whole point is computed by the code the emulators were trained with (Cobaya's own
``camb`` or ``classy``), through an inner Cobaya model (``fallback.InnerModel``), and logged. A
point is never given a zero likelihood for being outside a trust region.

The class stays here, where Cobaya finds it (and ``Zelos.yaml`` beside it); its parts with a job
of their own are mixed in from the modules beside this one: ``fallback`` (the inner models),
``plan_report`` (the start-up lines), ``start_check``, ``unvaried``, ``spot_check``, ``cl_getters``.
"""

from __future__ import annotations

import logging
import math
import os
import time
from types import SimpleNamespace

import numpy as np
from cobaya.log import LoggedError
from cobaya.theories.cosmo import BoltzmannBase

from .. import __version__ as ZELOS_VERSION
from ..code_inputs import CAMB_CL_ACCURACY
from ..code_inputs import number as _number
from ..emulator import get_emulator
from ..routing import EMULATOR_ERROR, REQUIREMENT_NOT_EMULATED, Fallback, first_fallback
from ..runstats import RunStats
from ..serving import session
from ..serving.compose import compose_h0, second_stage, wants_h0_from_angle
from ..serving.names import derived_tables
from ..serving.schema import SchemaOutputs
from ..serving.session import without
from . import params as P
from .cl_getters import ClGetters
from .fallback import FallbackModels
from .fallback_settings import out_of_play, settle
from .needs import DerivedNeed, RestNeed, covering, plan_needs
from .options import CHECKS as OPTION_CHECKS
from .options import check as check_options
from .plan_report import PlanReport
from .retraining import online_retrainer
from .spot_check import SpotCheck
from .start_check import StartUpCheck
from .unvaried import UnvariedWarning

#: `emulators: all` (the default): every emulator shipped with zelos.
ALL_SHIPPED = "all"
#: Why a point was refused: a NaN or infinite input, never passed to the code.
NON_FINITE = "non_finite_input"


class Zelos(FallbackModels, PlanReport, StartUpCheck, UnvariedWarning, SpotCheck, ClGetters, BoltzmannBase):
    r"""Emulated CAMB or CLASS for Cobaya, with the real code as a fallback outside the trust
    regions.

    See docs/cobaya.md. Options: ``emulators``, ``log``, ``spot_check``, ``spot_check_seed``,
    ``fallback``, ``extra_args``, ``renames``, ``allow_version_mismatch``, ``report_every``,
    ``speed``, ``stop_at_error``, ``check_at_start``, ``retrain`` (each checked at start-up:
    ``options.CHECKS``).
    """

    # Options that do not change results may differ when a chain is resumed.
    _at_resume_prefer_new = BoltzmannBase._at_resume_prefer_new + [
        "log", "spot_check", "spot_check_seed", "report_every", "speed", "check_at_start"]

    # Options: types here, defaults and their documentation in Zelos.yaml.
    emulators: list | str | None
    spot_check: float
    spot_check_seed: int | None
    fallback: bool
    allow_version_mismatch: bool
    report_every: float | None
    retrain: dict | None
    check_at_start: bool

    # -- `log` is an option (the point-log folder) and, as for every Cobaya component, the
    # logger: Cobaya sets the option first, then the logger. Keep both.
    @property
    def log(self):
        return self.__dict__.get("_logger")

    @log.setter
    def log(self, value):
        if isinstance(value, (logging.Logger, logging.LoggerAdapter)):
            self.__dict__["_logger"] = value
        else:  # the option, as given: checked in `initialize` (options.CHECKS)
            self.__dict__["_log_option"] = value

    @property
    def log_dir(self) -> str | None:
        """The point-log folder (option ``log``), or None."""
        value = self.__dict__.get("_log_option")
        return None if value in (None, "", False) else os.fspath(value)

    def _option_values(self) -> dict:
        """The options of the Cobaya block as given (``log`` is also the logger's name)."""
        values = {key: getattr(self, key) for key in OPTION_CHECKS if key != "log" and hasattr(self, key)}
        values["log"] = self.__dict__.get("_log_option")
        return values

    # -- set-up ---------------------------------------------------------------------------------
    def initialize(self):
        check_options(self, self._option_values())  # type and range of every option, before any use
        super().initialize()  # collectors, extra_args (the user's), _must_provide
        self._raw_requirements = []
        self._emus = self._load_emulators()
        self._code = self._fallback_code()
        if self._code == "classy":  # the run's names become CLASS's (classy_names.renames)
            from .classy_names import renames

            self.renames = renames(self.renames, type(self).get_defaults()["renames"])
        self._user_extra_args = dict(self.extra_args)
        # Every emulator chooses for now; once the run's inputs are known, only those it can use
        # (_plan: fallback_settings.out_of_play).
        self._settle(self._emus)
        if self.spot_check and not self.fallback:
            raise LoggedError(self.log, "`spot_check` compares with the fallback code: it needs `fallback: true`")
        self._rng = np.random.default_rng(self.spot_check_seed)
        self._versions_checked = False
        self._stats = _Stats()
        self._served_by = {}  # emulator key -> points it answered
        self.last_emulators = ()  # the emulators that answered the last emulated point
        self._point_log = None
        self._full = self._rest = None
        self._router = None
        self._needs = []
        self._schema = SchemaOutputs()

    def _load_emulators(self) -> dict:
        entries = self.emulators
        every_shipped = entries is None or (isinstance(entries, str) and entries.strip().lower() == ALL_SHIPPED)
        if every_shipped:
            # Every shipped emulator: each point then goes to the most accurate one whose trust
            # region and fixed settings cover it (no datafiles to switch between by hand).
            from ..shipped import shipped_names

            entries = shipped_names()
            if not entries:
                raise LoggedError(self.log, "`emulators: all`, but no emulator ships with this installation of "
                                  "zelos; give archive paths or hub:NAME")
        if isinstance(entries, (str, os.PathLike)):
            entries = [entries]
        if not entries:
            raise LoggedError(self.log, "no emulators: leave `emulators` out (or write `emulators: all`) for every "
                              "shipped emulator, or give a list of archive paths or names "
                              "(e.g. `emulators: [CAMB_LCDM_background]`)")
        emus = {}
        for entry in entries:
            try:
                emu = get_emulator(entry, out_of_range="ignore")
            except Exception as e:  # ZelosError, ArchiveError, OSError...
                raise LoggedError(self.log, "emulator %r: %s", entry, e) from e
            session.add_keyed(emus, emu)
        # `all` in the router's rank order: where they disagree on a code setting, the most
        # accurate emulator's is the fallback's (a list keeps the user's order).
        return session.ranked(emus) if every_shipped else emus

    def _fallback_code(self) -> str:
        codes = session.codes(self._emus)
        if len(codes) > 1:
            raise LoggedError(self.log, "emulators of different codes (%s): one zelos theory falls back to one "
                              "code; use one zelos block per code", ", ".join(codes))
        code = codes[0]
        if code == "camb" and self.fallback:
            import camb

            self._check_versions(code, camb.__version__)
        # classy: checked against the classy Cobaya loads, once the fallback exists (_build_fallbacks)
        return code

    def _settle(self, voters: dict) -> None:
        """The fallback's settings, as ``voters`` give them, and the emulators they leave out."""
        settled = settle(self._emus, voters, self._code, self._user_extra_args)
        self._settings, self._disagreements = settled.settings, settled.disagreements
        self._excluded, self._set_aside = settled.excluded, settled.set_aside

    def _check_versions(self, code: str, installed) -> None:
        """The installed code must be the version the emulators pin (else the fallback would
        differ from them), unless ``allow_version_mismatch``. classy says "v3.4.1"."""
        installed = session.bare_version(installed)
        for key, pinned in session.version_mismatches(self._emus, installed):
            pinned = session.bare_version(pinned)
            msg = (f"`{key}` was trained with {code}=={pinned} but {code} {installed} is installed "
                   f"(the fallback would differ from the emulator); install {code}=={pinned} or set "
                   "`allow_version_mismatch: true`")
            if not self.allow_version_mismatch:
                raise LoggedError(self.log, msg)
            self.log.warning(msg)

    def get_version(self):
        return ZELOS_VERSION

    def get_allow_agnostic(self):
        # As Cobaya's classy: CLASS takes more inputs than any list (it refuses unknown ones itself).
        return self._code == "classy" and bool(self.fallback)

    def get_can_support_params(self):
        # Cobaya asks before the run's inputs are known: the settings every emulator chose
        # (_plan settles them again without those the run takes out of play).
        supported = {"logA"}
        if self._code == "classy":
            supported |= {"H0", "h"}
        if self._code == "camb" and self.fallback:  # what the fallback accepts
            import camb

            supported |= set(camb.get_valid_numerical_params(
                dark_energy_model=self._settings.get("dark_energy_model"),
                recombination_model=self._settings.get("recombination_model")))
        for emu in self._emus.values():
            supported |= set(emu.parameters)
        supported -= set(self._user_extra_args)
        supported |= {name for name, target in self.renames.items() if target in supported}
        return supported

    def get_can_provide_params(self):
        names = set()
        if self._code == "camb" and self.fallback:  # what the fallback can compute
            import camb
            from cobaya.theories.camb import CAMB

            names |= set(CAMB.get_can_provide_params(SimpleNamespace(
                camb=camb, renames=dict(self.renames), external_primordial_pk=False, _transfer_requires=[],
                requires=[])))
        elif self._code == "classy" and self.fallback:
            from cobaya.theories.classy import classy

            names |= set(classy.get_can_provide_params(SimpleNamespace(renames=dict(self.renames))))
        for name, output in derived_tables(self._code)[0].items():
            if any(output in e.outputs for e in self._emus.values()):
                names.add(name)
        names |= {name for name, target in self.renames.items() if target in names}
        return names

    def must_provide(self, **requirements):
        import copy

        self._raw_requirements.extend((k, copy.deepcopy(v)) for k, v in requirements.items())
        super().must_provide(**requirements)
        return None

    def initialize_with_params(self):
        super().initialize_with_params()
        self._inputs = [self.translate_param(p) for p in self.input_params]

    def initialize_with_provider(self, provider):
        super().initialize_with_provider(provider)
        self._plan()

    # -- the plan: which emulator answers what; the router; the fallback models ---------------
    def _plan(self):
        from ..routing import PointLog, Router

        inputs = set(self._inputs)
        constants = {self.translate_param(p): v
                     for p, v in self.provider.model.parameterization.constant_params().items()}
        missing_inputs = {key: P.missing_parameters(emu, inputs) for key, emu in self._emus.items()}
        idle = out_of_play(self._emus, inputs, constants, missing_inputs, self._held_by_fallback)
        if idle and len(idle) < len(self._emus):
            self._settle({k: e for k, e in self._emus.items() if k not in idle})
            for key, why in idle.items():
                self.mpi_info("emulator %s does not choose the fallback's code settings: %s", key, why)
        for name, kept, value, key in self._disagreements:
            if name in CAMB_CL_ACCURACY:  # a precision of C_l only: nothing for the user to choose
                self.mpi_info("emulators differ in CAMB's C_l accuracy setting `%s` (%r, %r for `%s`); the "
                              "fallback uses %r, and the C_l of an emulator trained otherwise serve no point (its "
                              "other outputs do)", name, kept, value, key, self._settings.get(name, kept))
                continue
            self.log.warning("emulators disagree on the code setting `%s` (%r, %r for `%s`); the fallback "
                             "uses %r; set it in `extra_args` to choose", name, kept, value, key, kept)
        usable, wants_h0 = {}, {}
        self._held_inputs = {}
        for key, emu in self._emus.items():
            if key in self._excluded:
                continue
            fixed, blockers = P.fixed_values(emu, inputs)
            missing = list(missing_inputs[key])
            # A parameter the run does not give but the fallback holds at a number (its setting,
            # else the code's default: mnu, nnu, omk for a w0wa run) is given at that number, so
            # an emulator over a wider model serves the run's narrower one.
            for p in list(missing):
                value = self._held_by_fallback(p)
                if value is not None:
                    self._held_inputs[p] = value
                    missing.remove(p)
            if wants_h0_from_angle(missing, blockers, inputs):
                wants_h0[key] = (without(emu, self._set_aside.get(key)), fixed, blockers)  # H0 from theta
                continue
            if missing:
                blockers.update({p: f"it takes `{p}`, which is not an input of this run" for p in missing})
            if blockers:
                self._excluded[key] = "; ".join(blockers.values())
                continue
            usable[key] = (without(emu, self._set_aside.get(key)), fixed)
        self._h0_sources, self._composed = compose_h0(usable, wants_h0, self._excluded)
        self._usable = {k: e for k, (e, _) in usable.items()}
        self._emu_params = {p for e in self._usable.values() for p in e.parameters}

        must = dict(self._must_provide or {})
        for p in self.output_params:
            must.setdefault(p, None)
        h0_is_input = "H0" in P.for_emulators(dict.fromkeys(inputs, 1.0), set(), self._code)
        needs = plan_needs(must, self._usable, h0_is_input, self.translate_param, self._code)
        self._needs = needs
        self._covered = [n for n in needs if not isinstance(n, RestNeed)]
        self._rest_needs = [n for n in needs if isinstance(n, RestNeed)]
        self._outputs = sorted({o for n in self._covered for o in n.outputs})
        for n in needs:
            if hasattr(n, "pool"):
                self.collectors[n.key] = SimpleNamespace(z_pool=n.pool)

        # Only emulators that serve something go into the router, which ranks, per output, those
        # whose grids cover every request of it (needs.covering): the decision is the router's.
        covers = covering(self._covered)
        serving = {k for keys in covers.values() for k in keys}
        self._composed = {k: v for k, v in self._composed.items() if k in serving}
        if self._composed:  # the emulators that derive H0 answer first, whatever else they serve
            serving |= set(self._h0_sources)
        self._router = Router()
        for key in serving:
            self._router.add(key, self._emus[key], fixed=usable[key][1])
        # only the outputs where it excludes someone (no conversion per point otherwise; outputs
        # set aside count: the router knows every output of an emulator)
        self._covering = {o: keys for o, keys in covers.items()
                          if any(o in self._emus[k].outputs for k in serving - set(keys))} or None
        # with composed emulators: first every output (and H0), then with that H0 the outputs
        # that only emulators taking H0 could serve
        self._after_h0 = {o for k in self._composed for o in usable[k][0].outputs} - {"H0"}
        self._stage_one = sorted(set(self._outputs) | {"H0"}) if self._composed else self._outputs
        if self.log_dir and self._point_log is None:
            self._point_log = PointLog(self.log_dir)
        self._online = online_retrainer(self.retrain, self._router, self._usable, self._point_log, self.log)

        if self._rest_needs and not self.fallback:
            raise LoggedError(self.log, "no emulator provides %s (%s), and `fallback` is false",
                              ", ".join(n.label for n in self._rest_needs), self._rest_needs[0].why)
        labels = [n.label for n in self._rest_needs]
        self._rest_reason = f"{REQUIREMENT_NOT_EMULATED}: {', '.join(labels)}"
        self._rest_detail = "; ".join(f"{n.label}: {n.why}" for n in self._rest_needs)
        self._build_fallbacks()
        self._report_plan(serving)
        self._warn_unvaried(serving, usable)
        if self.check_at_start and self.fallback:
            self._check_at_start(serving, usable)

    # -- one point ----------------------------------------------------------------------------
    def calculate(self, state, want_derived=True, **params_values_dict):
        t0 = time.perf_counter()
        point = {self.translate_param(p): v for p, v in params_values_dict.items()}
        stats = self._stats
        stats.calls += 1
        bad = _non_finite(params_values_dict)
        if bad:
            return self._refuse(point, bad)
        if self._online is not None:
            self._online.poll()
        fallbacks, view = self._route_and_serve(state, point)
        if fallbacks:
            path = "fallback"
            if not self.fallback:
                raise LoggedError(self.log, "point outside the trust regions and `fallback` is false: %s",
                                  first_fallback(fallbacks).detail)
            if not self._full.compute(P.for_code(point, self._code)):
                stats.failed += 1
                self.log.debug("%s failed at %r", self._code, point)
                return False
            for need in self._needs:
                self._put(state, need, need.read(self._full.provider))
            fb = first_fallback(fallbacks)
            stats.fallbacks[fb.kind] += 1
            if self._point_log is not None:
                outputs = {}
                for need in self._needs:
                    outputs.update(need.log_outputs(self._get(state, need)))
                # and in the schema of the emulator that would serve it, which `zelos retrain`
                # trains on as they are
                outputs.update(self._schema_outputs(view, fallbacks))
                # as the router saw it: the emulators' names, which `zelos retrain` reads
                self._point_log.log(view, reason=fb.kind, detail=fb.detail, distance=fb.distance,
                                    nearest=fb.nearest, outputs=outputs)
            if self._online is not None:
                self._online.notify(fb)
        elif self._rest is not None:
            # What no emulator provides: the code, at every point. The point is then computed
            # (in part) by the code, and counted and logged as such, never as emulated.
            path = "fallback"
            t1 = time.perf_counter()
            if not self._rest.compute(P.for_code(point, self._code)):
                stats.failed += 1
                return False
            for need in self._rest_needs:
                self._put(state, need, need.read(self._rest.provider))
            stats.time["rest"] += time.perf_counter() - t1
            stats.fallbacks[self._rest_reason] += 1
            stats.count["rest"] += 1
            stats.rest[self._rest_detail] += 1
            if self._point_log is not None:  # the code's values only: never train on emulated ones
                outputs = {}
                for need in self._rest_needs:
                    outputs.update(need.log_outputs(self._get(state, need)))
                self._point_log.log(view, reason=REQUIREMENT_NOT_EMULATED, detail=self._rest_detail, outputs=outputs)
        else:
            path = "emulated"
        derived_extra = state.setdefault("derived_extra", {})
        if want_derived:
            state["derived"] = {p: derived_extra[self.translate_param(p)] for p in self.output_params}
        dt = time.perf_counter() - t0
        stats.time[path] += dt
        stats.count[path] += 1
        if not fallbacks and self._covered and self.spot_check and self._rng.random() < self.spot_check:
            self._spot_check(state, point, view)
        if stats.due(self.report_every):
            self.log.info("%s", stats.progress())
        stats.save_if_due(self.log_dir, self.report_every)  # for `zelos report`: calls, emulated share
        return True

    def _refuse(self, point: dict, bad: dict) -> bool:
        """A point with a non-finite input: never passed to the code (CAMB given a NaN can
        abort the process), log-likelihood -inf (False), the reason on the log and in the point
        log; with ``stop_at_error``, an error."""
        detail = "non-finite input " + ", ".join(f"`{p}` = {v!r}" for p, v in bad.items())
        self._stats.refused[NON_FINITE] += 1
        if self._point_log is not None:
            self._point_log.log({k: _as_float(v) for k, v in point.items()}, reason=NON_FINITE, detail=detail)
        if self.stop_at_error:
            raise LoggedError(self.log, "%s: the point cannot be computed (`stop_at_error: true`)", detail)
        self.log.info("point refused (log-likelihood -inf), never passed to %s: %s", self._code, detail)
        return False

    def _held_by_fallback(self, name):
        """The number at which the fallback holds input ``name`` (the run's extra_args, the
        emulators' shared settings, else the code's default), or None."""
        if self._code != "camb":
            return None
        value = self._settings[name] if name in self._settings else P.fallback_defaults(self._code).get(name)
        return _number(value)

    def _route_and_serve(self, state, point) -> tuple:
        """Serves the covered needs from the emulators. Returns ``({output: Fallback}, view)``:
        the outputs that cannot be served (then nothing is served), and the point as the
        emulators see it (their parameter names)."""
        if not self._covered:
            return {}, point
        view = point
        if self._held_inputs:
            point = {**self._held_inputs, **point}
        try:
            view = P.for_emulators(point, self._emu_params, self._code)
            values, keys, fallbacks = self._router.evaluate_with_keys(view, self._stage_one, self._covering)
            if self._composed:  # the outputs only emulators taking H0 serve, with the H0 derived
                view, values, keys, fallbacks = second_stage(self._router, view, values, keys, fallbacks,
                                                             self._after_h0, self._covering)
        except Exception as e:  # noqa: BLE001 -- a bad point must reach the real code, not a zero likelihood
            return {"*": Fallback(EMULATOR_ERROR, f"the router failed: {e}")}, view
        if fallbacks:
            return fallbacks, view
        try:
            for need in self._covered:
                self._put(state, need, need.serve(values, keys, self._usable, view))
        except Exception as e:  # noqa: BLE001
            self.log.warning("emulated path failed (%s): falling back", e)
            return {"*": Fallback(EMULATOR_ERROR, str(e))}, view
        self.last_emulators = tuple(sorted({keys[o] for o in self._outputs}))
        for key in self.last_emulators:
            self._served_by[key] = self._served_by.get(key, 0) + 1
        return {}, view

    def _put(self, state, need, value):
        if isinstance(need, DerivedNeed) or (need.options is None and not isinstance(need.key, tuple)):
            state.setdefault("derived_extra", {})[self.translate_param(need.key)] = value
        else:
            state[need.key] = value

    def _get(self, state, need):
        if need.options is None and not isinstance(need.key, tuple):
            return state["derived_extra"][self.translate_param(need.key)]
        return state[need.key]

    # -- the end ----------------------------------------------------------------------------------
    def summary(self) -> dict:
        """Calls, emulated share, fallbacks by reason, time in each path, spot-check errors, and
        ``emulated_by``: how many points each emulator answered (several may share a point)."""
        return {**self._stats.as_dict(), "emulated_by": dict(self._served_by)}

    def close(self, *args):
        stats = getattr(self, "_stats", None)
        if stats is not None and stats.calls:
            for line in stats.final_lines(self._code):
                self.log.info("%s", line)
        if stats is not None and self.log_dir:
            stats.save(self.log_dir, final=True)  # `zelos report` adds up every process's
        if getattr(self, "_online", None) is not None:
            self._online.close()
        if getattr(self, "_point_log", None) is not None:
            self._point_log.close()  # waits for the writer: every record is in the file
            if stats is not None and stats.calls:  # each MPI rank says which file is its own
                self.log.info("%d points logged to %s", self._point_log.acknowledged, self._point_log.path)
        for model in (getattr(self, "_full", None), getattr(self, "_rest", None)):
            if model is not None:
                model.close()


def _non_finite(values: dict) -> dict:
    """The inputs that are not finite numbers (NaN, inf), or that are not numbers at all."""
    bad = {}
    for name, value in values.items():
        try:
            if not math.isfinite(float(value)):
                bad[name] = value
        except (TypeError, ValueError):
            bad[name] = value
    return bad


def _as_float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


class _Stats(RunStats):
    """:class:`zelos.runstats.RunStats` in the plugin's words: a point is a "call". A call some
    of whose requirements the code computed is a fallback (``requirement_not_emulated: ...``),
    its time in ``fallback`` (``rest``: the code's share of it)."""

    unit = "calls"
