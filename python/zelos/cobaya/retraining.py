"""The Cobaya theory's ``retrain`` option: online retraining (:mod:`zelos.learning.online`) set up
for a Cobaya run, its errors raised as Cobaya ``LoggedError``s."""

from __future__ import annotations

import os

from cobaya.log import LoggedError

from ..learning.online import OnlineRetrainer, RetrainOptions, why_untrainable

__all__ = ["online_retrainer"]


def online_retrainer(option, router, emulators: dict, point_log, logger) -> OnlineRetrainer | None:
    """The Cobaya theory's hook: the retrainer for its ``retrain`` option, or None when off.
    Errors in the option are Cobaya ``LoggedError``s."""
    try:
        options = RetrainOptions.parse(option)
    except (TypeError, ValueError) as e:
        raise LoggedError(logger, "%s", e) from e
    if options is None:
        return None
    if point_log is None:
        raise LoggedError(logger, "`retrain` learns from the point log: set `log` to a folder")
    keys = [e["key"] for e in router.entries()]
    usable = {}
    for key in keys:
        why = why_untrainable(emulators[key])
        if why:
            logger.warning("online retraining: %s cannot be retrained: %s", key, why)
        else:
            usable[key] = emulators[key]
    if keys and not usable:
        raise LoggedError(logger, "`retrain`: no emulator in use can be retrained (see the warnings above)")
    log_dir = os.path.dirname(os.path.abspath(point_log.path))
    logger.info("online retraining: every %d fallback points outside an emulator's trust region, in the "
                "background; retrained archives in %s", options.every, os.path.join(log_dir, "retrained"))
    return OnlineRetrainer(router, usable, log_dir, options, point_log=point_log, logger=logger)
