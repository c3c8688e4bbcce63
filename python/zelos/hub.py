"""The hub: emulators by name, downloaded once, verified, and cached (docs/hub.md).

>>> import zelos
>>> emu = zelos.get_emulator("hub:CAMB_lcdm_linear_pk")          # newest version; cached after
>>> emu = zelos.get_emulator("hub:CAMB_lcdm_linear_pk@1.2.0")    # a pinned version

The hub is named by ``ZELOS_HUB`` (or a ``hub=`` argument): an ``https://`` URL of a static
folder holding ``index.json``, or such a folder on this machine. Downloads happen in Rust
(timeouts, retries, resume); the archive's sha256 is checked against the index before it is
opened, then the archive is fully verified and moved into the cache (``ZELOS_CACHE``, else the
platform's cache folder). ``ZELOS_OFFLINE=1`` never touches the network.

What is chosen and why is logged on the ``zelos.hub`` logger.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import _zelos
from ._zelos import HubError

logger = logging.getLogger("zelos.hub")

PREFIX = "hub:"

__all__ = [
    "HubError",
    "Resolved",
    "cached",
    "config",
    "fetch",
    "index",
    "is_reference",
    "listing",
    "parse_reference",
    "publish",
    "refresh",
]


@dataclass(frozen=True)
class Resolved:
    """A reference resolved to a verified archive in the cache."""

    name: str
    version: str
    path: Path
    sha256: str
    #: ``"cache"`` (no download) or ``"download"``.
    source: str
    #: The hub it came from (its index URL or path).
    hub: str
    notes: tuple = field(default=(), repr=False)


def is_reference(text) -> bool:
    """Whether ``text`` is a ``hub:NAME[@VERSION]`` reference."""
    return isinstance(text, str) and text.startswith(PREFIX)


def parse_reference(text: str) -> tuple:
    """``hub:NAME[@VERSION]`` -> ``(NAME, VERSION or None)``; :class:`HubError` if malformed."""
    return tuple(_zelos.hub_parse_reference(text))


def config(hub: str | None = None, cache: str | os.PathLike | None = None, offline: bool | None = None) -> dict:
    """The effective settings (arguments over the environment): ``hub``, ``cache``, ``offline``,
    ``index_ttl``, ``timeout``, ``retries``, ``deadline`` (seconds; ``"auto"``: scaled to each
    download's size; ``None``: none), ``min_rate`` (bytes per second) and ``rate_window``
    (seconds)."""
    return dict(_zelos.hub_config(hub, _path(cache), offline))


def fetch(
    reference: str,
    hub: str | None = None,
    *,
    cache: str | os.PathLike | None = None,
    offline: bool | None = None,
    progress: bool | None = None,
) -> Resolved:
    """Resolves ``hub:NAME[@VERSION]`` to a verified archive in the cache, downloading it when
    needed, and logs the version chosen.

    ``hub``, ``cache`` and ``offline`` override ``ZELOS_HUB``, ``ZELOS_CACHE`` and
    ``ZELOS_OFFLINE``. ``progress``: show a progress bar while downloading (tqdm, when
    installed); by default when stderr is a terminal.
    """
    if not is_reference(reference):
        reference = PREFIX + reference
    bar = _ProgressBar(reference, enabled=sys.stderr.isatty() if progress is None else progress)
    try:
        raw = _zelos.hub_resolve(reference, hub, _path(cache), offline, bar if bar.enabled else None)
    finally:
        bar.close()
    for warning, text in raw["notes"]:
        logger.log(logging.WARNING if warning else logging.INFO, text)
    return Resolved(
        name=raw["name"],
        version=raw["version"],
        path=Path(raw["path"]),
        sha256=raw["sha256"],
        source=raw["source"],
        hub=raw["hub"],
        notes=tuple(text for _, text in raw["notes"]),
    )


def index(hub: str | None = None, *, cache=None, offline: bool | None = None, refresh: bool = True) -> dict:
    """A hub's ``index.json`` as a dict, with ``"location"`` (the index's URL or path) and
    ``"from_cache"`` added. Fetched afresh unless ``refresh=False``; offline, the cached copy."""
    location, text, from_cache = _zelos.hub_index(hub, _path(cache), offline, refresh)
    data = json.loads(text)
    data["location"] = location
    data["from_cache"] = from_cache
    return data


def refresh(hub: str | None = None, *, cache=None) -> dict:
    """Fetches a hub's index afresh and keeps it in the cache (what ``ZELOS_HUB_TTL=0`` does for
    one call): :func:`index` with ``refresh=True``."""
    return index(hub, cache=cache, refresh=True)


def listing(hub: str | None = None, *, data: dict | None = None, **kwargs) -> list:
    """What a hub offers, one dict per published version (oldest first within a name):
    ``name, version, newest, code, code_version, parameters, ranges, trust_region, extent,
    max_relative_error, size, created, sha256, url``. ``ranges`` is the box the emulator's
    ``box`` method checks; ``trust_region`` (``None`` for entries published by older zelos) is
    where it answers: its ``methods``, and ``extent``, ``{name: (min, max)}``, the range of each
    parameter no accepted point leaves. ``data``: an :func:`index` already fetched; else fetched
    with ``kwargs``."""
    if data is None:
        data = index(hub, **kwargs)
    rows = []
    for name, emulator in data["emulators"].items():
        versions = emulator["versions"]
        ordered = _zelos.hub_sort_versions(list(versions))
        newest = _zelos.hub_newest_version(ordered)
        for version in ordered:
            e = versions[version]
            rows.append({
                "name": name,
                "version": version,
                "newest": version == newest,
                "code": e["code"]["name"],
                "code_version": e["code"]["version"],
                "parameters": [p["name"] for p in e["parameters"]],
                "ranges": {p["name"]: (p["min"], p["max"]) for p in e["parameters"]},
                "trust_region": e.get("trust_region"),
                "extent": {p["name"]: (p["min"], p["max"]) for p in e["trust_region"]["extent"]}
                if e.get("trust_region") else None,
                "max_relative_error": e.get("max_relative_error"),
                "size": e["size"],
                "created": e["created"],
                "sha256": e["sha256"],
                "url": e["url"],
            })
    return rows


def cached(cache: str | os.PathLike | None = None) -> list:
    """Every archive in the cache: dicts with ``name, version, path, sha256, hub`` and the index
    entry's fields."""
    out = []
    for path, text in _zelos.hub_cached(_path(cache)):
        record = json.loads(text)
        record["path"] = Path(path)
        out.append(record)
    return out


