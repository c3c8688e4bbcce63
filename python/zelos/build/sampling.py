"""Where the code is run: seeded, reproducible designs of training points (docs/drivers.md).

Every design returns an ``(n, d)`` float64 array and gives the same points for the same seed.
"""

from __future__ import annotations

import os
import re

import numpy as np

__all__ = ["ellipsoid", "from_file", "latin_hypercube", "sobol"]


def latin_hypercube(lower, upper, n: int, seed: int | None) -> np.ndarray:
    """A Latin hypercube in the box ``[lower, upper]``: each of the ``n`` equal strata of every
    dimension holds exactly one point, placed uniformly at random inside its stratum."""
    lower, upper = _box(lower, upper)
    if not (np.isfinite(lower).all() and np.isfinite(upper).all()):
        raise ValueError("latin_hypercube: bounds must be finite")
    n = _count(n)
    rng = np.random.default_rng(seed)
    d = lower.size
    strata = np.stack([rng.permutation(n) for _ in range(d)], axis=1)
    u = (strata + rng.random((n, d))) / n
    return lower + u * (upper - lower)


#: Draws per block of the ellipsoid design (fixed, so that designs are prefix-stable).
ELLIPSOID_BLOCK = 256


def ellipsoid(center, covariance, sigmas: float, n: int, seed: int | None,
              lower=None, upper=None, max_draws: int | None = None, shell=None) -> np.ndarray:
    """Points uniform in volume inside ``{x: (x-c)^T C^-1 (x-c) <= sigmas^2}``.

    With ``lower``/``upper``, points outside the box are rejected and drawing continues until
    there are ``n`` (at most ``max_draws`` draws, default 1000 n, then a clear error).

    ``shell=(outer_sigmas, fraction)``: each draw lies uniformly inside the ellipsoid of
    ``outer_sigmas`` with probability ``fraction``, else inside that of ``sigmas`` (the spec's
    ``sampling.shell``). Without it the draws are exactly those of a design with no shell.

    The design is prefix-stable: the first ``m`` points for ``n`` are the points for ``n = m``
    (draws come in fixed blocks whatever ``n`` is), so a generation stopped early still holds
    an exact, reproducible design of its own size.
    """
    c = np.asarray(center, dtype=np.float64).reshape(-1)
    cov = np.asarray(covariance, dtype=np.float64)
    d = c.size
    if cov.shape != (d, d):
        raise ValueError(f"ellipsoid: covariance has shape {cov.shape}, expected ({d}, {d})")
    if not (np.isfinite(sigmas) and sigmas > 0):
        raise ValueError(f"ellipsoid: sigmas must be > 0, got {sigmas}")
    if shell is not None and not (np.isfinite(shell[0]) and shell[0] > sigmas and 0 < shell[1] < 1):
        raise ValueError(f"ellipsoid: shell (outer sigmas, fraction) must have outer sigmas > {sigmas} and "
                         f"0 < fraction < 1, got {tuple(shell)}")
    try:
        chol = np.linalg.cholesky((cov + cov.T) / 2)
    except np.linalg.LinAlgError:
        raise ValueError("ellipsoid: covariance is not positive definite") from None
    n = _count(n)
    box = None if lower is None and upper is None else _box(
        np.full(d, -np.inf) if lower is None else lower, np.full(d, np.inf) if upper is None else upper)
    if box is not None and box[0].size != d:
        raise ValueError(f"ellipsoid: bounds have {box[0].size} entries, center has {d}")
    rng = np.random.default_rng(seed)
    max_draws = 1000 * n if max_draws is None else max_draws
    kept, drawn, have = [], 0, 0
    while have < n:
        m = ELLIPSOID_BLOCK
        # Uniform in the unit ball: a uniform direction, radius ~ U^(1/d); the linear map keeps
        # uniformity in volume.
        g = rng.standard_normal((m, d))
        g /= np.linalg.norm(g, axis=1, keepdims=True)
        r = sigmas * rng.random(m) ** (1.0 / d)
        if shell is not None:  # drawn after the others: no shell leaves the stream as it was
            r = np.where(rng.random(m) < shell[1], r * (shell[0] / sigmas), r)
        x = c + (g * r[:, None]) @ chol.T
        drawn += m
        if box is not None:
            x = x[np.all((x >= box[0]) & (x <= box[1]), axis=1)]
        kept.append(x)
        have += len(x)
        if have < n and drawn >= max_draws:
            raise ValueError(f"ellipsoid: only {have} of {drawn} draws fell inside the bounds; the box "
                             f"excludes almost all of the {sigmas}-sigma ellipsoid")
    return np.concatenate(kept)[:n]


#: Draws per block of the Sobol design (a power of two keeps the sequence balanced).
SOBOL_BLOCK = 256


