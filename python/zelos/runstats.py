"""What a plugin did during a run: calls, emulated share, fallbacks by reason, time in each path,
live computations of what no emulator provides, spot-check errors.

Framework-independent; both plugins print :meth:`RunStats.progress` every ``report_every``
seconds and :meth:`RunStats.final_lines` at the end of a run (the Cobaya plugin through a
subclass that words them its way). With a point log, each process also keeps its counts in the
log folder, ``stats.{host}.{pid}.json`` (:meth:`RunStats.save`), which ``zelos report`` adds up:
the point log holds only the fallback points, not how many calls there were.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import socket
import time
from collections import Counter, defaultdict

#: The stats file's format version (key ``zelos_run_stats``).
STATS_FORMAT = 1
#: Seconds between saves when the plugin prints no progress lines (``report_every: null``).
SAVE_EVERY = 60.0

_log = logging.getLogger("zelos")


class RunStats:
    """Counters of one run. Paths: ``emulated`` (every requirement of the point answered by
    the emulators, nothing by the code), ``fallback`` (the code computed the whole point, or
    part of it: a point any of whose requirements the code computed is a fallback, with reason
    ``requirement_not_emulated: WHAT``), ``spot_check`` (extra code runs at emulated points).
    ``time["rest"]``: the time of the code's runs for what no emulator provides (part of the
    fallback time). ``refused``: points never computed (a non-finite input), by reason."""

    #: What one call is, in the printed lines.
    unit = "points"

    def __init__(self):
        self.calls = 0
        self.failed = 0
        self.count = Counter()
        self.time = Counter()
        self.fallbacks = Counter()
        self.rest = Counter()  # points the code computed in part (fallbacks too), by what and why
        self.refused = Counter()  # points given no value and never passed to the code, by reason
        self.spot = 0
        self.spot_failed = 0
        self.spot_diff = defaultdict(float)
        self.spot_dlogp = defaultdict(float)  # max |logp(emulated) - logp(code)| per likelihood
        self.started = self.last_report = self.last_save = time.time()
        self._files = {}  # (folder, pid) -> this run's stats file there
        self._save_failed = False

    def add(self, path: str, seconds: float) -> None:
        self.count[path] += 1
        self.time[path] += seconds

    def spot_check(self, diffs: dict, seconds: float, delta_logp: dict | None = None) -> None:
        self.spot += 1
        self.time["spot_check"] += seconds
        for name, d in diffs.items():
            self.spot_diff[name] = max(self.spot_diff[name], d)
        for like, d in (delta_logp or {}).items():
            self.spot_dlogp[like] = max(self.spot_dlogp[like], abs(d))

    def due(self, every: float | None) -> bool:
        """True (and the clock reset) when a progress line is due."""
        if not every or time.time() - self.last_report <= float(every):
            return False
        self.last_report = time.time()
        return True

    def progress(self) -> str:
        em = self.count["emulated"]
        reasons = ", ".join(f"{k} {v}" for k, v in self.fallbacks.most_common())
        refused = ", ".join(f"{k} {v}" for k, v in self.refused.most_common())
        return (f"{self.calls} {self.unit}: {100.0 * em / max(self.calls, 1):.1f}% emulated"
                + (f"; computed by the code: {reasons}" if reasons else "")
                + (f"; refused: {refused}" if refused else "")
                + (f"; {self.spot} spot checks" if self.spot else ""))

    def as_dict(self) -> dict:
        """``seconds``: total time in each path (``spot_check`` is extra; see the plugin for
        whether ``emulated`` includes ``rest``)."""
        per = {k: (self.time[k] / self.count[k] if self.count[k] else None) for k in ("emulated", "fallback")}
        return {
            "calls": self.calls, "emulated": self.count["emulated"], "fallback": self.count["fallback"],
            "failed": self.failed, "fallbacks_by_reason": dict(self.fallbacks),
            "refused": sum(self.refused.values()), "refused_by_reason": dict(self.refused),
            "rest": self.count["rest"], "rest_by_reason": dict(self.rest),
            "seconds": {k: self.time[k] for k in ("emulated", "rest", "fallback", "spot_check")},
            "seconds_per_call": per,
            "spot_checks": self.spot, "spot_check_failures": self.spot_failed,
            "spot_check_max_rel_diff": dict(self.spot_diff),
            "spot_check_max_abs_delta_logp": dict(self.spot_dlogp),
        }

    def _emulated_note(self, d: dict, code: str) -> str:
        """Words inside the parentheses after the time of an emulated call (a subclass's)."""
        return ""

    def final_lines(self, code: str) -> list:
        d = self.as_dict()
        per = d["seconds_per_call"]
        lines = [f"{d['calls']} {self.unit}: {d['emulated']} emulated"
                 + (f" ({1e6 * per['emulated']:.0f} us each{self._emulated_note(d, code)})" if per["emulated"] else "")
                 + f", {d['fallback']} computed by {code}"
                 + (f" ({1e3 * per['fallback']:.1f} ms each)" if per["fallback"] else "")
                 + (f", {d['failed']} failed in {code}" if d["failed"] else "")
                 + (f", {d['refused']} refused ("
                    + ", ".join(f"{k} {v}" for k, v in d["refused_by_reason"].items()) + ")" if d["refused"] else "")]
        if d["fallbacks_by_reason"]:
            lines.append("fallbacks by reason: " + ", ".join(f"{k} {v}" for k, v in d["fallbacks_by_reason"].items()))
        if d["rest"]:
            what = ", ".join(f"{k} ({v})" for k, v in d["rest_by_reason"].items())
            lines.append(f"{d['rest']} of them computed by {code} only in part ({d['seconds']['rest']:.2f} s), "
                         f"for what no emulator provides: {what}")
        if d["spot_checks"]:
            dlogp = d["spot_check_max_abs_delta_logp"]
            lines.append(f"{d['spot_checks']} spot checks ({d['seconds']['spot_check']:.2f} s): max relative "
                         "difference " + ", ".join(f"{k} {v:.2g}" for k, v in d["spot_check_max_rel_diff"].items())
                         + ("; max |delta logp| " + ", ".join(f"{k} {v:.3g}" for k, v in dlogp.items())
                            if dlogp else ""))
        return lines

    # -- the stats file ---------------------------------------------------------------------------
    def snapshot(self, final: bool = False) -> dict:
        """What the stats file holds: :meth:`as_dict` with who wrote it and when; ``final``:
        written at the end of the run (otherwise the run was going on, or ended without closing)."""
        return {"zelos_run_stats": STATS_FORMAT, "host": host_name(), "pid": os.getpid(), "started": self.started,
                "updated": time.time(), "final": bool(final), **self.as_dict()}

    def save(self, directory, final: bool = False) -> str | None:
        """Writes :meth:`snapshot` to this run's stats file in ``directory``, atomically (a
        reader sees the previous or the new counts, never half a file). Returns its path, or None
        when it could not be written: a chain never stops for its statistics (one warning)."""
        self.last_save = time.time()
        try:
            path = self._file(os.fspath(directory))
            tmp = path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(self.snapshot(final), f, indent=1)
            os.replace(tmp, path)
            return path
        except OSError as e:
            if not self._save_failed:
                _log.warning("zelos: run statistics not written to %s: %s", directory, e)
            self._save_failed = True
            return None

    def save_if_due(self, directory, every: float | None = None) -> None:
        """:meth:`save` when ``every`` seconds (:data:`SAVE_EVERY` when None) have passed since
        the last save: a crash loses at most one interval of counts."""
        if directory and time.time() - self.last_save > float(every or SAVE_EVERY):
            self.save(directory)

    def _file(self, directory: str) -> str:
        # Claimed once per folder and process (a forked child claims its own): a second run of the
        # same process into the same folder, or a reused pid, gets `stats.HOST.PID.2.json`.
        key = (directory, os.getpid())
        if key not in self._files:
            self._files[key] = _claim(directory, f"stats.{host_name()}.{os.getpid()}")
        return self._files[key]


def _claim(directory: str, stem: str) -> str:
    """The first of ``stem.json``, ``stem.2.json``... not yet in ``directory``, created empty."""
    os.makedirs(directory, exist_ok=True)
    for n in itertools.count(1):
        path = os.path.join(directory, f"{stem}.json" if n == 1 else f"{stem}.{n}.json")
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            return path
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


def host_name() -> str:
    """The host name as the point log's file names spell it (``[A-Za-z0-9._-]``)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname().strip()) or "localhost"


# -- reading them back (zelos report) ------------------------------------------------------------
#: Counts that add up across processes, and per-key maxima.
_SUMS = ("calls", "emulated", "fallback", "failed", "refused", "rest", "spot_checks", "spot_check_failures")
_BY_KEY_SUMS = ("fallbacks_by_reason", "rest_by_reason", "refused_by_reason", "seconds")
_BY_KEY_MAXIMA = ("spot_check_max_rel_diff", "spot_check_max_abs_delta_logp")


def stats_files(location) -> list:
    """The stats files of a log folder, or the one beside a point-log file written by the same
    process (``points.HOST.PID.jsonl`` -> ``stats.HOST.PID*.json``)."""
    location = os.fspath(location)
    if os.path.isdir(location):
        folder, pattern = location, r"stats\..+\.json"
    else:
        folder, name = os.path.split(os.path.abspath(location))
        m = re.fullmatch(r"points\.(.+)\.jsonl", name)
        if not m:
            return []
        pattern = re.escape(f"stats.{m[1]}") + r"(\.\d+)?\.json"
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if re.fullmatch(pattern, f))


def read_run_stats(locations) -> tuple:
    """``(runs, unreadable)``: the stats of every file :func:`stats_files` finds, each with
    ``file``; the paths that hold no stats (a file being claimed, or not one of ours)."""
    runs, unreadable = [], []
    for location in [locations] if isinstance(locations, (str, os.PathLike)) else locations:
        for path in stats_files(location):
            try:
                with open(path, encoding="utf-8") as f:
                    run = json.load(f)
                if not isinstance(run, dict) or run.get("zelos_run_stats") != STATS_FORMAT:
                    raise ValueError("not a zelos stats file")
            except (OSError, ValueError):
                unreadable.append(path)
                continue
            runs.append(dict(run, file=path))
    return runs, unreadable


def add_up(runs: list) -> dict:
    """The stats of several processes as one run's: counts summed, maxima of the spot-check
    errors, ``processes`` and ``not_final`` (processes that were running, or ended without
    closing, when their file was last written), ``emulated_fraction``."""
    total = {k: sum(int(r.get(k, 0)) for r in runs) for k in _SUMS}
    for k in _BY_KEY_SUMS:
        c = Counter()
        for r in runs:
            c.update(r.get(k) or {})
        total[k] = dict(c.most_common()) if k != "seconds" else dict(c)
    for k in _BY_KEY_MAXIMA:
        worst = defaultdict(float)
        for r in runs:
            for name, v in (r.get(k) or {}).items():
                worst[name] = max(worst[name], float(v))
        total[k] = dict(worst)
    total["seconds_per_call"] = {k: (total["seconds"].get(k, 0.0) / total[k] if total[k] else None)
                                 for k in ("emulated", "fallback")}
    total["emulated_fraction"] = total["emulated"] / total["calls"] if total["calls"] else None
    total["processes"] = len(runs)
    total["not_final"] = sum(not r.get("final") for r in runs)
    return total
