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
"""

from __future__ import annotations

import logging
import math
import os
import time
from types import SimpleNamespace

import numpy as np
from cobaya import mpi
from cobaya.log import LoggedError
from cobaya.theories.cosmo import BoltzmannBase

from .. import __version__ as ZELOS_VERSION
from ..build.report import accuracy_summary
from ..code_inputs import T_CMB_SETTING
from ..code_inputs import number as _number
from ..emulator import get_emulator
from ..physics import T_CMB
from ..routing import EMULATOR_ERROR, REQUIREMENT_NOT_EMULATED, Fallback, first_fallback
from ..runstats import RunStats
from ..serving import session
from ..serving.names import derived_tables
from . import params as P
from .fallback import InnerModel
from .needs import DerivedNeed, RestNeed, covering, plan_needs
from .options import CHECKS as OPTION_CHECKS
from .options import check as check_options
from .retraining import online_retrainer

#: `emulators: all` (the default): every emulator shipped with zelos.
ALL_SHIPPED = "all"
#: Why a point was refused: a NaN or infinite input, never passed to the code.
NON_FINITE = "non_finite_input"


class Zelos(BoltzmannBase):
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
        self._code, self._settings = self._fallback_code()
        if self._code == "classy":  # the run's names become CLASS's (classy_names.renames)
            from .classy_names import renames

            self.renames = renames(self.renames, type(self).get_defaults()["renames"])
        self._user_extra_args = dict(self.extra_args)
        for key, value in self._user_extra_args.items():
            if value is None:
                self._settings.pop(key, None)
            else:
                self._settings[key] = value
        self._excluded = {}
        for key, emu in self._emus.items():
            conflicts = P.setting_conflicts(emu, self._settings)
            if conflicts:
                self._excluded[key] = ("its training settings differ from the fallback's: " + "; ".join(conflicts))
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

    def _load_emulators(self) -> dict:
        entries = self.emulators
        if entries is None or (isinstance(entries, str) and entries.strip().lower() == ALL_SHIPPED):
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
        return emus

    def _fallback_code(self) -> tuple:
        codes = session.codes(self._emus)
        if len(codes) > 1:
            raise LoggedError(self.log, "emulators of different codes (%s): one zelos theory falls back to one "
                              "code; use one zelos block per code", ", ".join(codes))
        code = codes[0]
        settings, disagreements = session.shared_settings(self._emus, P.training_settings)
        for name, kept, value, key in disagreements:
            self.log.warning("emulators disagree on the code setting `%s` (%r, %r for `%s`); the fallback "
                             "uses %r; set it in `extra_args` to choose", name, kept, value, key, kept)
        if code == "camb" and self.fallback:
            import camb

            self._check_versions(code, camb.__version__)
        # classy: checked against the classy Cobaya loads, once the fallback exists (_build_fallbacks)
        return code, settings

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
        usable = {}
        self._held_inputs = {}
        for key, emu in self._emus.items():
            if key in self._excluded:
                continue
            fixed, blockers = P.fixed_values(emu, inputs)
            missing = P.missing_parameters(emu, inputs)
            # A parameter the run does not give but the fallback holds at a number (its setting,
            # else the code's default: mnu, nnu, omk for a w0wa run) is given at that number, so
            # an emulator over a wider model serves the run's narrower one.
            for p in list(missing):
                value = self._held_by_fallback(p)
                if value is not None:
                    self._held_inputs[p] = value
                    missing.remove(p)
            if missing:
                blockers.update({p: f"it takes `{p}`, which is not an input of this run" for p in missing})
            if blockers:
                self._excluded[key] = "; ".join(blockers.values())
                continue
            usable[key] = (emu, fixed)
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
        self._router = Router()
        for key in serving:
            emu, fixed = usable[key]
            self._router.add(key, emu, fixed=fixed)
        # only the outputs where it excludes someone (no conversion per point otherwise)
        self._covering = {o: keys for o, keys in covers.items()
                          if any(o in usable[k][0].outputs for k in serving - set(keys))} or None
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

    def _inner_requirements(self, needs) -> list:
        keys = {n.key for n in needs}
        out = []
        for name, options in self._raw_requirements:
            if name in ("Pk_grid", "Pk_interpolator"):
                hit = any(isinstance(k, tuple) and k[0] == "Pk_grid" for k in keys)
            elif name == "sigma_R":
                hit = any(isinstance(k, tuple) and k[0] == "sigma_R" for k in keys)
            else:
                hit = name in keys
            if hit and options is not None:
                out.append((name, options))
                if name == "Pk_interpolator":  # zelos reads the code's P(k) as a grid (PkNeed.read)
                    out.append(("Pk_grid", {k: v for k, v in options.items()
                                            if k in ("z", "k_max", "nonlinear", "vars_pairs")}))
        names = [name for n in needs if n.options is None and not isinstance(n.key, tuple)
                 for name in (_derived(n).code_names() if _derived(n) else [self.translate_param(n.key)])]
        out += [(name, None) for name in dict.fromkeys(names)]  # S8 and sigma8 both ask for sigma8
        return out

    def _trained_with_transfer(self) -> bool:
        """Whether an emulator serving C_l here was trained with CAMB's transfer functions on
        (its outputs include sigma8 or S8: the driver asks CAMB for them, docs/drivers.md)."""
        return self._code == "camb" and any(any(o.startswith("dl_") for o in e.outputs) and {"sigma8", "S8"} &
                                            set(e.outputs) for e in self._usable.values())

    def _build_fallbacks(self):
        for model in (self._full, self._rest):
            if model is not None:
                model.close()
        self._full = self._rest = None
        if not self.fallback:
            return
        params = list(P.for_code(dict.fromkeys(self._inputs, 0.0), self._code))
        args = {k: v for k, v in self._settings.items() if k not in params}
        kw = dict(code=self._code, extra_args=args, params=params, packages_path=self.packages_path,
                  stop_at_error=bool(self.stop_at_error))
        full = self._inner_requirements(self._needs)
        # Asking CAMB for sigma8 turns on its transfer functions, and with them the non-linear
        # lensing moves the lensed C_l by up to 1e-3 (0.05 in the Planck-lite chi2). Run the
        # fallback as the emulators were trained, so that it computes what they emulate.
        if self._trained_with_transfer() and not any(name == "sigma8" for name, _ in full):
            full.append(("sigma8", None))
        self._full = InnerModel(requirements=full, name="fallback", **kw)
        if self._code == "classy" and not self._versions_checked:
            self._check_versions("classy", self._full.code_version)  # the classy Cobaya loaded
            self._versions_checked = True
        if self._rest_needs:
            self._rest = InnerModel(requirements=self._inner_requirements(self._rest_needs), name="rest", **kw)
        self._fallback_args = args

    def _report_plan(self, serving):
        info = self.mpi_info
        for key, emu in self._emus.items():
            if key in serving:
                state = f"over ({', '.join(emu.parameters)}) serves: " + ", ".join(
                    n.label for n in self._covered if any(key in c for c in n.candidates.values()))
            elif key in self._excluded:
                state = f"not used: {self._excluded[key]}"
            else:
                state = "not used: answers no requirement"
            info("emulator %s %s", session.emulator_line(key, emu, accuracy_summary(emu.report)), state)
        for n in self._covered:
            src = "; ".join(f"{o} <- {', '.join(keys)}" for o, keys in n.candidates.items())
            info("%s: emulated (%s)", n.label, src)
        for n in self._rest_needs:
            info("%s: NOT emulated (%s): computed by %s at every point", n.label, n.why,
                 self._code if self.fallback else "nobody")
            base = getattr(n, "base", None)
            aside = {k: why for k, why in self._excluded.items()
                     if base is not None and set(base.outputs) & set(self._emus[k].outputs)}
            if aside and mpi.is_main_process():  # an emulator that has it was set aside: say why, loudly
                self.log.warning("%s is computed by %s at every point, not emulated: %s", n.label, self._code,
                                 "; ".join(f"`{k}` emulates it but is not used: {why}" for k, why in aside.items()))
        if self.fallback:
            where = self._point_log and (os.path.join(self.log_dir, "points.HOST.PID.jsonl, one file per MPI process")
                                         if mpi.more_than_one_process() else self._point_log.path)
            info("fallback: %s %s, extra_args %s; outside the trust regions points are computed by it%s",
                 self._code, self._full.code_version if self._full else "", self._fallback_args,
                 f" and logged to {where}" if self._point_log else " (no point log: set `log`)")
        else:
            info("fallback: none (`fallback: false`): a point outside every trust region stops the run")
        if self.spot_check:
            info("spot checks: %.3g of the emulated points are also computed by %s", self.spot_check, self._code)

    # -- parameters no emulator varies ------------------------------------------------------------
    def _warn_unvaried(self, serving, usable) -> None:
        """A WARNING for each input of the run that varies (or is fixed at another value) while
        every emulator that could serve one of the needed outputs holds it fixed: then every
        point is computed by the code (``parameter_not_emulated``). Names the emulators that
        hold it, and the shipped emulators that vary it, if any."""
        model = getattr(self.provider, "model", None)
        try:
            constants = dict(model.parameterization.constant_params()) if model is not None else {}
        except Exception:  # noqa: BLE001 -- a warning is never worth a failed start-up
            constants = {}
        held = {}  # run input -> {emulator key: (code's name, held value)}
        for key in serving:
            fixed = usable[key][1]
            for name in self.input_params:
                for target, value in self._code_names(name, constants.get(name)).items():
                    if target in fixed:
                        held.setdefault(name, {})[key] = (target, fixed[target], value)
        for name, by_key in held.items():
            if name in constants and all(_same(value, h) for _, h, value in by_key.values()):
                continue  # fixed at the value the emulators were trained with
            blocked = sorted({o for n in self._covered for o, keys in n.candidates.items()
                              if keys and all(k in by_key for k in keys)})
            if not blocked:
                continue  # another emulator varies it, or it does not concern these outputs
            if not mpi.is_main_process():  # said once, as the other start-up lines
                continue
            target = next(iter(by_key.values()))[0]
            holders = ", ".join(f"`{k}` holds {t} = {h:g}" for k, (t, h, _) in sorted(by_key.items()))
            how = (f"is fixed at {constants[name]!r}" if name in constants
                   else "is sampled (or derived from sampled parameters)")
            self.log.warning(
                "`%s` %s, but no emulator in use varies it (%s, as trained): every point where it differs is "
                "computed by %s (parameter_not_emulated), not emulated (%s); %s", name, how, holders, self._code,
                ", ".join(blocked), _who_varies(target, self._code, self._emus))

    def _code_names(self, name: str, value=None) -> dict:
        """Run input ``name`` -> ``{name as the emulators' fixed values spell it: value}``
        (CAMB's name; canonical CLASS names for classy)."""
        code_name = self.translate_param(name)
        v = 1.0 if value is None or _number(value) is None else float(value)
        if self._code != "classy":
            return {code_name: value}
        from .classy_names import canonical

        return {k: (value if value is None else w) for k, w in canonical({code_name: v}).items()}

    # -- the start-up check: each emulator against the fallback code, once -------------------------
    def _check_at_start(self, serving, usable) -> None:
        """Compares each serving emulator with the fallback code at the centre of its trust
        region (one code call each) and refuses (LoggedError) one that differs by more than
        :data:`CHECK_MARGIN` times the largest held-out relative error its report promises (at
        least :data:`CHECK_FLOOR`): its archive states other code settings than its weights were
        trained with, or the installed code computes otherwise."""
        from ..routing import Router

        base, why = self._base_point()
        for key in sorted(serving):
            emu, fixed = usable[key]
            needs = [n for n in self._covered if n.outputs and all(key in n.candidates.get(o, ()) for o in n.outputs)]
            if not needs:
                continue
            point, view, why_not = self._check_point(emu, fixed, base, why)
            if point is None:
                self.log.info("start-up check of %s skipped: %s", key, why_not)
                continue
            router = Router()
            router.add(key, emu, fixed=fixed)
            outputs = sorted({o for n in needs for o in n.outputs})
            values, keys, fallbacks = router.evaluate_with_keys(view, outputs)
            if fallbacks:
                self.log.info("start-up check of %s skipped: its centre is not its point (%s)", key,
                              first_fallback(fallbacks).detail)
                continue
            mine = {"derived_extra": {}}
            for n in needs:
                self._put(mine, n, n.serve(values, keys, self._usable, view))
            t0 = time.perf_counter()
            try:
                ok = self._full.compute(P.for_code(point, self._code))
            except Exception as e:  # noqa: BLE001 -- stop_at_error: the code's own error, said as ours
                raise LoggedError(self.log, "start-up check of %s: %s failed at the centre of its trust region "
                                  "(%s): %s", key, self._code, _point_text(view, emu.parameters), e) from e
            seconds = time.perf_counter() - t0
            self._stats.time["check_at_start"] += seconds
            if not ok:
                self.log.warning("start-up check of %s not done: %s failed at the centre of its trust region (%s)",
                                 key, self._code, _point_text(view, emu.parameters))
                continue
            found, bad = [], []
            for n in needs:
                truth = n.read(self._full.provider)
                for output, d in _differences(n, self._get(mine, n), truth).items():
                    allowed, promised = _allowed(emu, output)
                    label = n.label if output == n.label else f"{n.label} ({output})"
                    found.append(f"{label} {d:.2g} (allowed {allowed:.2g})")
                    if d <= allowed:
                        continue
                    if promised is None:
                        why = f"{allowed:.2g} (its report gives no relative error for {output})"
                    elif allowed == CHECK_CAP:
                        why = f"the most this check allows (its report promises {promised:.2g})"
                    elif allowed > CHECK_FLOOR:
                        why = (f"{CHECK_MARGIN:g} x the held-out maximum relative error {promised:.2g} its report "
                               "promises")
                    else:
                        why = f"the floor {allowed:.2g} (its report promises {promised:.2g})"
                    bad.append(f"{label} differs by {d:.3g} (relative), more than {allowed:.2g} = {why}")
            where = _point_text(view, emu.parameters)
            if bad:
                raise LoggedError(
                    self.log, "emulator %s (%s) disagrees with %s %s at the centre of its trust region (%s): %s. Its "
                    "archive states code settings %s, which the fallback uses: they are not what its weights were "
                    "trained with, or the installed %s computes otherwise. Refused; fix or rebuild the archive "
                    "(`zelos build`), or set `check_at_start: false` to skip this check", key,
                    os.path.basename(emu.path), self._code, self._full.code_version, where, "; ".join(bad),
                    P.training_settings(emu), self._code)
            self.mpi_info("start-up check: %s agrees with %s at the centre of its trust region (%s): %s (%.2f s)",
                          key, self._code, where, ", ".join(found), seconds)

    def _base_point(self) -> tuple:
        """``({translated input: value}, why)``: the run's inputs at the centre of the prior (the
        values of inputs no emulator looks at in the start-up check), or ``({}, why not)``."""
        model = getattr(self.provider, "model", None)
        if model is None:
            return {}, "the Cobaya model is not reachable"
        try:
            bounds = np.asarray(model.prior.bounds(confidence=0.68), float)
            sampled = dict(zip(model.parameterization.sampled_params(), bounds.mean(axis=1)))
            inputs = dict(model.parameterization.to_input(sampled))
            base = {self.translate_param(p): float(inputs[p]) for p in self.input_params}
        except Exception as e:  # noqa: BLE001
            return {}, f"no point of this run's prior to start from ({e})"
        return base, ""

    def _check_point(self, emu, fixed, base, why) -> tuple:
        """``(point, view, why_not)``: the run's point (translated inputs) whose view by the
        emulators is the centre of ``emu``'s trust region, every input it holds at its value."""
        if not base:
            return None, None, why
        region = emu.region
        centre = region["mean"] if "mean" in region else (np.asarray(region["lower"]) + region["upper"]) / 2
        centre = dict(zip(emu.parameters, np.asarray(centre, float).tolist()))
        # parameters the run does not give are where the fallback holds them (_held_by_fallback)
        centre.update({p: v for p, v in self._held_inputs.items() if p in centre})
        point = dict(base)
        for name, value in fixed.items():  # inputs it holds: at the values it was trained with
            if name in point:
                point[name] = value
        for p, v in centre.items():
            if p in point:
                point[p] = v
                continue
            for (wanted, given), convert in _RESTATED.items():
                if wanted == p and given in point:
                    point[given] = convert(v)
                    break
        view = P.for_emulators({**self._held_inputs, **point}, self._emu_params, self._code)
        off = [p for p, v in centre.items()
               if p not in view or not math.isclose(view[p], v, rel_tol=1e-9, abs_tol=1e-12)]
        if off:
            return None, None, (f"its parameter(s) {', '.join(off)} cannot be set from this run's inputs "
                                f"({', '.join(sorted(point))})")
        return point, view, ""

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
            values, keys, fallbacks = self._router.evaluate_with_keys(view, self._outputs, self._covering)
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

    # -- spot checks ----------------------------------------------------------------------------
    def _spot_check(self, state, point, view):
        t0 = time.perf_counter()
        stats = self._stats
        if not self._full.compute(P.for_code(point, self._code)):
            stats.spot_failed += 1
            return
        truth = {"params": state.get("params"), "dependency_params": state.get("dependency_params"),
                 "derived": None, "derived_extra": {}}
        for need in self._needs:
            self._put(truth, need, need.read(self._full.provider))
        diffs = {n.label: n.difference(self._get(state, n), self._get(truth, n)) for n in self._covered}
        deltas = self._likelihood_deltas(state, truth)
        stats.spot += 1
        for label, d in diffs.items():
            stats.spot_diff[label] = max(stats.spot_diff[label], d)
        for like, d in deltas.items():
            stats.spot_dlogp[like] = max(stats.spot_dlogp[like], abs(d))
        stats.time["spot_check"] += time.perf_counter() - t0
        if self._point_log is not None:
            outputs = {f"max_rel_diff.{k}": np.asarray(v) for k, v in diffs.items()}
            outputs.update({f"delta_logp.{k}": np.asarray(v) for k, v in deltas.items()})
            detail = ("emulated - " + self._code + ": " + ", ".join(f"{k} {v:.2g}" for k, v in diffs.items())
                      + "".join(f"; logp[{k}] {v:+.3g}" for k, v in deltas.items()))
            self._point_log.log(view, reason="spot_check", detail=detail, outputs=outputs)

    def _likelihood_deltas(self, emulated: dict, truth: dict) -> dict:
        """logp(emulated) - logp(real code) for each likelihood that reads this theory, at this
        point's parameters (other theories at their current state)."""
        model = getattr(self.provider, "model", None)
        if model is None:
            return {}
        deps = getattr(model, "_dependencies", {})
        out = {}
        saved = self.__dict__.get("_current_state")
        try:
            for name, like in model.likelihood.items():
                if self not in deps.get(like, ()):
                    continue
                try:
                    params = {p: self.provider.params[p] for p in like.input_params}
                    values = []
                    for st in (emulated, truth):
                        self._current_state = st
                        values.append(float(like.logp(_derived={}, **params)))
                    out[name] = values[0] - values[1]
                except Exception as e:  # noqa: BLE001 -- a spot check never stops a chain
                    self.log.debug("spot check of %s skipped: %s", name, e)
        finally:
            if saved is None:
                self.__dict__.pop("_current_state", None)
            else:
                self._current_state = saved
        return out

    # -- getters Cobaya's BoltzmannBase leaves to the code ---------------------------------------
    def _get_Cl(self, key, ell_factor=False, units="FIRASmuK2"):
        try:
            raw = self.current_state[key]
        except KeyError:
            raise LoggedError(self.log, "No %s computed: did a likelihood request them?", key) from None
        t_cmb = float(self._settings.get(T_CMB_SETTING[self._code], T_CMB))
        factor = self._cmb_unit_factor(units, t_cmb)
        ls = np.asarray(raw["ell"], dtype=np.int64)
        ells_factor = ls[1:] * (ls[1:] + 1)
        cls = {"ell": ls}
        for s in ("tt", "ee", "bb", "te"):
            if s not in raw:
                continue
            c = np.array(raw[s], dtype=float, copy=True)
            if not ell_factor:  # the same operations, in the same order, as Cobaya's CAMB
                c[1:] /= ells_factor
                c[1:] *= (2 * np.pi) * factor**2
            elif factor != 1:
                c *= factor**2
            cls[s] = c
        if "te" in cls:
            cls["et"] = cls["te"]
        if "pp" in raw and key != "unlensed_Cl":
            pp = np.array(raw["pp"], dtype=float, copy=True)
            if not ell_factor:
                pp[1:] /= ells_factor**2 / (2 * np.pi)
            cls["pp"] = pp
        return cls

    def get_Cl(self, ell_factor=False, units="FIRASmuK2"):
        return self._get_Cl("Cl", ell_factor, units)

    def get_unlensed_Cl(self, ell_factor=False, units="FIRASmuK2"):
        return self._get_Cl("unlensed_Cl", ell_factor, units)

    def get_lensed_scal_Cl(self, ell_factor=False, units="FIRASmuK2"):
        return self._get_Cl("lensed_scal_Cl", ell_factor, units)

    def get_source_Cl(self):
        return self.current_state["source_Cl"]

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


#: The start-up check refuses an emulator that differs from the code by more than this many
#: times the held-out maximum relative error of its report, or than CHECK_FLOOR when that is
#: larger (splines in z and round-off), but never more than CHECK_CAP (a report's maximum can be
#: huge where a spectrum is near zero: CAMB_LCDM_CMB's dl_ee says 9, which would check
#: nothing); CHECK_UNKNOWN when its report has none.
CHECK_MARGIN = 20.0
CHECK_FLOOR = 1e-4
CHECK_CAP = 0.05
CHECK_UNKNOWN = 1e-2
#: (emulator parameter, run input) -> the run input's value for the parameter's: the names that
#: restate one quantity (CAMB's logA and As; CLASS's h and H0, ln10^{10}A_s and A_s...).
_RESTATED = {
    ("logA", "As"): lambda v: 1e-10 * math.exp(v),
    ("h", "H0"): lambda v: 100.0 * v,
    ("H0", "h"): lambda v: v / 100.0,
    ("ln10^{10}A_s", "A_s"): lambda v: 1e-10 * math.exp(v),
    ("ln_A_s_1e10", "A_s"): lambda v: 1e-10 * math.exp(v),
    ("A_s", "ln10^{10}A_s"): lambda v: math.log(1e10 * v),
    ("A_s", "ln_A_s_1e10"): lambda v: math.log(1e10 * v),
    ("ln10^{10}A_s", "ln_A_s_1e10"): lambda v: v,
    ("ln_A_s_1e10", "ln10^{10}A_s"): lambda v: v,
    ("theta_s_100", "100*theta_s"): lambda v: v,
    ("100*theta_s", "theta_s_100"): lambda v: v,
}


def _allowed(emu, output: str) -> tuple:
    """``(allowed relative difference, held-out max relative error of the report or None)``."""
    try:
        promised = float(emu.report["accuracy"][output]["rel"]["max"])
    except (KeyError, TypeError, ValueError):
        return CHECK_UNKNOWN, None
    if not math.isfinite(promised):
        return CHECK_UNKNOWN, None
    return min(max(CHECK_MARGIN * promised, CHECK_FLOOR), CHECK_CAP), promised


def _differences(need, mine, truth) -> dict:
    """``{emulator output: largest relative difference}`` of one requirement (C_l spectrum by
    spectrum: each has its own promised accuracy)."""
    spectra = getattr(need, "spectra", None)
    if spectra and isinstance(mine, dict):
        return {f"dl_{s}": need.difference({s: mine[s]}, truth) for s in spectra if s in mine}
    return {need.outputs[0] if len(need.outputs) == 1 else need.label: need.difference(mine, truth)}


def _point_text(view: dict, names) -> str:
    return ", ".join(f"{p} = {view[p]:.6g}" for p in names if p in view)


def _same(a, b) -> bool:
    x, y = _number(a), _number(b)
    return x is not None and y is not None and math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)


def _who_varies(name: str, code: str, loaded: dict) -> str:
    """Words on which emulators vary ``name``: loaded ones not in use, shipped ones."""
    from ..routing import emulators_varying

    loaded_ones = [k for k, e in loaded.items() if name in e.parameters]
    shipped = emulators_varying(name, code)
    if loaded_ones:
        return (f"loaded but not in use, it varies it: {', '.join(loaded_ones)} (see its `not used` line); "
                + (f"shipped with zelos: {', '.join(shipped)}" if shipped else "no shipped emulator varies it"))
    if shipped:
        return f"emulators shipped with zelos that vary it: {', '.join(shipped)} (add to `emulators`)"
    return (f"no emulator shipped with zelos varies `{name}`: build one whose spec has it among its parameters "
            "(docs/build.md), or fix it at the value the emulators hold")


def _as_float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _derived(need):
    """The derived-parameter need behind ``need`` (itself, or the one a RestNeed replaces)."""
    base = getattr(need, "base", None) or need
    return base if isinstance(base, DerivedNeed) else None


class _Stats(RunStats):
    """:class:`zelos.runstats.RunStats` in the plugin's words: a point is a "call". A call some
    of whose requirements the code computed is a fallback (``requirement_not_emulated: ...``),
    its time in ``fallback`` (``rest``: the code's share of it)."""

    unit = "calls"
