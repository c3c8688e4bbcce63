"""Online retraining: a chain's fallback points retrain its emulator while it runs (the Cobaya
option ``retrain: {every: N}``; docs/active-learning.md).

:class:`OnlineRetrainer` is told of every point (:meth:`~OnlineRetrainer.poll`) and of every
fallback (:meth:`~OnlineRetrainer.notify`). After ``every`` fallbacks outside an emulator's trust
region it runs ``zelos retrain`` on the point log in a separate, low-priority process (``nice``
10 by default): the chain goes on at full speed, and nothing that process does (an exception,
a crash, a kill) can stop it. The process also judges the new emulator against the old one
(:mod:`zelos.learning.verdict`). When it is done, the next :meth:`~OnlineRetrainer.poll` swaps an
accepted emulator into the router (one atomic swap of the Rust router's table: other calls never
wait) and logs it; a rejected or failed retrain is logged and the current emulator stays.

Files, per attempt ``K`` (1, 2, ... in this log folder)::

    LOG/retrained/NAME-rK.tar.gz        the retrained archive (spec version e.g. 1.0.0+r1)
    LOG/retrained/NAME-rK/job.json      what the background job was asked to do
    LOG/retrained/NAME-rK/retrain.log   its output
    LOG/retrained/NAME-rK/verdict.json  the comparison with the old emulator (zelos.learning.verdict)
    LOG/retrained/NAME-rK/NAME.build/   the merged training set (the next retrain starts there)

Run as ``python -m zelos.learning.online JOB.json``, this module is the background job itself.
"""

from __future__ import annotations

import collections
import json
import os
import queue
import subprocess
import sys
import threading
import time
import weakref
from dataclasses import dataclass

__all__ = ["OnlineRetrainer", "RetrainOptions", "why_untrainable"]

#: Niceness of the background job: the chain keeps its share of the cores.
NICE = 10
#: The error of a job stopped because the chain ended.
STOPPED = "stopped: the chain ended first"


@dataclass
class RetrainOptions:
    """The ``retrain`` option: ``every`` (fallbacks outside one emulator's trust region between
    retrains), ``extra`` (new points around the logged ones per retrain, as ``zelos retrain
    --extra``), ``tolerance`` (see :mod:`zelos.learning.verdict`), ``max_rounds`` (retrains per run,
    None: no limit), ``processes`` (for the code in the job; 0: the job's own process),
    ``nice`` (the job's niceness: 10 leaves the cores to the chain; 0 competes with it)."""

    every: int
    extra: int = 0
    tolerance: float = 2.0
    max_rounds: int | None = None
    processes: int = 0
    nice: int = NICE

    @classmethod
    def parse(cls, option) -> "RetrainOptions | None":
        """``None``/``False`` -> None (off); a mapping -> options (ValueError if malformed)."""
        if option in (None, False):
            return None
        if not isinstance(option, dict) or "every" not in option:
            raise ValueError(f"`retrain`: expected a mapping like {{every: 50}}; got {option!r}")
        unknown = set(option) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"`retrain`: unknown keys {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        opts = cls(**option)
        if not (isinstance(opts.every, int) and opts.every >= 1):
            raise ValueError(f"`retrain.every` = {opts.every!r}: expected a whole number >= 1")
        if not (opts.tolerance > 0 and int(opts.extra) >= 0 and int(opts.processes) >= 0 and int(opts.nice) >= 0):
            raise ValueError("`retrain`: `tolerance` must be > 0, `extra`, `processes` and `nice` >= 0")
        return opts


@dataclass
class _Job:
    key: str
    round: int
    parent: str  # archive retrained
    folder: str  # LOG/retrained/NAME-rK
    target: str  # LOG/retrained/NAME-rK.tar.gz
    call: int  # calls seen when it was started
    # Filled in by the worker thread:
    error: str | None = None
    verdict: dict | None = None
    emulator: object = None
    seconds: float = 0.0


