"""Drivers: run a Boltzmann code for an emulator's parameters and return its outputs in one schema.

One driver per code serves the three uses that must agree on every setting: making training sets,
the live fallback of the plugins, and validation. Output names, shapes and units:
docs/drivers.md.

This package imports only numpy and the code's own package (camb, classy), never the Rust
extension, so training sets can be generated where zelos itself is not built.
"""

from __future__ import annotations

from .common import (BACKGROUND, DERIVED, GROWTH, SPECTRA, ComputationError, OutputRequest, SettingProblem,
                     VersionMismatch, ZelosError, describe_value)


def check_settings(code: str, settings: dict, version: str | None = None, parameters=()) -> tuple:
    """``(problems, note)``: what the driver of ``code`` refuses in ``settings`` (and, for CAMB,
    among the varied ``parameters``' names), checked with the installed code's own introspection,
    without running it. ``note`` says what could not be checked (the code not installed, or
    installed at another version than ``version``: names then differ), else None."""
    if code == "camb":
        try:
            from . import camb_settings as module
        except ImportError:
            return [], "camb is not installed: its settings were not checked against camb.set_params"
    elif code == "classy":
        from . import classy as module
    else:
        return [], None
    return module.check_settings(settings, version=version, parameters=parameters)


def get_driver(code: str, settings: dict, request: OutputRequest, version: str | None = None,
               allow_version_mismatch: bool = False, threads: int | None = None):
    """The driver for ``code`` ("camb" or "classy")."""
    if code == "camb":
        from .camb import CambDriver

        return CambDriver(settings, request, version=version,
                          allow_version_mismatch=allow_version_mismatch, threads=threads)
    if code == "classy":
        from .classy import ClassyDriver

        return ClassyDriver(settings, request, version=version,
                            allow_version_mismatch=allow_version_mismatch, threads=threads)
    raise ValueError(f"unknown code {code!r}: expected 'camb' or 'classy'")


__all__ = ["BACKGROUND", "DERIVED", "GROWTH", "SPECTRA", "ComputationError", "OutputRequest", "SettingProblem",
           "VersionMismatch", "ZelosError", "check_settings", "describe_value", "get_driver"]
