"""The Cobaya theory's start-up lines: which emulator serves what and why others are not used,
what is emulated and what the code computes at every point, the fallback and the spot checks."""

from __future__ import annotations

import os

from cobaya import mpi

from ..build.report import accuracy_summary
from ..serving import compose, session

__all__ = ["PlanReport"]


class PlanReport:
    """The start-up lines, a part of :class:`zelos.cobaya.theory.Zelos` (mixed into it: they say
    what its plan decided)."""

    def _report_plan(self, serving):
        info = self.mpi_info
        for key, emu in self._emus.items():
            if key in serving:
                served = [n.label for n in self._covered if any(key in c for c in n.candidates.values())]
                if self._composed and key in self._h0_sources:
                    served.append(f"H0 for {', '.join(sorted(self._composed))}")
                state = f"over ({', '.join(emu.parameters)}) serves: " + ", ".join(served)
                state += compose.describe(key, self._composed)
                if key in self._set_aside:
                    aside, why = self._set_aside[key]
                    state += f"; not {', '.join(sorted(aside))}: {why}"
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
            aside.update({k: why for k, (outputs, why) in self._set_aside.items()
                          if base is not None and set(base.outputs) & outputs})
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
