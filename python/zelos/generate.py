"""Runs a driver over many points, in parallel, into an append-only store that survives crashes.

Store format and resume rules: docs/drivers.md. In short, ``store_dir`` holds ``layout.json``
(what the store is for), ``points.jsonl`` (one line per finished point, ok or failed) and
``outputs.f32`` (one float32 record per successful point, in the order of the ok lines).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import pickle
import signal
import time
from concurrent.futures import FIRST_COMPLETED, CancelledError, ProcessPoolExecutor, wait
from dataclasses import dataclass, field

import numpy as np

from .drivers import ComputationError, ZelosError

try:
    import fcntl
except ImportError:  # Windows: no advisory lock, the rest works
    fcntl = None

__all__ = ["GenerationStats", "StoreError", "TrainingSet", "generate", "load_training_set", "trim_store"]

FORMAT = "zelos-training-set"
FORMAT_VERSION = 1
LAYOUT, POINTS, OUTPUTS, LOCK = "layout.json", "points.jsonl", "outputs.f32", ".lock"
FSYNC_SECONDS = 2.0
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class StoreError(ZelosError, ValueError):
    """The store cannot be used for this run (made for other points or outputs, or in use)."""


@dataclass
class GenerationStats:
    """What one ``generate`` call did."""

    total: int  # points in the design
    already_done: int  # finished (ok or failed) before this call
    computed: int  # finished by this call, failures included
    failed: int  # failures among ``computed``
    seconds: float


@dataclass
class TrainingSet:
    """The successful points of a store, sorted by index, and the failures."""

    names: list
    params: np.ndarray  # (n_ok, d)
    outputs: dict  # name -> (n_ok, *shape)
    indices: np.ndarray  # (n_ok,) indices into the design
    failures: list  # [(index, params, error)]
    store_dir: str
    layout: dict = field(repr=False, default_factory=dict)
    stats: GenerationStats | None = None  # set by generate(), None when loaded

    def __len__(self):
        return len(self.indices)


# -- the store ----------------------------------------------------------------------------------

def _points_sha256(points: np.ndarray) -> str:
    h = hashlib.sha256(f"{points.shape}".encode())
    h.update(np.ascontiguousarray(points, dtype="<f8").tobytes())
    return h.hexdigest()


def _read_layout(store_dir: str) -> dict:
    path = os.path.join(store_dir, LAYOUT)
    try:
        with open(path, encoding="utf-8") as f:
            layout = json.load(f)
    except FileNotFoundError:
        raise StoreError(f"{store_dir}: not a training set (no {LAYOUT})") from None
    if layout.get("format") != FORMAT or layout.get("format_version") != FORMAT_VERSION:
        raise StoreError(f"{store_dir}: {LAYOUT} is not a {FORMAT} v{FORMAT_VERSION} layout")
    return layout


def _record_floats(layout: dict) -> int:
    return sum(int(np.prod(o["shape"], dtype=np.int64)) for o in layout["outputs"])


def _scan(store_dir: str, layout: dict):
    """The valid prefix of the store: (entries, jsonl bytes to keep, records to keep).

    A line is valid if complete, parseable, for an index of the design, and (if ok) pointing at
    the next record, present in full. The first invalid line ends the prefix: after a crash it is
    the torn tail, and anything after it is recomputed.
    """
    rec_bytes = 4 * _record_floats(layout)
    n_points = layout["n_points"]
    try:
        with open(os.path.join(store_dir, POINTS), "rb") as f:
            data = f.read()
    except FileNotFoundError:
        data = b""
    try:
        out_size = os.path.getsize(os.path.join(store_dir, OUTPUTS))
    except FileNotFoundError:
        out_size = 0
    entries, pos, n_rec = [], 0, 0
    while True:
        end = data.find(b"\n", pos)
        if end < 0:
            break
        try:
            e = json.loads(data[pos:end])
            i, ok = e["i"], e["ok"]
            valid = isinstance(i, int) and 0 <= i < n_points and isinstance(ok, bool) and (
                not ok or (e["rec"] == n_rec and (n_rec + 1) * rec_bytes <= out_size))
        except (ValueError, KeyError, TypeError):
            valid = False
        if not valid:
            break
        n_rec += ok
        entries.append(e)
        pos = end + 1
    return entries, pos, n_rec


class _Store:
    """The writing side: one per generate() call, holding the store's lock."""

    def __init__(self, store_dir: str, layout: dict):
        os.makedirs(store_dir, exist_ok=True)
        self.dir = store_dir
        self._lock = open(os.path.join(store_dir, LOCK), "a")
        if fcntl is not None:
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self._lock.close()
                raise StoreError(f"{store_dir}: in use by another generate() run (another zelos build or retrain "
                                 "with this workdir?)") from None
        try:
            if os.path.exists(os.path.join(store_dir, LAYOUT)):
                _check_same(store_dir, _read_layout(store_dir), layout)
            else:
                _write_atomic(os.path.join(store_dir, LAYOUT), json.dumps(layout, indent=1) + "\n")
            self.layout = _read_layout(store_dir)
        except BaseException:
            self._lock.close()
            raise
        entries, keep_bytes, n_rec = _scan(store_dir, self.layout)
        self.rec_bytes = 4 * _record_floats(self.layout)
        # Cut a torn tail so that appends start on a clean line / record boundary.
        for name, size in ((POINTS, keep_bytes), (OUTPUTS, n_rec * self.rec_bytes)):
            path = os.path.join(store_dir, name)
            if os.path.exists(path) and os.path.getsize(path) != size:
                os.truncate(path, size)
        self.done = {e["i"] for e in entries}
        self.n_rec = n_rec
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
        self._points = os.open(os.path.join(store_dir, POINTS), flags, 0o644)
        self._outputs = os.open(os.path.join(store_dir, OUTPUTS), flags, 0o644)
        self._synced = time.monotonic()

    def record(self, i: int, params, ok: bool, payload, seconds: float) -> None:
        line = {"i": int(i), "params": [float(x) for x in params], "ok": ok}
        if ok:
            # The record first: a crash between the two leaves an orphan record, cut on resume.
            _write_all(self._outputs, payload)
            line["rec"] = self.n_rec
            self.n_rec += 1
        else:
            line["error"] = str(payload)
        line["s"] = round(float(seconds), 4)
        _write_all(self._points, (json.dumps(line) + "\n").encode())
        self.done.add(int(i))
        if time.monotonic() - self._synced > FSYNC_SECONDS:
            self.sync()

    def sync(self) -> None:
        os.fsync(self._outputs)
        os.fsync(self._points)
        self._synced = time.monotonic()

    def close(self) -> None:
        try:
            self.sync()
        finally:
            os.close(self._points)
            os.close(self._outputs)
            self._lock.close()  # releases the flock


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _write_atomic(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _check_same(store_dir: str, old: dict, new: dict) -> None:
    for key, what in (("names", "parameter names"), ("n_points", "number of points"),
                      ("points_sha256", "points"), ("outputs", "outputs (names or shapes)"),
                      ("dtype", "dtype"), ("driver", "driver (code, version, settings or request)")):
        if old.get(key) != new.get(key):
            raise StoreError(f"{store_dir}: this store was made for different {what}; "
                             f"stored {_clip(old.get(key))}, now {_clip(new.get(key))}. "
                             "Use another store_dir, or delete this one to start over")


def _clip(x, n: int = 200) -> str:
    s = json.dumps(x)
    return s if len(s) <= n else s[:n] + "..."


def trim_store(store_dir: str, points) -> int:
    """Rewrites ``store_dir`` for ``points``, a prefix of the design it was made for: a long
    generation stopped early, whose spec now asks for the points it finished (the ellipsoid and
    chain-file designs are prefix-stable). Finished points with an index below ``len(points)``
    are kept, the rest dropped; returns how many were kept. Refuses if ``points`` is not a
    prefix of the stored points, or if another run holds the store."""
    import shutil

    points = np.asarray(points, dtype=np.float64)
    old = _read_layout(store_dir)
    if len(points) > old["n_points"]:
        raise StoreError(f"{store_dir}: made for {old['n_points']} points, cannot be trimmed to {len(points)}")
    entries, _, _ = _scan(store_dir, old)
    rec_bytes = 4 * _record_floats(old)
    with open(os.path.join(store_dir, LOCK), "a") as lock:
        if fcntl is not None:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise StoreError(f"{store_dir}: in use by another generate() run (another zelos build or retrain "
                                 "with this workdir?)") from None
        tmp = store_dir.rstrip(os.sep) + ".trimming"
        shutil.rmtree(tmp, ignore_errors=True)
        new = _Store(tmp, {**old, "n_points": len(points), "points_sha256": _points_sha256(points)})
        kept = 0
        try:
            with open(os.path.join(store_dir, OUTPUTS), "rb") as out:
                for e in sorted(entries, key=lambda e: e["i"]):
                    i = e["i"]
                    if i >= len(points):
                        continue
                    if list(map(float, points[i])) != e["params"]:
                        raise StoreError(f"{store_dir}: point {i} differs from the stored one; the new design "
                                         "is not a prefix of the old (a Latin hypercube is never one)")
                    if e["ok"]:
                        out.seek(e["rec"] * rec_bytes)
                        payload = out.read(rec_bytes)
                    else:
                        payload = e.get("error", "failed")
                    new.record(i, points[i], e["ok"], payload, e.get("s", 0.0))
                    kept += 1
        except BaseException:
            new.close()
            shutil.rmtree(tmp, ignore_errors=True)  # the store itself is untouched
            raise
        new.close()
        retired = store_dir.rstrip(os.sep) + ".untrimmed"
        shutil.rmtree(retired, ignore_errors=True)
        os.replace(store_dir, retired)
        os.replace(tmp, store_dir)
        shutil.rmtree(retired, ignore_errors=True)
    return kept


# -- one point, in a worker ---------------------------------------------------------------------

_WORKER = {}  # per process: the driver and the record layout


def _init_worker(factory_bytes: bytes, outputs: list) -> None:
    # Threads first: the driver's code (CAMB's OpenMP) reads these when it is first imported,
    # which unpickling the factory does. Parallelism comes from the processes.
    for var in THREAD_VARS:
        os.environ[var] = "1"
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _exit_with_parent()
    _WORKER["driver"] = _build(pickle.loads(factory_bytes))
    _WORKER["outputs"] = outputs


def _exit_with_parent() -> None:
    """A worker whose build was killed (SIGKILL, OOM) would otherwise finish its queue as an
    orphan, burning the cores the next run needs; it exits within a second of its parent."""
    import threading

    parent = os.getppid()

    def watch():
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="zelos-parent-watch", daemon=True).start()


