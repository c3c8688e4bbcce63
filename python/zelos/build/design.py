"""Training and held-out test points from the spec's `sampling` section.

Test points come from the same design with another seed, so they are never training points
but are distributed as the region the emulator claims to cover.
"""

from __future__ import annotations

import copy
import dataclasses
import os

import numpy as np

from . import sampling
from ..spec import constraint_filter
from .plan import Plan

#: Added to the spec's seed for the held-out test draw.
TEST_SEED_OFFSET = 1_000_003
#: Added to the spec's seed for the points of a `sampling.shell` given as `points`.
SHELL_SEED_OFFSET = 2_000_029
#: Added to the spec's seed for `sampling.background_points`.
BACKGROUND_SEED_OFFSET = 3_000_017


def _in_proportion(added: int, m: int, n: int) -> int:
    """``added`` points of a design of ``n`` scaled to one of ``m``, rounded up."""
    return -(-added * m // n)


def _counts(sampling_section: dict) -> tuple[int, int, int, int]:
    """``(points, test points, shell points added, shell test points added)``: ``test_points``
    defaults to a tenth of ``points``, rounded up; a ``shell`` of added ``points`` gets as many
    more held-out points in proportion, rounded up."""
    s = sampling_section
    n = s["points"]
    n_test = s.get("test_points") or max(1, -(-n // 10))
    added = (s.get("shell") or {}).get("points") or 0
    return n, n_test, added, _in_proportion(added, n_test, n)


def sizes(spec: dict) -> tuple[int, int]:
    """``(training points, held-out points)`` the spec's design draws, a shell's added ones in."""
    n, n_test, added, added_test = _counts(spec["sampling"])
    return n + added, n_test + added_test


def draw(plan: Plan, spec_dir: str) -> tuple[np.ndarray, np.ndarray]:
    """`(train_points, test_points)`, each `[n, n_params]` in spec parameter order, inside the
    box and the spec's `constraints`. A `sampling.shell` with `points` adds them after the
    design's own (train and test alike: the test gets as many more in proportion), so the points
    before are exactly those of the design without a shell."""
    s = plan.spec["sampling"]
    (n, n_test, n_shell, n_shell_test), seed = _counts(s), s.get("seed", 2)
    design = s["design"]
    lo, hi = plan.lower, plan.upper
    accept = constraint_filter(plan.parameters, plan.spec.get("constraints") or [])
    if design == "sobol":
        return (sampling.sobol(lo, hi, n, seed, accept),
                sampling.sobol(lo, hi, n_test, seed + TEST_SEED_OFFSET, accept))
    if design == "latin_hypercube":
        lhs = lambda m, sd: sampling.latin_hypercube(lo, hi, m, sd)  # noqa: E731
        return _enough(lhs, n, seed, accept), _enough(lhs, n_test, seed + TEST_SEED_OFFSET, accept)
    if design == "ellipsoid":
        ref = plan.spec["reference"]
        center = np.array([ref["center"][p] for p in plan.parameters])
        cov = np.array(ref["covariance"]["matrix"])
        sigmas, shell = s.get("sigmas", 5.0), s.get("shell") or {}
        fraction = (shell["sigmas"], shell["fraction"]) if shell.get("fraction") else None
        ell = lambda m, sd: sampling.ellipsoid(center, cov, sigmas, m, sd, lower=lo, upper=hi,  # noqa: E731
                                               shell=fraction)
        train, test = _enough(ell, n, seed, accept), _enough(ell, n_test, seed + TEST_SEED_OFFSET, accept)
        if n_shell:  # added after the design's own points, from streams of their own
            outer = lambda m, sd: sampling.ellipsoid(center, cov, shell["sigmas"], m, sd,  # noqa: E731
                                                     lower=lo, upper=hi)
            train = np.vstack([train, _enough(outer, n_shell, seed + SHELL_SEED_OFFSET, accept)])
            test = np.vstack([test, _enough(outer, n_shell_test, seed + TEST_SEED_OFFSET + SHELL_SEED_OFFSET, accept)])
        return train, test
    if design == "file":
        path = s["file"] if os.path.isabs(s["file"]) else os.path.join(spec_dir, s["file"])
        points = sampling.from_file(path, plan.parameters, n=n + n_test, seed=seed)
        inside = np.all((points >= lo) & (points <= hi), axis=1)
        if accept is not None:
            inside &= accept(points)
        points = points[inside]
        return points[:n], points[n:]
    raise ValueError(f"sampling.design: unknown design {design!r}")


def background_points(plan: Plan, spec_dir: str) -> np.ndarray | None:
    """The spec's ``sampling.background_points`` (None without them): more points of the same
    design, from a seed of their own, so never the design's or the held-out ones. A shell of
    added points gets as many more among them in proportion, so they are spread as the
    training points are."""
    s = plan.spec["sampling"]
    n_extra = s.get("background_points")
    if not n_extra:
        return None
    n, _, added, _ = _counts(s)
    section = {**s, "points": n_extra, "test_points": 1, "seed": s.get("seed", 2) + BACKGROUND_SEED_OFFSET}
    if added:
        section["shell"] = {**s["shell"], "points": _in_proportion(added, n_extra, n)}
    spec = copy.copy(plan.spec)
    spec["sampling"] = section
    train, _ = draw(dataclasses.replace(plan, spec=spec), spec_dir)
    return train


def shell_split(spec: dict, points) -> tuple[np.ndarray, float] | None:
    """``(in_core, core_sigmas)`` for an ellipsoid design with a ``sampling.shell``: which
    ``points`` (rows in the spec's parameter order) lie within the core's ``sigmas`` of the
    reference covariance, where most of the design is; the rest lie in the sparse outer shell,
    drawn for a chain's far proposals, where errors are larger. None for other designs."""
    s = spec["sampling"]
    if s.get("design") != "ellipsoid" or not s.get("shell"):
        return None
    names = list(spec["parameters"])
    center = np.array([spec["reference"]["center"][p] for p in names])
    cov = np.asarray(spec["reference"]["covariance"]["matrix"], dtype=np.float64)
    d = np.atleast_2d(np.asarray(points, dtype=np.float64)) - center
    radius = np.sqrt(np.einsum("ij,ij->i", d, np.linalg.solve(cov, d.T).T))
    sigmas = float(s.get("sigmas", 5.0))
    return radius <= sigmas * (1 + 1e-9), sigmas


def _enough(draw_m, n: int, seed: int, accept) -> np.ndarray:
    """`n` points of a design that knows no constraints: drawn larger by the fraction it keeps
    (the Latin hypercube's strata then hold the kept points nearly evenly)."""
    if accept is None:
        return draw_m(n, seed)
    m = n
    for _ in range(20):
        points = draw_m(m, seed)
        kept = points[accept(points)]
        if len(kept) >= n:
            return kept[:n]
        m = int(np.ceil(m * 1.1 * n / max(len(kept), 1)))
    raise ValueError(f"sampling: only {len(kept)} of {m} design points satisfy the spec's constraints")

