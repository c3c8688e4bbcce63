"""The training-set store: append-only, resumable, readable after a crash.

Format and resume rules: docs/drivers.md. In short, ``store_dir`` holds ``layout.json`` (what the
store is for), ``points.jsonl`` (one line per finished point, ok or failed) and ``outputs.f32``
(one float32 record per successful point, in the order of the ok lines). :func:`generate
<zelos.build.generate.generate>` fills a store; the retrain (zelos.learning.retrain) writes and
reads stores through the public names here.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field

import numpy as np

from ..drivers import ZelosError

try:
    import fcntl
except ImportError:  # Windows: no advisory lock, the rest works
    fcntl = None

__all__ = ["GenerationStats", "StoreError", "StoreWriter", "TrainingSet", "load_training_set", "points_sha256",
           "read_layout", "resize_store", "scan", "stored_points"]

FORMAT = "zelos-training-set"
FORMAT_VERSION = 1
LAYOUT, POINTS, OUTPUTS, LOCK = "layout.json", "points.jsonl", "outputs.f32", ".lock"
FSYNC_SECONDS = 2.0


class StoreError(ZelosError, ValueError):
    """The store cannot be used for this run (made for other points or outputs, or in use)."""


@dataclass
class GenerationStats:
    """What one :func:`~zelos.build.generate.generate` call did (a training set's ``stats``)."""

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

def points_sha256(points: np.ndarray) -> str:
    """The design's fingerprint in ``layout.json``: a store is resumed only for the same points."""
    h = hashlib.sha256(f"{points.shape}".encode())
    h.update(np.ascontiguousarray(points, dtype="<f8").tobytes())
    return h.hexdigest()


def read_layout(store_dir: str) -> dict:
    """The store's ``layout.json`` (names, number of points, outputs, driver); StoreError if it
    has none or another format."""
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


def scan(store_dir: str, layout: dict):
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


class StoreWriter:
    """The writing side, holding the store's lock: one per generate() call (and one per store
    the retrain fills with points it already has). ``done``: the indices finished already;
    :meth:`record` appends one point; :meth:`close` syncs and releases the lock."""

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
                _check_same(store_dir, read_layout(store_dir), layout)
            else:
                _write_atomic(os.path.join(store_dir, LAYOUT), json.dumps(layout, indent=1) + "\n")
            self.layout = read_layout(store_dir)
        except BaseException:
            self._lock.close()
            raise
        entries, keep_bytes, n_rec = scan(store_dir, self.layout)
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


#: Relative agreement at which a design's point and a stored one are the same point (resize_store).
POINT_TOLERANCE = 1e-12


def resize_store(store_dir: str, points) -> int:
    """Rewrites ``store_dir`` for ``points``, a design of another size whose points agree with
    the stored ones where both have them (the `sobol` and `ellipsoid` designs are prefix-stable):
    fewer points, for a long generation stopped early whose spec now asks for what finished; more,
    for a build grown over several sittings; the same size, for a store made where the design's
    arithmetic rounded differently (re-keyed to this machine's points). Finished points with an index below ``len(points)``
    are kept, the rest dropped; returns how many were kept. Refuses if a finished point differs
    from ``points`` at its index, or if another run holds the store; the store is untouched then."""
    import shutil

    points = np.asarray(points, dtype=np.float64)
    # The same design drawn on another machine can differ in the last bit (BLAS kernels sum in
    # another order): points that agree to 1e-12 of their column's magnitude are the same point.
    tolerance = POINT_TOLERANCE * np.abs(points).max(axis=0) if len(points) else 0.0
    old = read_layout(store_dir)
    entries, _, _ = scan(store_dir, old)
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
        new = StoreWriter(tmp, {**old, "n_points": len(points), "points_sha256": points_sha256(points)})
        kept = 0
        try:
            with open(os.path.join(store_dir, OUTPUTS), "rb") as out:
                for e in sorted(entries, key=lambda e: e["i"]):
                    i = e["i"]
                    if i >= len(points):
                        continue
                    if not np.all(np.abs(points[i] - np.asarray(e["params"], dtype=np.float64)) <= tolerance):
                        raise StoreError(f"{store_dir}: point {i} differs from the stored one; one design is not "
                                         "a prefix of the other (a Latin hypercube is never one; another seed or "
                                         "box neither)")
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


# -- reading ------------------------------------------------------------------------------------

def load_training_set(store_dir, dtype=np.float64) -> TrainingSet:
    """The store's successful points (sorted by index) and failures; read-only, a torn tail after
    a crash is ignored. ``dtype`` of the outputs (float64 by default; float32 halves memory)."""
    store_dir = os.fspath(store_dir)
    layout = read_layout(store_dir)
    entries, _, n_rec = scan(store_dir, layout)
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


def stored_points(store_dir, with_indices: bool = False):
    """A store's successful points ``[n, p]`` in index order (and their indices), as
    :func:`load_training_set` gives them, without reading the outputs."""
    store_dir = os.fspath(store_dir)
    layout = read_layout(store_dir)
    first = {}
    for e in scan(store_dir, layout)[0]:
        first.setdefault(e["i"], e)  # as load_training_set: a repeated index keeps the first
    ok = sorted((e for e in first.values() if e["ok"]), key=lambda e: e["i"])
    points = np.array([e["params"] for e in ok], float).reshape(len(ok), len(layout["names"]))
    return (points, np.array([e["i"] for e in ok], np.int64)) if with_indices else points