def _build(factory):
    driver = factory()
    if hasattr(driver, "set_threads"):
        driver.set_threads(1)
    return driver


def _compute(driver, outputs: list, i: int, row, names: list):
    """(i, ok, float32 record bytes or error message, seconds). ComputationError is a result;
    anything else (a wrong name, a driver bug) propagates: it would fail every point."""
    t0 = time.perf_counter()
    try:
        out = driver.compute(dict(zip(names, (float(x) for x in row))))
    except ComputationError as e:
        return i, False, str(e), time.perf_counter() - t0
    parts = []
    for o in outputs:
        a = np.asarray(out[o["name"]], dtype=np.float64)
        if a.shape != tuple(o["shape"]):
            raise ValueError(f"driver returned {o['name']} with shape {a.shape}, layout says {tuple(o['shape'])}")
        parts.append(a.reshape(-1))
    flat = np.concatenate(parts).astype("<f4") if parts else np.zeros(0, "<f4")
    if not np.all(np.isfinite(flat)):
        return i, False, "non-finite output (after conversion to float32)", time.perf_counter() - t0
    return i, True, flat.tobytes(), time.perf_counter() - t0


def _pool_task(i: int, row, names: list):
    return _compute(_WORKER["driver"], _WORKER["outputs"], i, row, names)


