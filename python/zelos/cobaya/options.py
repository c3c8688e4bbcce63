"""The Cobaya block's options, checked for type and range when the theory is initialised.

One table, :data:`CHECKS`: option -> (check, what is expected). Every option of ``Zelos.yaml``
has an entry (a test holds the two together). A value that fails its check stops the run at
start-up with a ``LoggedError`` naming the option, the value and what was expected
(``\\`speed\\` = 'fast': expected a number of evaluations per second > 0 (or -1: unknown)``),
instead of failing later inside Cobaya or quietly misbehaving (``report_every: -1`` would print
a progress line at every call).
"""

from __future__ import annotations

import math
import numbers
import os

from cobaya.log import LoggedError


def _real(value) -> float | None:
    """A YAML number as a float (not a bool, a string or a list), else None."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)


def _name(value) -> bool:
    return isinstance(value, (str, os.PathLike)) and bool(os.fspath(value).strip())


def _emulators(value) -> bool:
    if value is None or _name(value):
        return True
    return isinstance(value, (list, tuple)) and all(_name(v) for v in value)


def _folder(value) -> bool:
    return value in (None, "", False) or _name(value)


def _fraction(value) -> bool:
    v = _real(value)
    return v is not None and 0.0 <= v <= 1.0


def _seed(value) -> bool:
    return value is None or (isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0)


def _bool(value) -> bool:
    return isinstance(value, bool)


def _mapping_or_none(value) -> bool:
    return value is None or (isinstance(value, dict) and all(isinstance(k, str) for k in value))


def _seconds(value) -> bool:
    if value is None:
        return True
    v = _real(value)
    return v is not None and math.isfinite(v) and v >= 0


def _speed(value) -> bool:
    v = _real(value)
    return v is not None and ((math.isfinite(v) and v > 0) or v == -1)


def _renames(value) -> bool:
    if value is None:
        return True
    if not isinstance(value, dict):
        return False
    for k, v in value.items():
        targets = v if isinstance(v, (list, tuple)) else [v]
        if not isinstance(k, str) or not all(isinstance(t, str) and t for t in targets):
            return False
    return True


def _retrain(value) -> bool:
    if value in (None, False):
        return True
    from ..learning.online import RetrainOptions

    try:
        RetrainOptions.parse(value)
    except (TypeError, ValueError):
        return False
    return True


#: option -> (check, what is expected). Defaults and documentation: Zelos.yaml.
CHECKS = {
    "emulators": (_emulators, "a list of archive paths or emulator names (strings)"),
    "log": (_folder, "a folder path (string), or null for no point log"),
    "spot_check": (_fraction, "a fraction in [0, 1]"),
    "spot_check_seed": (_seed, "a whole number >= 0, or null"),
    "fallback": (_bool, "true or false"),
    "extra_args": (_mapping_or_none, "a mapping of code settings ({name: value}), or null"),
    "allow_version_mismatch": (_bool, "true or false"),
    "report_every": (_seconds, "a number of seconds > 0, or null (or 0) for no progress lines"),
    "speed": (_speed, "a number of evaluations per second > 0 (or -1: unknown to Cobaya)"),
    "stop_at_error": (_bool, "true or false"),
    "check_at_start": (_bool, "true or false"),
    "retrain": (_retrain, "null, or a mapping like {every: 50} (keys every, extra, tolerance, max_rounds, "
                          "processes, nice; docs/active-learning.md)"),
    "renames": (_renames, "a mapping of parameter names to names (strings)"),
}


def check(component, values: dict) -> None:
    """Refuses (``LoggedError``) the first option of ``values`` that fails its check."""
    for key, (ok, expected) in CHECKS.items():
        if key not in values:
            continue
        value = values[key]
        if not ok(value):
            if key == "retrain" and isinstance(value, dict):
                from ..learning.online import RetrainOptions

                try:
                    RetrainOptions.parse(value)
                except (TypeError, ValueError) as e:
                    raise LoggedError(component.log, "%s", e) from None
            raise LoggedError(component.log, "`%s` = %r: expected %s", key, value, expected)
