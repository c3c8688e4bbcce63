"""Runs a driver over many points, in parallel, into an append-only store that survives crashes
(the store itself: :mod:`zelos.build.store`; its format and resume rules: docs/drivers.md)."""

from __future__ import annotations

import datetime
import hashlib
import os
import pickle
import signal
import time
from concurrent.futures import FIRST_COMPLETED, CancelledError, ProcessPoolExecutor, wait

import numpy as np

from ..drivers import ComputationError
from .store import FORMAT, FORMAT_VERSION, GenerationStats, StoreWriter, TrainingSet, load_training_set, points_sha256

__all__ = ["generate"]

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


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
        "n_points": len(points), "points_sha256": points_sha256(points),
        "outputs": outputs, "dtype": "<f4",
        "driver": probe.describe() if hasattr(probe, "describe") else {"class": type(probe).__qualname__},
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    del probe
    store = StoreWriter(store_dir, layout)
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
