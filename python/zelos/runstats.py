"""What a plugin did during a run: calls, emulated share, fallbacks by reason, time in each path,
live computations of what no emulator provides, spot-check errors.

Framework-independent; the MontePython plugin prints :meth:`RunStats.final_lines` at the end of
a run and :meth:`RunStats.progress` every ``report_every`` seconds (the Cobaya plugin keeps its
own copy of the same bookkeeping in ``cobaya/theory.py``).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict


class RunStats:
    """Counters of one run. Paths: ``emulated`` (every needed output served), ``fallback``
    (the whole point computed by the code), ``rest`` (the code run, at an emulated point, for
    something no emulator provides), ``spot_check`` (extra code runs at emulated points)."""

    def __init__(self):
        self.calls = 0
        self.failed = 0
        self.count = Counter()
        self.time = Counter()
        self.fallbacks = Counter()
        self.rest = Counter()  # what was computed live at emulated points, and why
        self.spot = 0
        self.spot_failed = 0
        self.spot_diff = defaultdict(float)
        self.started = self.last_report = time.time()

    def add(self, path: str, seconds: float) -> None:
        self.count[path] += 1
        self.time[path] += seconds

    def spot_check(self, diffs: dict, seconds: float) -> None:
        self.spot += 1
        self.time["spot_check"] += seconds
        for name, d in diffs.items():
            self.spot_diff[name] = max(self.spot_diff[name], d)

    def due(self, every: float | None) -> bool:
        """True (and the clock reset) when a progress line is due."""
        if not every or time.time() - self.last_report <= float(every):
            return False
        self.last_report = time.time()
        return True

    def progress(self) -> str:
        em = self.count["emulated"]
        reasons = ", ".join(f"{k} {v}" for k, v in self.fallbacks.most_common())
        return (f"{self.calls} points: {100.0 * em / max(self.calls, 1):.1f}% emulated"
                + (f"; fallbacks: {reasons}" if reasons else "")
                + (f"; {self.spot} spot checks" if self.spot else ""))

    def as_dict(self) -> dict:
        """``seconds``: total time in each path (``rest`` is part of neither ``emulated`` nor
        ``fallback``; ``spot_check`` is extra)."""
        per = {k: (self.time[k] / self.count[k] if self.count[k] else None) for k in ("emulated", "fallback")}
        return {
            "calls": self.calls, "emulated": self.count["emulated"], "fallback": self.count["fallback"],
            "failed": self.failed, "fallbacks_by_reason": dict(self.fallbacks),
            "rest": self.count["rest"], "rest_by_reason": dict(self.rest),
            "seconds": {k: self.time[k] for k in ("emulated", "rest", "fallback", "spot_check")},
            "seconds_per_call": per,
            "spot_checks": self.spot, "spot_check_failures": self.spot_failed,
            "spot_check_max_rel_diff": dict(self.spot_diff),
        }

    def final_lines(self, code: str) -> list:
        d = self.as_dict()
        per = d["seconds_per_call"]
        lines = [f"{d['calls']} points: {d['emulated']} emulated"
                 + (f" ({1e6 * per['emulated']:.0f} us each)" if per["emulated"] else "")
                 + f", {d['fallback']} computed by {code}"
                 + (f" ({1e3 * per['fallback']:.1f} ms each)" if per["fallback"] else "")
                 + (f", {d['failed']} failed in {code}" if d["failed"] else "")]
        if d["fallbacks_by_reason"]:
            lines.append("fallbacks by reason: " + ", ".join(f"{k} {v}" for k, v in d["fallbacks_by_reason"].items()))
        if d["rest"]:
            lines.append(f"{d['rest']} {code} runs at emulated points ({d['seconds']['rest']:.2f} s) for what no "
                         "emulator provides: " + ", ".join(f"{k} ({v})" for k, v in d["rest_by_reason"].items()))
        if d["spot_checks"]:
            lines.append(f"{d['spot_checks']} spot checks ({d['seconds']['spot_check']:.2f} s): max relative "
                         "difference " + ", ".join(f"{k} {v:.2g}" for k, v in d["spot_check_max_rel_diff"].items()))
        return lines
