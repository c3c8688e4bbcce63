"""Emulators shipped inside the package, found by name with no download.

Names are matched without regard to case (``camb_lcdm_cmb`` finds ``CAMB_LCDM_CMB``): two
shipped emulators never differ by case alone, and a user typing a name from memory should not
get a miss for it. An unknown name gets the closest shipped names as suggestions.
"""

from __future__ import annotations

import difflib
from pathlib import Path

SHIPPED_DIR = Path(__file__).parent / "emulators"


def _stem(name: str) -> str:
    return name[:-7] if name.endswith(".tar.gz") else name


def shipped_names() -> list:
    """Names of every shipped emulator."""
    if not SHIPPED_DIR.is_dir():
        return []
    return sorted(p.name[:-7] for p in SHIPPED_DIR.glob("*.tar.gz"))


def canonical_name(name: str) -> str | None:
    """The shipped emulator's own spelling of ``name`` (matched ignoring case), if one ships."""
    stem = _stem(name).casefold()
    for shipped in shipped_names():
        if shipped.casefold() == stem:
            return shipped
    return None


def shipped_archive(name: str) -> Path | None:
    """The path of the shipped archive called ``name`` (``NAME`` or ``NAME.tar.gz``, any case), if any."""
    canonical = canonical_name(name)
    return SHIPPED_DIR / f"{canonical}.tar.gz" if canonical else None


def suggestions(name: str, limit: int = 3) -> list:
    """Shipped names close to ``name`` (for 'did you mean' in error messages)."""
    names = shipped_names()
    folded = {n.casefold(): n for n in names}
    close = difflib.get_close_matches(_stem(name).casefold(), list(folded), n=limit, cutoff=0.5)
    return [folded[c] for c in close]


def unknown_name_message(name: str) -> str:
    """One sentence for a name that is neither a file nor a shipped emulator."""
    close = suggestions(name)
    hint = f"did you mean {', '.join(close)}?" if close else f"shipped: {', '.join(shipped_names()) or 'none'}"
    return f"{name}: no such archive file, and no emulator of that name ships with zelos ({hint}; `zelos list` shows them all)"
