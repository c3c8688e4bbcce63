"""The plugin's options: ``zelos_*`` keys of ``data.cosmo_arguments`` (docs/montepython.md).

A .param file sets them beside CLASS's own inputs::

    data.cosmo_arguments['zelos_emulators'] = ['CAMB_LCDM_background']
    data.cosmo_arguments['zelos_log'] = 'chains/zelos_points'

:func:`split` reads them from the arguments given to ``Class.set`` and returns a *copy* of the
arguments without them, which is what reaches CLASS (or the CAMB translation). The dict
MontePython passes is never modified: it is the same object at every step.
"""

from __future__ import annotations

import difflib
import math
import numbers
from dataclasses import dataclass

from .errors import CosmoSevereError

PREFIX = "zelos_"
OUT_OF_RANGE = ("compute", "error", "reject")
MISSING_CL = ("omit", "compute")


@dataclass(frozen=True)
class Options:
    """Parsed ``zelos_*`` options; defaults are those of a .param file that sets none."""

    #: None when the run does not set ``zelos_emulators``: every shipped emulator then, in the
    #: router's rank order, unless none of them can answer the run, which is then a plain classy
    #: (``Class._new_plan``); ``()`` for ``'none'`` or an empty list: a plain classy
    emulators: tuple | None = None
    log: str | None = None
    spot_check: float = 0.0
    spot_check_seed: int | None = None
    out_of_range: str = "compute"
    allow_version_mismatch: bool = False
    report_every: float | None = 60.0
    ignore: tuple = ()
    missing_cl: str = "omit"
    #: `all` was among ``emulators``: they load in the router's rank order, as Cobaya's `all`
    #: (the first emulator chooses a code setting they disagree on)
    ranked: bool = False


def _list_of_str(key, value):
    if isinstance(value, str):
        items = [v for v in value.replace(",", " ").split() if v]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise _bad(key, value, "a list of strings (or one string)")
    for v in items:
        if not isinstance(v, str) or not v:
            raise _bad(key, value, "a list of non-empty strings")
    return tuple(items)


#: ``zelos_emulators: all`` (alone or among other entries): every emulator shipped with zelos, as
#: Cobaya's ``emulators: all``; each point then goes to the emulators whose trust regions and
#: fixed inputs cover it.
ALL_SHIPPED = "all"
#: ``zelos_emulators: none`` (or an empty list): no emulator, every point computed by classy.
NONE = "none"


def _is_all(item: str) -> bool:
    """Whether one entry of ``zelos_emulators`` is ``all`` (any case)."""
    return item.strip().lower() == ALL_SHIPPED


def _emulators(key, value):
    """``_list_of_str``, with ``all`` (any case) expanded in place to every shipped emulator's name
    (``zelos.shipped.shipped_names``); a name given twice is loaded once."""
    items = _list_of_str(key, value)
    if [v.lower() for v in items] == [NONE]:
        return ()
    if not any(_is_all(v) for v in items):
        return items
    from ..shipped import shipped_names

    shipped = shipped_names()
    if not shipped:
        raise CosmoSevereError(f"zelos option `{key}` = {value!r}: `all`, but no emulator ships with this "
                               "installation of zelos; give archive paths or emulator names")
    out = []
    for v in items:
        for name in (shipped if _is_all(v) else [v]):
            if name not in out:
                out.append(name)
    return tuple(out)


def _path_or_none(key, value):
    if value in (None, "", False):
        return None
    if not isinstance(value, str):
        raise _bad(key, value, "a folder path (string) or None")
    return value


def _real(value):
    """A number (not a bool, a string or a list) as a float, else None."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)


def _fraction(key, value):
    f = _real(value)
    if f is None or not 0.0 <= f <= 1.0:
        raise _bad(key, value, "a fraction in [0, 1]")
    return f


def _int_or_none(key, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise _bad(key, value, "a whole number >= 0, or None")
    return int(value)


def _choice(choices):
    def parse(key, value):
        if value not in choices:
            raise _bad(key, value, "one of " + ", ".join(repr(c) for c in choices))
        return value
    return parse


def _bool(key, value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("yes", "true", "no", "false"):
        return value.strip().lower() in ("yes", "true")
    raise _bad(key, value, "True or False ('yes'/'no' also accepted)")


def _seconds_or_none(key, value):
    if value is None or value is False:
        return None
    s = _real(value)
    if s is None or not math.isfinite(s) or s < 0:
        raise _bad(key, value, "a number of seconds > 0, or None (or 0) for no progress lines")
    return s or None


#: option key -> (attribute of Options, parser): every option is checked for type and range here,
#: and a bad value stops the run (CosmoSevereError) naming the key, the value and what is expected.
KEYS = {
    "zelos_emulators": ("emulators", _emulators),
    "zelos_log": ("log", _path_or_none),
    "zelos_spot_check": ("spot_check", _fraction),
    "zelos_spot_check_seed": ("spot_check_seed", _int_or_none),
    "zelos_out_of_range": ("out_of_range", _choice(OUT_OF_RANGE)),
    "zelos_allow_version_mismatch": ("allow_version_mismatch", _bool),
    "zelos_report_every": ("report_every", _seconds_or_none),
    "zelos_ignore": ("ignore", _list_of_str),
    "zelos_missing_cl": ("missing_cl", _choice(MISSING_CL)),
}


def _bad(key, value, expected):
    return CosmoSevereError(f"zelos option `{key}` = {value!r}: expected {expected}")


def split(arguments) -> tuple:
    """``(Options, clean)``: the options found among ``arguments`` and a new dict of the other
    arguments. ``arguments`` itself is only read. An unknown ``zelos_*`` key is refused."""
    clean, found = {}, {}
    for key, value in arguments.items():
        if isinstance(key, str) and key.startswith(PREFIX):
            if key not in KEYS:
                close = difflib.get_close_matches(key, KEYS, n=1)
                raise CosmoSevereError(
                    f"unknown zelos option `{key}`" + (f" (did you mean `{close[0]}`?)" if close else "")
                    + "; the options are " + ", ".join(f"`{k}`" for k in KEYS))
            attr, parse = KEYS[key]
            found[attr] = parse(key, value)
            if attr == "emulators":
                found["ranked"] = any(_is_all(v) for v in _list_of_str(key, value))
        else:
            clean[key] = value
    return Options(**found), clean