def publish(archive: str | os.PathLike, hub_dir: str | os.PathLike) -> dict:
    """Copies ``archive`` into the static hub folder ``hub_dir`` as ``NAME/VERSION/NAME.tar.gz``
    and lists it in ``hub_dir/index.json`` (both written atomically). Publishing the same archive
    twice changes nothing (``added`` is False); other contents under a published NAME@VERSION
    raise :class:`HubError`."""
    raw = dict(_zelos.hub_publish(os.fspath(archive), os.fspath(hub_dir)))
    raw["entry"] = json.loads(raw["entry"])
    raw["path"], raw["index"] = Path(raw["path"]), Path(raw["index"])
    return raw


# -- helpers -------------------------------------------------------------------------------
def _path(p):
    return None if p is None else os.fspath(p)


class _ProgressBar:
    """A tqdm bar fed by the Rust download's callback ``(done, total)``; nothing when tqdm is
    missing or the bar is disabled."""

    def __init__(self, label: str, enabled: bool):
        self.label = label
        self.enabled = bool(enabled)
        self._bar = None
        if self.enabled:
            try:
                from tqdm.auto import tqdm  # noqa: F401
            except ImportError:
                self.enabled = False

    def __call__(self, done: int, total) -> None:
        if self._bar is None:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, initial=done, unit="B", unit_scale=True, unit_divisor=1024,
                             desc=self.label, leave=False, file=sys.stderr)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
