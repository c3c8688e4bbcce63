"""A training-set store, packed small enough to commit, so that a build of several sittings
resumes on a fresh machine (docs/build.md).

A CMB store holds 10,167 float32 outputs a point (41 KB; 130 MB for 3,000 points), which no
lossless compressor shrinks much (2x: the low bits of the mantissas are noise). Across points,
though, each output is a smooth function of a few parameters: 60 to 90 principal components
reproduce ln D_l^TT, ln D_l^EE and TE / sqrt(TT EE) at 250 points of a 7-parameter design to 1e-6,
21 ln D_l^phiphi, 4 ln H(z). The pack keeps, per output, its transform, mean, components and
coefficients (float32), as few components as give every stored value to ``tolerance``
(relative for positive outputs: 1e-6 by default, far below CAMB's own accuracy and the
emulators' errors), and the scalars as they are. ``layout.json`` and ``points.jsonl`` are copied
as they are, so the unpacked store is the store (its points, indices and failures), its outputs
within the tolerance; ``zelos build`` resumes from it and ``zelos retrain`` trains on it.

Format (``outputs.pack.npz``, numpy's zip of arrays, read without pickle): ``n_records`` and,
for each output ``NAME`` of the layout, ``NAME.kind`` (``ln``, ``te``: over sqrt(TT EE), ``scaled``:
over its largest absolute value, ``raw``), ``NAME.mean``, ``NAME.components``,
``NAME.coefficients``, ``NAME.scale``, ``NAME.zero_columns`` (columns zero at every point, as
D_A at z = 0, kept exactly), or ``NAME.values`` for ``raw``. Unpacked values are float32, as
in any store (their rounding, 6e-8, comes on top of the tolerance).
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np

from .store import LAYOUT, OUTPUTS, POINTS, StoreError, read_layout, scan

__all__ = ["PACK", "arguments", "pack_store", "unpack_store", "pack_build", "unpack_build"]

PACK = "outputs.pack.npz"
PACK_FORMAT = 1
DEFAULT_TOLERANCE = 1e-6


def _blocks(layout: dict) -> list:
    """``[(name, shape, first column, size)]`` of a store record, TE after TT and EE (it is
    packed relative to them)."""
    out, col = [], 0
    for o in layout["outputs"]:
        size = int(np.prod(o["shape"], dtype=np.int64))
        out.append((o["name"], tuple(o["shape"]), col, size))
        col += size
    return sorted(out, key=lambda block: block[0] == "dl_te")


def _records(store_dir: str, layout: dict, n_rec: int) -> np.ndarray:
    """The first ``n_rec`` records of the store's outputs (``scan`` says how many are valid)."""
    width = sum(size for *_, size in _blocks(layout))
    if not n_rec:
        return np.zeros((0, width), "<f4")
    return np.fromfile(os.path.join(store_dir, OUTPUTS), dtype="<f4", count=n_rec * width).reshape(n_rec, width)


def _fewest_components(y: np.ndarray, tolerance: float) -> dict:
    """Mean (float64), components and coefficients (float32) reproducing ``y`` to ``tolerance``,
    with the fewest components (checked on the arrays as stored)."""
    mean = y.mean(axis=0)
    residual = y - mean
    u, s, vt = np.linalg.svd(residual, full_matrices=False)
    low, high = 0, len(s)  # bisect on the number of components (the error falls as it grows)

    def packed(k):
        # the mean in float64: in float32 it alone would miss 1e-6 (ln D_l^phiphi is about -16)
        return {"mean": mean, "components": vt[:k].astype(np.float32),
                "coefficients": (u[:, :k] * s[:k]).astype(np.float32)}

    def fits(candidate):
        return np.abs(_reconstruct(candidate) - y).max(initial=0.0) <= tolerance

    best = packed(high)
    if not fits(best):
        raise StoreError(f"cannot pack to {tolerance:g}: even every component misses it (float32 rounding)")
    while low < high:
        mid = (low + high) // 2
        candidate = packed(mid)
        if fits(candidate):
            high, best = mid, candidate
        else:
            low = mid + 1
    return best