def sobol(lower, upper, n: int, seed: int | None, accept=None, max_draws: int | None = None) -> np.ndarray:
    """A scrambled Sobol sequence in the box ``[lower, upper]``: space-filling like a Latin
    hypercube, and prefix-stable like the ellipsoid design (the first ``m`` points for ``n``
    are the points for ``n = m``), so a generation of hours can stop early and keep an exact
    design of its own size.

    ``accept``: a function of an ``(m, d)`` array returning which rows are kept (the region's
    linear constraints); rejected points are skipped and drawing goes on until there are ``n``
    (at most ``max_draws`` draws, default 1000 n, then a clear error).
    """
    from scipy.stats import qmc

    lower, upper = _box(lower, upper)
    if not (np.isfinite(lower).all() and np.isfinite(upper).all()):
        raise ValueError("sobol: bounds must be finite")
    n = _count(n)
    engine = qmc.Sobol(d=lower.size, scramble=True, seed=np.random.default_rng(seed))
    max_draws = 1000 * n if max_draws is None else max_draws
    kept, drawn, have = [], 0, 0
    while have < n:
        x = lower + engine.random(SOBOL_BLOCK) * (upper - lower)
        drawn += SOBOL_BLOCK
        if accept is not None:
            x = x[np.asarray(accept(x), dtype=bool)]
        kept.append(x)
        have += len(x)
        if have < n and drawn >= max_draws:
            raise ValueError(f"sobol: only {have} of {drawn} draws satisfy the region's constraints")
    return np.concatenate(kept)[:n]


def from_file(path, names, n: int | None = None, seed: int | None = None) -> np.ndarray:
    """The columns ``names`` of a chain text file, optionally a seeded random subset of ``n`` rows.

    Column names come from, in order: a first line ``# name1 name2 ...`` (Cobaya writes
    ``#  weight  minuslogpost  ombh2 ...``); a getdist ``.paramnames`` file beside a header-less
    chain (columns weight, -log(like), then the parameters); for a header-less file with exactly
    ``len(names)`` columns, the columns in the order of ``names``. With ``n``, rows are drawn
    without replacement, weighted by the ``weight`` column if there is one.
    """
    path = os.fspath(path)
    names = list(names)
    with open(path, encoding="utf-8") as f:
        first = f.readline()
    data = np.loadtxt(path, comments="#", ndmin=2, dtype=np.float64)
    columns = _column_names(path, first, data.shape[1], names)
    missing = [name for name in names if name not in columns]
    if missing:
        raise ValueError(f"{path}: no column {missing[0]!r} (columns: {' '.join(columns)})")
    if len(columns) != data.shape[1]:
        raise ValueError(f"{path}: the header names {len(columns)} columns but rows have {data.shape[1]}")
    points = data[:, [columns.index(name) for name in names]]
    if n is None:
        return points
    n = _count(n)
    if "weight" in columns:
        w = data[:, columns.index("weight")]
        if np.any(w < 0) or not np.isfinite(w).all():
            raise ValueError(f"{path}: negative or non-finite weights")
        if np.count_nonzero(w) < n:
            raise ValueError(f"{path}: {np.count_nonzero(w)} rows of non-zero weight, {n} requested")
        p = w / w.sum()
    else:
        if len(points) < n:
            raise ValueError(f"{path}: {len(points)} rows, {n} requested")
        p = None
    rows = np.random.default_rng(seed).choice(len(points), size=n, replace=False, p=p)
    return points[np.sort(rows)]


def _column_names(path: str, first: str, ncol: int, names: list) -> list:
    if first.startswith("#"):
        return first[1:].split()
    root = re.sub(r"(_\d+)?\.txt$", "", path)
    for candidate in (root + ".paramnames", os.path.splitext(path)[0] + ".paramnames"):
        if os.path.exists(candidate):
            with open(candidate, encoding="utf-8") as f:
                params = [line.split()[0].rstrip("*") for line in f if line.strip()]
            return ["weight", "minuslogpost"] + params
    if ncol == len(names):
        return list(names)
    raise ValueError(f"{path}: no header line '# name1 name2 ...' and no .paramnames file, and "
                     f"{ncol} columns where {len(names)} parameters were asked for")


def _box(lower, upper):
    lower = np.asarray(lower, dtype=np.float64).reshape(-1)
    upper = np.asarray(upper, dtype=np.float64).reshape(-1)
    if lower.shape != upper.shape or lower.size == 0:
        raise ValueError(f"bounds: lower has {lower.size} entries, upper {upper.size}")
    if np.any(np.isnan(lower)) or np.any(np.isnan(upper)) or np.any(lower >= upper):
        raise ValueError("bounds: need lower < upper in every dimension")
    return lower, upper


def _count(n) -> int:
    if int(n) != n or n < 1:
        raise ValueError(f"number of points must be a positive integer, got {n}")
    return int(n)