def _dask_task(factory_bytes: bytes, outputs: list, i: int, row, names: list):
    # One driver per Dask worker process, built on its first point.
    key = hashlib.sha256(factory_bytes).hexdigest()
    driver = _WORKER.get(key)
    if driver is None:
        driver = _WORKER[key] = _build(pickle.loads(factory_bytes))
    return _compute(driver, outputs, i, row, names)


# -- the run ------------------------------------------------------------------------------------

def generate(driver_factory, points, names, store_dir, *, processes: int | None = None,
             scheduler=None, progress: bool = True) -> TrainingSet:
    """Computes ``driver_factory()`` at every row of ``points`` not yet in ``store_dir``.

    ``driver_factory``: a picklable zero-argument callable returning a driver (``compute``,
    ``output_shapes``, optionally ``describe`` and ``set_threads``), e.g.
    ``functools.partial(CambDriver, settings, request, version)``. ``processes``: worker
    processes (default: every core; 0 runs in this process). ``scheduler``: a Dask scheduler
    address ``"tcp://host:port"`` (or a ``distributed.Client``) to run on a cluster instead; the
    store is written here either way. Returns the whole training set, with ``stats`` for this call.
    """
    t0 = time.monotonic()
    points = np.array(points, dtype=np.float64, ndmin=2)
    names = [str(n) for n in names]
    if points.shape[1] != len(names) or len(set(names)) != len(names):
        raise ValueError(f"generate: points have {points.shape[1]} columns for {len(names)} distinct names")
    if not np.all(np.isfinite(points)):
        raise ValueError("generate: points contain non-finite values")
    if processes is not None and processes < 0:
        raise ValueError(f"generate: processes must be >= 0, got {processes}")
    store_dir = os.fspath(store_dir)
    factory_bytes = pickle.dumps(driver_factory)
    probe = driver_factory()  # the layout comes from the driver itself
    outputs = [{"name": k, "shape": [int(s) for s in v]} for k, v in probe.output_shapes().items()]
    layout = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "names": names,
        "n_points": len(points), "points_sha256": _points_sha256(points),
        "outputs": outputs, "dtype": "<f4",
        "driver": probe.describe() if hasattr(probe, "describe") else {"class": type(probe).__qualname__},
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    del probe
    store = _Store(store_dir, layout)
    already = len(store.done)
    todo = [i for i in range(len(points)) if i not in store.done]
    counts = {"computed": 0, "failed": 0}
    bar = _progress(progress, len(points), already)

    def take(result):
        i, ok, payload, seconds = result
        store.record(i, points[i], ok, payload, seconds)
        counts["computed"] += 1
        counts["failed"] += not ok
        if bar is not None:
            bar.update(1)
            if not ok:
                bar.set_postfix(failed=counts["failed"])

    try:
        if not todo:
            pass
        elif scheduler is not None:
            _run_dask(scheduler, factory_bytes, outputs, points, names, todo, take)
        elif processes == 0:
            driver = driver_factory()
            for i in todo:
                take(_compute(driver, outputs, i, points[i], names))
        else:
            n_proc = processes or _cores()
            _run_pool(min(n_proc, len(todo)), factory_bytes, outputs, points, names, todo, take)
    finally:
        store.close()
        if bar is not None:
            bar.close()
    ts = load_training_set(store_dir)
    ts.stats = GenerationStats(total=len(points), already_done=already, computed=counts["computed"],
                               failed=counts["failed"], seconds=time.monotonic() - t0)
    return ts


