"""How far an emulated value is from the code's: the relative difference, and the scale TE is
measured against (TE changes sign: sqrt(TT EE), the scale of its cosmic variance).

Used by both plugins' spot checks and start-up checks and by the build's accuracy
(``build/accuracy.py``), so that "relative error" means one thing everywhere."""

from __future__ import annotations

import numpy as np


def te_scale(tt, ee) -> np.ndarray:
    """sqrt(|TT EE|): the scale of TE's relative error."""
    return np.sqrt(np.abs(np.asarray(tt) * np.asarray(ee)))


def relative_scale(name: str, truth: dict) -> np.ndarray:
    """What output ``name``'s error is relative to: |truth|, or for ``dl_te`` (or ``te``)
    :func:`te_scale` of the truth's TT and EE when it has them."""
    tt, ee = ("dl_tt", "dl_ee") if name == "dl_te" else ("tt", "ee")
    if name in ("dl_te", "te") and tt in truth and ee in truth:
        return te_scale(truth[tt], truth[ee])
    return np.abs(truth[name])


def relative_error(mine, truth, scale=None) -> float:
    """max |mine - truth| / scale (default |truth|); entries whose scale is 0 count as 0; inf
    when the shapes differ."""
    a, b = np.asarray(mine, float), np.asarray(truth, float)
    if a.shape != b.shape:
        return float("inf")
    s = np.abs(b) if scale is None else scale
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.abs(a - b) / np.where(s > 0, s, np.inf)
    return float(np.max(r)) if r.size else 0.0


def output_difference(name: str, mine, truth, others: dict | None = None) -> float:
    """:func:`relative_error` of emulator output ``name`` (for ``dl_te``, relative to
    :func:`te_scale` of ``others``' ``dl_tt`` and ``dl_ee``). A spectrum read only in part (to
    the run's l_max) is compared on its first multipoles."""
    a, b = np.asarray(mine, float), np.asarray(truth, float)
    if a.ndim == 1 and b.ndim == 1 and name.startswith("dl_") and len(b) <= len(a):
        a = a[:len(b)]
    if a.shape != b.shape:
        return float("inf")
    scale = None
    if name.endswith("dl_te") and others and "dl_tt" in others and "dl_ee" in others:
        scale = te_scale(np.asarray(others["dl_tt"])[:len(b)], np.asarray(others["dl_ee"])[:len(b)])
    return relative_error(a, b, scale)