class OnlineRetrainer:
    """Retrains the emulators of ``router`` from the point log in ``log_dir`` in the background,
    and swaps better ones in (see the module's docstring).

    ``emulators``: ``{router key: zelos.Emulator}`` (those of the router are retrained);
    ``point_log``: the ``PointLog`` the fallbacks go to (flushed before each job reads it);
    ``logger``: a ``logging.Logger`` (Cobaya's ``[zelos]``).
    """

    def __init__(self, router, emulators: dict, log_dir, options: RetrainOptions, *, point_log=None,
                 logger=None, python: str = sys.executable):
        import logging

        self.router = router
        self.options = options
        self.log_dir = os.path.abspath(os.fspath(log_dir))
        self.folder = os.path.join(self.log_dir, "retrained")
        self.point_log = point_log
        self.logger = logger or logging.getLogger("zelos.learning.online")
        self.python = python
        entries = {e["key"]: e for e in router.entries()}
        self._current = {k: os.path.abspath(emulators[k].path) for k in entries if k in emulators}
        self._names = {k: emulators[k].name for k in self._current}
        self._fixed = {k: dict(entries[k]["fixed"]) for k in self._current}
        self.calls = 0  # points seen (poll)
        self.fallbacks = 0  # fallback points (notify)
        self.rounds: list = []  # one dict per finished attempt
        self.swaps: list = []  # one dict per swap: round, key, archive, sha256, call, fallbacks, seconds
        self._pending = collections.Counter()  # fallbacks outside each key's region since its last job
        self._busy = False
        self._started = 0
        self._jobs: queue.Queue = queue.Queue()
        self._done: collections.deque = collections.deque()
        self._proc = [None]  # the running job's Popen; a list, shared with the finalizer
        self._thread = None
        self._closed = False
        self._finalizer = weakref.finalize(self, _stop_process, self._proc)

    # -- the chain's side: called at every point, cheap -----------------------------------------
    def notify(self, fallback) -> None:
        """A point fell back (``fallback``: ``kind``, ``nearest`` as ``routing.Fallback``) and was
        logged. Starts a background retrain when ``every`` have gone outside one emulator."""
        try:
            self.fallbacks += 1
            key = getattr(fallback, "nearest", None)
            if getattr(fallback, "kind", None) != "outside_every_region" or key not in self._current:
                return
            self._pending[key] += 1
            self._maybe_start(key)
        except Exception as e:  # noqa: BLE001 -- online retraining never stops a chain
            self.logger.warning("online retraining: %s (the chain goes on)", e)

    def poll(self) -> dict | None:
        """Called before each point: swaps in a finished, accepted retrain (returns its record)."""
        self.calls += 1
        if not self._done:
            return None
        try:
            return self._finish(self._done.popleft())
        except Exception as e:  # noqa: BLE001
            self._busy = False
            self.logger.warning("online retraining: %s (the chain goes on with the current emulator)", e)
            return None

    # -- starting a job ---------------------------------------------------------------------------
    def _maybe_start(self, key: str) -> None:
        limit = self.options.max_rounds
        if self._busy or self._closed or self._pending[key] < self.options.every:
            return
        if limit is not None and self._started >= limit:
            return
        job = self._new_job(key)
        self._busy = True
        self._started += 1
        self.logger.info("online retrain r%d of %s started in the background after %d fallback points outside its "
                         "trust region (call %d; %s)", job.round, key, self._pending[key], self.calls,
                         _show(job.folder))
        self._pending[key] = 0
        if self._thread is None:
            self._thread = threading.Thread(target=self._worker, name="zelos-online-retrain", daemon=True)
            self._thread.start()
        self._jobs.put(job)

    def _new_job(self, key: str) -> _Job:
        """The first free ``NAME-rK`` folder (made here, so that parallel chains sharing a log
        folder never collide)."""
        os.makedirs(self.folder, exist_ok=True)
        name, k = self._names[key], 1
        while True:
            folder = os.path.join(self.folder, f"{name}-r{k}")
            try:
                os.mkdir(folder)
                break
            except FileExistsError:
                k += 1
        return _Job(key, k, self._current[key], folder, folder + ".tar.gz", self.calls)

    # -- the worker thread: runs one job at a time ----------------------------------------------
    def _worker(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            t0 = time.perf_counter()
            try:
                self._run(job)
            except BaseException as e:  # noqa: BLE001 -- reported by poll(), in the chain's thread
                job.error = f"{type(e).__name__}: {e}"
            job.seconds = time.perf_counter() - t0
            self._done.append(job)

    def _run(self, job: _Job) -> None:
        if self._closed:
            job.error = STOPPED
            return
        if self.point_log is not None:
            self.point_log.flush()  # every fallback logged so far is in the files the job reads
        spec = {"archive": job.parent, "logs": [self.log_dir], "folder": job.folder, "target": job.target,
                "extra": int(self.options.extra), "tolerance": float(self.options.tolerance),
                "processes": int(self.options.processes), "nice": int(self.options.nice), "seed": job.round}
        with open(os.path.join(job.folder, "job.json"), "w", encoding="utf-8") as f:
            json.dump(spec, f, indent=1)
        log_path = os.path.join(job.folder, "retrain.log")
        with open(log_path, "w", encoding="utf-8") as out:
            proc = subprocess.Popen([self.python, "-m", "zelos.learning.online", os.path.join(job.folder, "job.json")],
                                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            self._proc[0] = proc
            if self._closed:  # close() ran while this process started
                _stop_process(self._proc)
            rc = proc.wait()
            self._proc[0] = None
        if self._closed:
            job.error = STOPPED
            return
        if rc != 0:
            job.error = f"the job exited with code {rc}: {_tail(log_path)}"
            return
        with open(os.path.join(job.folder, "verdict.json"), encoding="utf-8") as f:
            job.verdict = json.load(f)
        if job.verdict["accept"]:
            from ..emulator import load

            job.emulator = load(job.target, out_of_range="ignore")  # loaded here, not in the chain's thread

    # -- back in the chain's thread ---------------------------------------------------------------
    def _finish(self, job: _Job) -> dict | None:
        self._busy = False
        record = {"round": job.round, "key": job.key, "parent": job.parent, "archive": job.target,
                  "seconds": job.seconds, "error": job.error, "verdict": job.verdict, "swapped": False}
        self.rounds.append(record)
        swap = None
        if job.error:
            self.logger.warning("online retrain r%d of %s failed after %.0f s: %s; the chain goes on with the "
                                "current emulator", job.round, job.key, job.seconds, job.error)
        elif job.emulator is not None:
            t0 = time.perf_counter()
            # the rank it had: its validated accuracy stands until `zelos validate` runs on the new one
            self.router.add(job.key, job.emulator, fixed=self._fixed[job.key], keep_rank=True)
            dt = time.perf_counter() - t0
            self._current[job.key] = job.target
            swap = {"round": job.round, "key": job.key, "archive": job.target, "sha256": job.emulator.sha256,
                    "version": job.emulator.spec["version"], "call": self.calls, "fallbacks": self.fallbacks,
                    "swap_seconds": dt}
            self.swaps.append(swap)
            record["swapped"] = True
            self.logger.info("online retrain r%d: swapped in %s (version %s, sha256 %s...) at call %d, %.0f s after "
                             "it started, in %.0f us: %s", job.round, _show(job.target),
                             swap["version"], swap["sha256"][:12], self.calls, job.seconds, dt * 1e6,
                             job.verdict["reason"])
        else:
            self.logger.info("online retrain r%d of %s not swapped in: %s (%s kept for inspection)", job.round,
                             job.key, job.verdict["reason"], _show(job.target))
        for key in list(self._pending):  # fallbacks gathered meanwhile may already call for the next one
            self._maybe_start(key)
        return swap

    # -- the end ----------------------------------------------------------------------------------
    def close(self) -> None:
        """Stops a job still running (its folder is kept) and says what online retraining did."""
        if self._closed:
            return
        self._closed = True
        _stop_process(self._proc)
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join(timeout=30)
        while self._done:
            job = self._done.popleft()
            if job.error == STOPPED:
                self.logger.info("online retrain r%d of %s was still running when the chain ended: stopped "
                                 "(retrain by hand with `zelos retrain %s --points %s`)", job.round, job.key,
                                 _show(job.parent), _show(self.log_dir))
            elif job.error:
                self.logger.warning("online retrain r%d of %s failed: %s", job.round, job.key, job.error)
            else:
                self.logger.info("online retrain r%d of %s finished after the last point (%s): %s", job.round,
                                 job.key, _show(job.target),
                                 "accepted" if job.verdict["accept"] else "not accepted")
        if self._started:
            self.logger.info("online retraining: %d retrains started, %d swapped in%s", self._started,
                             len(self.swaps), "".join(f"; r{s['round']} at call {s['call']}" for s in self.swaps))


def _stop_process(holder: list) -> None:
    """Terminates the job process (ours) if it still runs."""
    proc = holder[0]
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _show(path: str) -> str:
    """A path for messages: relative to the working directory when below it."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def _tail(path: str, lines: int = 3) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = [t.rstrip() for t in f if t.strip()]
    except OSError:
        return "(no output)"
    return " | ".join(text[-lines:]) or "(no output)"


def why_untrainable(emulator) -> str | None:
    """Why ``emulator`` cannot be retrained (its training set is not found), or None: the same
    look-up as ``zelos retrain`` (its report's workdir, ``NAME.build`` beside the archive)."""
    from .retrain import TrainingSetNotFound, training_set_folder

    try:
        training_set_folder(emulator.path, emulator)
    except TrainingSetNotFound as e:
        return str(e)
    return None


# -- the background job ---------------------------------------------------------------------------

def main(argv=None) -> int:
    """``python -m zelos.learning.online JOB.json``: retrain, judge, and write ``verdict.json`` last."""
    from .retrain import retrain
    from .verdict import judge_retrain

    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0], encoding="utf-8") as f:
        job = json.load(f)
    try:
        os.nice(int(job.get("nice", NICE)))
    except (AttributeError, OSError):
        pass
    result = retrain(job["archive"], job["logs"], extra=job["extra"], out_dir=job["folder"],
                     processes=job["processes"], seed=job["seed"], progress=False,
                     log=lambda *a, **k: print(*a, **{**k, "flush": True}))
    os.replace(result.path, job["target"])
    verdict = judge_retrain(job["archive"], job["target"], job["tolerance"]).as_dict()
    verdict.update(archive=job["target"], sha256=result.sha256, parent=job["archive"])
    print(f"Verdict: {'accepted' if verdict['accept'] else 'not accepted'}: {verdict['reason']}", flush=True)
    tmp = os.path.join(job["folder"], "verdict.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(verdict, f, indent=1)
    os.replace(tmp, os.path.join(job["folder"], "verdict.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