def _run_pool(n_proc, factory_bytes, outputs, points, names, todo, take) -> None:
    import multiprocessing

    # spawn: a fresh interpreter per worker, so no OpenMP state is inherited through fork.
    ex = ProcessPoolExecutor(max_workers=n_proc, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_init_worker, initargs=(factory_bytes, outputs))
    queue = iter(todo)
    pending = set()

    def refill():
        # A bounded window: few futures to cancel on Ctrl-C, little memory for big designs.
        while len(pending) < 2 * n_proc:
            i = next(queue, None)
            if i is None:
                return
            pending.add(ex.submit(_pool_task, i, points[i], names))

    try:
        refill()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                pending.discard(fut)
                take(fut.result())
            refill()
    except KeyboardInterrupt:
        # Keep what is finished: drop queued points, let running ones (one per worker) end.
        for fut in pending:
            fut.cancel()
        try:
            for fut in pending:
                if not fut.cancelled():
                    try:
                        take(fut.result())
                    except (Exception, CancelledError):
                        pass  # not recorded: computed again by the next run
        except KeyboardInterrupt:  # a second Ctrl-C: stop now
            _kill_workers(ex)
        ex.shutdown(wait=True, cancel_futures=True)
        raise
    except BaseException:
        for fut in pending:
            fut.cancel()
        _kill_workers(ex)
        ex.shutdown(wait=True, cancel_futures=True)
        raise
    ex.shutdown(wait=True)


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _kill_workers(ex) -> None:
    # No public API ends running tasks; the workers hold nothing that needs saving.
    for proc in list(getattr(ex, "_processes", {}).values()):
        if proc.is_alive():
            proc.terminate()


