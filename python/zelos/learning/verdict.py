"""Is a retrained emulator better than the one it would replace? The rule online retraining
swaps by (docs/active-learning.md, "When a retrained emulator is swapped in").

The held-out points of a retrain (its build's test store) are the parent's own test set ``T``
and the logged points held out from training ``L`` (where the chain went). Both emulators are
evaluated at every one of them, the old one also outside its box (what it would answer if it
served there). The error at a point is the largest relative error over every output, as in the
build report (``build.accuracy``: TE against sqrt(TT EE)). The new emulator is accepted when

1. it answers the same things: same parameters, outputs, shapes and grids (the Cobaya theory
   keeps the old one's grids for its splines);
2. it is no worse where the old one served: ``max_T err_new <= tolerance * max_T err_old``
   (the worst case, as build reports state accuracy);
3. it is better where the chain went: ``mean_L err_new < mean_L err_old`` (the mean: ``L`` is a
   handful of points, mostly just outside the old box, where the old one extrapolates mildly,
   and one point should not decide);
4. it covers more of where the chain went: its trust region holds more points of ``L`` than
   the old one's.

``tolerance`` is 2 in online retraining (the same order of accuracy where the old one served,
better on average where the chain went); 1 refuses any loss.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np

from ..build.accuracy import relative_error
from ..build.store import load_training_set

__all__ = ["Verdict", "judge", "judge_retrain", "point_errors"]


@dataclass
class Verdict:
    """The comparison and its outcome; ``reason`` says why in words."""

    accept: bool
    reason: str
    tolerance: float
    parent_test: int = 0  # points in T
    logged: int = 0  # points in L
    error_old_test: float = float("nan")  # max over T
    error_new_test: float = float("nan")
    error_old_logged: float = float("nan")  # mean over L
    error_new_logged: float = float("nan")
    max_error_old_logged: float = float("nan")  # max over L (reported, not judged)
    max_error_new_logged: float = float("nan")
    logged_in_old: int = 0  # points of L inside each trust region
    logged_in_new: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def point_errors(emulator, params: np.ndarray, truth: dict) -> np.ndarray:
    """``[n]``: at each point, the largest relative error over every output of ``truth``
    (entries where the truth is exactly 0, as D_A at z = 0, left out: ``build.accuracy``)."""
    got = emulator(np.atleast_2d(params))
    worst = np.zeros(len(params))
    for name in truth:
        rel = relative_error(name, got[name], truth)[1]
        worst = np.maximum(worst, rel.reshape(len(rel), -1).max(axis=1))
    return worst


def _same_interface(old, new) -> str | None:
    if tuple(old.parameters) != tuple(new.parameters):
        return f"its parameters {new.parameters} differ from {old.parameters}"
    if {k: (v.shape, v.axes) for k, v in old.outputs.items()} != {k: (v.shape, v.axes) for k, v in new.outputs.items()}:
        return "its outputs differ"
    for axis, grid in old.grids.items():
        if axis not in new.grids or not np.array_equal(np.asarray(grid), np.asarray(new.grids[axis])):
            return f"its `{axis}` grid differs"
    return None


def _max(a: np.ndarray) -> float:
    return float(a.max()) if a.size else float("nan")


def judge(old, new, params: np.ndarray, truth: dict, logged: np.ndarray, tolerance: float = 2.0) -> Verdict:
    """The verdict on replacing ``old`` by ``new`` (``zelos.Emulator``s, loaded with
    ``out_of_range="ignore"``), from held-out ``params [n, p]`` and their true ``truth``
    (``{output: [n, ...]}``); ``logged [n]`` marks the points of ``L`` (the rest are ``T``)."""
    from ..routing import TrustRegion

    logged = np.asarray(logged, bool)
    v = Verdict(False, "", float(tolerance), parent_test=int((~logged).sum()), logged=int(logged.sum()))
    why = _same_interface(old, new)
    if why:
        v.reason = f"the new emulator is not a drop-in replacement: {why}"
        return v
    if not v.logged or not v.parent_test:
        v.reason = "no held-out points to compare on (needs the parent's test set and held-out logged points)"
        return v
    e_old, e_new = point_errors(old, params, truth), point_errors(new, params, truth)
    v.error_old_test, v.error_new_test = _max(e_old[~logged]), _max(e_new[~logged])
    v.error_old_logged, v.error_new_logged = float(e_old[logged].mean()), float(e_new[logged].mean())
    v.max_error_old_logged, v.max_error_new_logged = _max(e_old[logged]), _max(e_new[logged])
    v.logged_in_old = int(TrustRegion.from_emulator(old).decide_batch(params[logged])[0].sum())
    v.logged_in_new = int(TrustRegion.from_emulator(new).decide_batch(params[logged])[0].sum())
    if not np.isfinite([v.error_new_test, v.error_new_logged]).all():
        v.reason = "the new emulator gives non-finite values"
    elif v.error_new_test > tolerance * v.error_old_test:
        v.reason = (f"worse on the parent's test set: max relative error {v.error_new_test:.2g} > "
                    f"{tolerance:g} x {v.error_old_test:.2g}")
    elif not v.error_new_logged < v.error_old_logged:
        v.reason = (f"not better on the held-out logged points: mean relative error {v.error_new_logged:.2g} "
                    f"(old {v.error_old_logged:.2g})")
    elif v.logged_in_new <= v.logged_in_old:
        v.reason = (f"covers no more of the held-out logged points ({v.logged_in_new} of {v.logged} in its "
                    f"trust region, old {v.logged_in_old})")
    else:
        v.accept = True
        v.reason = (f"held-out logged points: {v.logged_in_new}/{v.logged} in its trust region (old "
                    f"{v.logged_in_old}), mean relative error {v.error_new_logged:.2g} (old {v.error_old_logged:.2g}); "
                    f"parent's test set: max {v.error_new_test:.2g} (old {v.error_old_test:.2g})")
    return v


def judge_retrain(old_archive, new_archive, tolerance: float = 2.0, workdir=None) -> Verdict:
    """:func:`judge` on the held-out points of a ``zelos retrain`` (the new archive's test store,
    whose first ``lineage.parent_test`` points are the parent's test set). ``workdir``: the new
    archive's build folder, if not one ``zelos.learning.retrain.training_set_folder`` finds."""
    from ..emulator import load
    from .retrain import training_set_folder

    old, new = (load(os.fspath(a), out_of_range="ignore") for a in (old_archive, new_archive))
    lineage = new.report.get("lineage") or {}
    if lineage.get("parent_sha256") != old.sha256:
        raise ValueError(f"{new_archive} was not retrained from {old_archive} (its lineage names parent "
                         f"{lineage.get('parent_sha256')!r}, not {old.sha256})")
    held = load_training_set(os.path.join(training_set_folder(new_archive, new, workdir), "test"))
    return judge(old, new, held.params, held.outputs, held.indices >= int(lineage["parent_test"]), tolerance)