def _reconstruct(packed: dict) -> np.ndarray:
    """mean + coefficients @ components, in float64."""
    return (np.asarray(packed["mean"], np.float64)
            + packed["coefficients"].astype(np.float64) @ packed["components"].astype(np.float64))


def pack_store(store_dir: str, out_dir: str, tolerance: float = DEFAULT_TOLERANCE) -> dict:
    """Writes ``out_dir`` (layout, points, the packed outputs); returns ``{output: components}``."""
    layout = read_layout(store_dir)
    _, keep, n_rec = scan(store_dir, layout)
    records = _records(store_dir, layout, n_rec).astype(np.float64)
    arrays = {"format": np.array(PACK_FORMAT), "n_records": np.array(n_rec)}
    rebuilt, kept = {}, {}
    for name, shape, col, size in _blocks(layout):
        x = records[:, col:col + size]
        if len(shape) == 0 or n_rec < 2:
            arrays[f"{name}.kind"], arrays[f"{name}.values"] = np.array("raw"), x.astype(np.float32)
            rebuilt[name] = x
            continue
        zero = np.all(x == 0, axis=0)  # D_A at z = 0: kept exactly, not packed
        arrays[f"{name}.zero_columns"] = zero
        x = x[:, ~zero]
        if name == "dl_te" and "dl_tt" in rebuilt and "dl_ee" in rebuilt:
            kind, scale = "te", _te_scale(rebuilt)[:, ~zero]
        elif np.all(x > 0):
            kind, scale = "ln", None
        else:
            kind, scale = "scaled", np.abs(x).max() or 1.0
        y = np.log(x) if kind == "ln" else x / scale
        packed = _fewest_components(y, tolerance)
        arrays.update({f"{name}.{k}": v for k, v in packed.items()})
        arrays[f"{name}.kind"] = np.array(kind)
        arrays[f"{name}.scale"] = np.array(scale if kind == "scaled" else 1.0)
        rebuilt[name] = _from_packed(arrays, name, rebuilt)
        kept[name] = packed["components"].shape[0]
    os.makedirs(out_dir, exist_ok=True)
    shutil.copyfile(os.path.join(store_dir, LAYOUT), os.path.join(out_dir, LAYOUT))
    with open(os.path.join(store_dir, POINTS), "rb") as f:
        points = f.read(keep)  # the valid prefix: a torn tail is not packed
    with open(os.path.join(out_dir, POINTS), "wb") as f:
        f.write(points)
    np.savez_compressed(os.path.join(out_dir, PACK), **arrays)
    return kept


def _te_scale(rebuilt: dict) -> np.ndarray:
    return np.sqrt(np.abs(rebuilt["dl_tt"] * rebuilt["dl_ee"]))


def _from_packed(arrays: dict, name: str, rebuilt: dict) -> np.ndarray:
    kind = str(arrays[f"{name}.kind"])
    if kind == "raw":
        return arrays[f"{name}.values"].astype(np.float64)
    zero = arrays[f"{name}.zero_columns"]
    y = _reconstruct({key: arrays[f"{name}.{key}"] for key in ("mean", "coefficients", "components")})
    if kind == "ln":
        x = np.exp(y)
    elif kind == "te":
        x = y * _te_scale(rebuilt)[:, ~zero]
    else:
        x = y * float(arrays[f"{name}.scale"])
    out = np.zeros((len(x), len(zero)))
    out[:, ~zero] = x
    return out


