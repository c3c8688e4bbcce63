"""A fallback point's outputs in an emulator's own schema (docs/model.md: ``H`` on its z grid,
``dl_tt`` on its ell grid, ``pk_lin`` on its (z, k) grid, derived scalars), read from the code
run that served the likelihoods, with the emulator's own driver (:meth:`CambDriver.read_run`,
:meth:`ClassyDriver.read_run`): no second run of the code. Logged with the point, they make it
training data as it is: ``zelos retrain`` reuses them instead of computing the point again.

Each such record also carries the emulator's grids as ``grid.AXIS`` (``grid.z_bg``...): a retrain
takes logged outputs only where they are on its archive's grids.
"""

from __future__ import annotations

import numpy as np

__all__ = ["GRID_PREFIX", "SchemaOutputs", "logged_emulator"]

#: Output-name prefix of the grids a record's emulator-schema outputs are on.
GRID_PREFIX = "grid."


def logged_emulator(fallbacks: dict, ranked: list) -> str | None:
    """The key of the emulator that would serve a fallback point, whose schema its outputs are
    logged in: the nearest emulator the first fallback names (``outside_every_region``), else
    the first in rank order (``ranked``: the router's entries) that has the first fallback's
    output, else the first ranked one. None without emulators."""
    from ..routing import first_fallback

    if not fallbacks or not ranked:
        return None
    first = first_fallback(fallbacks)
    keys = [e["key"] for e in ranked]
    if first.nearest in keys:
        return first.nearest
    output = next((o for o, f in fallbacks.items() if f is first), None)
    return next((e["key"] for e in ranked if output in e.get("outputs", ())), keys[0])


class SchemaOutputs:
    """Reads fallback runs in emulators' schemas, one driver per emulator (made once)."""

    def __init__(self):
        self._drivers = {}

    def driver(self, emulator):
        """The emulator's own driver (its spec's code, settings and output request)."""
        key = emulator.sha256
        if key not in self._drivers:
            from ..build.plan import plan as make_plan
            from ..drivers import get_driver

            code = emulator.spec["code"]
            # Nothing is computed with it: a version the emulator does not pin is refused in read().
            self._drivers[key] = get_driver(code["name"], code.get("settings") or {}, make_plan(emulator.spec).request,
                                            version=code.get("version"), allow_version_mismatch=True)
        return self._drivers[key]

    def read(self, emulator, run, point: dict) -> tuple:
        """``({name: array}, {name: why not})``: ``emulator``'s outputs at ``point`` (the emulator's
        parameter names; others ignored) from ``run`` (the code's computed object: a
        ``camb.CAMBdata``, or a ``classy.Class``), plus its grids as ``grid.AXIS`` when any output
        is read. Outputs the run cannot give as the emulator's driver would are left out, with why."""
        try:
            driver = self.driver(emulator)
        except Exception as e:  # noqa: BLE001 -- never stops a chain: the point is logged without them
            return {}, dict.fromkeys(emulator.outputs, f"no driver for it: {e}")
        if driver.version_note:
            return {}, dict.fromkeys(emulator.outputs, driver.version_note)
        missing_params = [p for p in emulator.parameters if p not in point]
        if missing_params:
            return {}, dict.fromkeys(emulator.outputs, f"the point does not give {missing_params}")
        try:
            out, missing = driver.read_run(run, {p: float(point[p]) for p in emulator.parameters})
        except Exception as e:  # noqa: BLE001
            return {}, dict.fromkeys(emulator.outputs, f"could not be read from the run: {e}")
        if out:
            out.update({f"{GRID_PREFIX}{axis}": np.asarray(grid, float) for axis, grid in emulator.grids.items()})
        return out, missing
