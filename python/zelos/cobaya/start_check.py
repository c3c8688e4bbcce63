"""The Cobaya theory's start-up check (option ``check_at_start``): each serving emulator against
the fallback code at the centre of its trust region, one code call each, before the chain runs."""

from __future__ import annotations

import math
import os
import time

import numpy as np
from cobaya.log import LoggedError

from ..routing import first_fallback
from . import params as P

__all__ = ["CHECK_CAP", "CHECK_FLOOR", "CHECK_MARGIN", "CHECK_UNKNOWN", "StartUpCheck"]

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


class StartUpCheck:
    """The start-up check, a part of :class:`zelos.cobaya.theory.Zelos` (which it is mixed into:
    it reads the theory's plan, fallback model and statistics)."""

    def _check_at_start(self, serving, usable) -> None:
        """Compares each serving emulator with the fallback code at the centre of its trust
        region (one code call each) and refuses (LoggedError) one that differs by more than
        :data:`CHECK_MARGIN` times the largest held-out relative error its report promises (at
        least :data:`CHECK_FLOOR`): its archive states other code settings than its weights were
        trained with, or the installed code computes otherwise."""
        from ..routing import Router  # the theory's own router is made after its plan

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
            bounds = np.asarray(model.prior.bounds(confidence=0.68), float).reshape(-1, 2)  # (0, 2): none sampled
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