def unpack_store(pack_dir: str, store_dir: str) -> int:
    """Writes the store ``pack_dir`` holds into ``store_dir`` (which must not hold one); returns
    the number of records."""
    layout = read_layout(pack_dir)
    if os.path.exists(os.path.join(store_dir, LAYOUT)):
        raise StoreError(f"{store_dir}: already holds a store; unpack into an empty folder")
    with np.load(os.path.join(pack_dir, PACK), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    if int(arrays.get("format", -1)) != PACK_FORMAT:
        raise StoreError(f"{pack_dir}/{PACK}: not a version-{PACK_FORMAT} pack")
    n_rec = int(arrays["n_records"])
    blocks = _blocks(layout)
    records = np.zeros((n_rec, sum(size for *_, size in blocks)), np.float32)
    rebuilt = {}
    for name, _, col, size in blocks:
        rebuilt[name] = _from_packed(arrays, name, rebuilt).reshape(n_rec, size)
        records[:, col:col + size] = rebuilt[name]
    os.makedirs(store_dir, exist_ok=True)
    shutil.copyfile(os.path.join(pack_dir, LAYOUT), os.path.join(store_dir, LAYOUT))
    shutil.copyfile(os.path.join(pack_dir, POINTS), os.path.join(store_dir, POINTS))
    records.astype("<f4").tofile(os.path.join(store_dir, OUTPUTS))
    if scan(store_dir, layout)[2] != n_rec:
        raise StoreError(f"{pack_dir}: its points.jsonl does not match its {n_rec} packed records")
    return n_rec


def _stores(build_dir: str) -> list:
    """The store folders of a build (``test``, ``train``...: those holding a layout)."""
    return sorted(d for d in os.listdir(build_dir) if os.path.isfile(os.path.join(build_dir, d, LAYOUT)))


def pack_build(build_dir: str, out_dir: str, tolerance: float = DEFAULT_TOLERANCE) -> dict:
    """Packs every store of a build's ``NAME.build`` folder into ``out_dir/<store>``; returns
    ``{store: {output: components}}`` (also written to ``out_dir/pack.json``)."""
    stores = _stores(build_dir)
    if not stores:
        raise StoreError(f"{build_dir}: no training-set store in it (a zelos build's NAME.build folder?)")
    summary = {s: pack_store(os.path.join(build_dir, s), os.path.join(out_dir, s), tolerance) for s in stores}
    with open(os.path.join(out_dir, "pack.json"), "w") as f:
        json.dump({"tolerance": tolerance, "components": summary}, f, indent=1)
    return summary


def unpack_build(pack_dir: str, build_dir: str) -> dict:
    """Unpacks every store of ``pack_dir`` into ``build_dir/<store>``; returns ``{store: records}``."""
    stores = _stores(pack_dir)
    if not stores:
        raise StoreError(f"{pack_dir}: no packed store in it")
    return {s: unpack_store(os.path.join(pack_dir, s), os.path.join(build_dir, s)) for s in stores}


def arguments(parser) -> None:
    """The ``zelos store pack|unpack`` command lines."""
    sub = parser.add_subparsers(dest="store_command", required=True)
    p = sub.add_parser("pack", help="pack a build's stores (BUILD/NAME.build) into a folder to commit")
    p.add_argument("build_dir", help="the build's NAME.build folder (holding test/ and train/)")
    p.add_argument("out_dir", help="the folder to write, e.g. stores/NAME")
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                   help="largest error of a stored value (relative for positive outputs; default %(default)g)")
    p.set_defaults(func=_pack_command)
    u = sub.add_parser("unpack", help="unpack a packed build's stores into a build folder, to resume it")
    u.add_argument("pack_dir", help="a folder `zelos store pack` wrote")
    u.add_argument("build_dir", help="the build's NAME.build folder to fill (zelos build --out DIR makes DIR/NAME.build)")
    u.set_defaults(func=_unpack_command)


def _pack_command(args) -> int:
    for store, kept in pack_build(args.build_dir, args.out_dir, args.tolerance).items():
        size = os.path.getsize(os.path.join(args.out_dir, store, PACK))
        print(f"{store}: {size / 1e6:.1f} MB; components " + ", ".join(f"{k} {v}" for k, v in kept.items()))
    return 0


def _unpack_command(args) -> int:
    for store, n in unpack_build(args.pack_dir, args.build_dir).items():
        print(f"{store}: {n} points into {os.path.join(args.build_dir, store)}")
    return 0
