"""Emulators shipped inside the package, found by name with no download."""

from __future__ import annotations

from pathlib import Path

SHIPPED_DIR = Path(__file__).parent / "emulators"


def shipped_archive(name: str) -> Path | None:
    """The path of the shipped archive called ``name`` (``NAME`` or ``NAME.tar.gz``), if any."""
    stem = name[:-7] if name.endswith(".tar.gz") else name
    candidate = SHIPPED_DIR / f"{stem}.tar.gz"
    return candidate if candidate.is_file() else None


def shipped_names() -> list:
    """Names of every shipped emulator."""
    if not SHIPPED_DIR.is_dir():
        return []
    return sorted(p.name[:-7] for p in SHIPPED_DIR.glob("*.tar.gz"))
