"""Training and held-out test points from the spec's `sampling` section.

Test points come from the same design with another seed, so they are never training points
but are distributed as the region the emulator claims to cover.
"""

from __future__ import annotations

import os

import numpy as np

from . import sampling
from .plan import Plan

#: Added to the spec's seed for the held-out test draw.
TEST_SEED_OFFSET = 1_000_003


def draw(plan: Plan, spec_dir: str) -> tuple[np.ndarray, np.ndarray]:
    """`(train_points, test_points)`, each `[n, n_params]` in spec parameter order."""
    s = plan.spec["sampling"]
    n, n_test, seed = s["points"], s.get("test_points") or max(1, -(-s["points"] // 10)), s.get("seed", 2)
    design = s["design"]
    lo, hi = plan.lower, plan.upper
    if design == "latin_hypercube":
        return (sampling.latin_hypercube(lo, hi, n, seed),
                sampling.latin_hypercube(lo, hi, n_test, seed + TEST_SEED_OFFSET))
    if design == "ellipsoid":
        ref = plan.spec["reference"]
        center = np.array([ref["center"][p] for p in plan.parameters])
        cov = np.array(ref["covariance"]["matrix"])
        sigmas = s.get("sigmas", 5.0)
        return (sampling.ellipsoid(center, cov, sigmas, n, seed, lower=lo, upper=hi),
                sampling.ellipsoid(center, cov, sigmas, n_test, seed + TEST_SEED_OFFSET, lower=lo, upper=hi))
    if design == "file":
        path = s["file"] if os.path.isabs(s["file"]) else os.path.join(spec_dir, s["file"])
        points = sampling.from_file(path, plan.parameters, n=n + n_test, seed=seed)
        inside = np.all((points >= lo) & (points <= hi), axis=1)
        points = points[inside]
        return points[:n], points[n:]
    raise ValueError(f"sampling.design: unknown design {design!r}")