def _run_dask(scheduler, factory_bytes, outputs, points, names, todo, take) -> None:
    from distributed import Client, as_completed

    own = isinstance(scheduler, str)
    client = Client(scheduler) if own else scheduler
    try:
        factory = client.scatter(factory_bytes, broadcast=True)
        # Bounded, but with room for workers that join later (adaptive clusters).
        window = max(64, 2 * sum(client.nthreads().values()))
        queue = iter(todo)

        def submit(ac):
            i = next(queue, None)
            if i is not None:
                ac.add(client.submit(_dask_task, factory, outputs, i, points[i], names, pure=False))

        ac = as_completed(loop=client.loop)
        for _ in range(window):
            submit(ac)
        try:
            for fut in ac:
                take(fut.result())
                submit(ac)
        except BaseException:
            client.cancel(list(ac.futures))
            raise
    finally:
        if own:
            client.close()


def _progress(enabled: bool, total: int, initial: int):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    bar = tqdm(total=total, initial=initial, unit="pt", desc="generate", dynamic_ncols=True)
    bar.set_postfix(failed=0)
    return bar


# -- reading ------------------------------------------------------------------------------------

def load_training_set(store_dir, dtype=np.float64) -> TrainingSet:
    """The store's successful points (sorted by index) and failures; read-only, a torn tail after
    a crash is ignored. ``dtype`` of the outputs (float64 by default; float32 halves memory)."""
    store_dir = os.fspath(store_dir)
    layout = _read_layout(store_dir)
    entries, _, n_rec = _scan(store_dir, layout)
    width = _record_floats(layout)
    path = os.path.join(store_dir, OUTPUTS)
    records = (np.fromfile(path, dtype="<f4", count=n_rec * width).reshape(n_rec, width)
               if n_rec else np.zeros((0, width), "<f4"))
    first = {}
    for e in entries:
        first.setdefault(e["i"], e)  # a repeated index (never written by generate): keep the first
    ok = sorted((e for e in first.values() if e["ok"]), key=lambda e: e["i"])
    rows = np.array([e["rec"] for e in ok], dtype=np.int64)
    params = np.array([e["params"] for e in ok], dtype=np.float64).reshape(len(ok), len(layout["names"]))
    outputs, col = {}, 0
    for o in layout["outputs"]:
        size = int(np.prod(o["shape"], dtype=np.int64))
        outputs[o["name"]] = records[rows, col:col + size].astype(dtype).reshape((len(ok), *o["shape"]))
        col += size
    failures = [(e["i"], e["params"], e["error"]) for e in sorted(first.values(), key=lambda e: e["i"])
                if not e["ok"]]
    return TrainingSet(names=list(layout["names"]), params=params, outputs=outputs,
                       indices=np.array([e["i"] for e in ok], dtype=np.int64), failures=failures,
                       store_dir=store_dir, layout=layout)
