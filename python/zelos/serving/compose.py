"""Emulators composed: in a run that gives the angle (``cosmomc_theta``, as Planck's chains
sample it) rather than H0, an emulator that takes ``H0`` (a P(k) or growth emulator) serves
with the H0 that an emulator taking the angle derives (a CMB emulator's ``H0``). Both plugins
route such a point in two stages: first every output they can, with H0; then, with that H0, the
outputs only the emulators taking H0 could answer (:func:`second_stage`)."""

from __future__ import annotations

#: The angles a run may give in place of H0 (CAMB's names).
THETA_INPUTS = frozenset({"cosmomc_theta", "thetastar"})


def wants_h0_from_angle(missing, blockers, run_inputs) -> bool:
    """Whether an emulator that lacks only ``missing`` and is blocked only by ``blockers`` (its
    ``fixed_values``) can serve the run once given a derived H0: it misses H0 alone, and what
    blocks it is the angle the run gives instead."""
    return list(missing) == ["H0"] and set(blockers) == THETA_INPUTS & set(run_inputs)


def compose_h0(usable: dict, wants_h0: dict, excluded: dict) -> tuple:
    """Adds the emulators of ``wants_h0`` (``{key: (emulator, fixed, blockers)}``) to ``usable``
    (``{key: (emulator, fixed)}``) when an emulator there derives H0; without one they go to
    ``excluded`` with the reason. Returns ``(h0 sources, {composed key: h0 sources})``."""
    sources = sorted(k for k, (e, _) in usable.items() if "H0" in e.outputs)
    composed = {}
    for key, (emu, fixed, blockers) in wants_h0.items():
        if not sources:
            excluded[key] = "; ".join([*blockers.values(), "it takes `H0`, which is not an input of this run, "
                                       "and no loaded emulator derives H0 from it"])
            continue
        usable[key] = (emu, fixed)
        composed[key] = sources
    return sources, composed


def second_stage(router, point, values, keys, fallbacks, after_h0, covering=None) -> tuple:
    """The second routing stage: when every output the first left unanswered is one only the
    composed emulators serve (``after_h0``) and the first derived H0, routes those again with
    that H0. Returns ``(point, values, keys, fallbacks)``: the point with that H0, and the
    answers merged; all unchanged otherwise."""
    if not fallbacks or "H0" not in values or fallbacks.keys() - after_h0:
        return point, values, keys, fallbacks
    point = {**point, "H0": float(values["H0"])}
    more, more_keys, fallbacks = router.evaluate_with_keys(point, sorted(fallbacks), covering)
    return point, {**values, **more}, {**keys, **more_keys}, fallbacks


def describe(key, composed) -> str:
    """The start-up words for an emulator served with a derived H0 ('' for the others)."""
    return f" (H0 derived by {' or '.join(composed[key])} from this run's angle)" if key in composed else ""
