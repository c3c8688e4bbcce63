"""The code behind MontePython's ``Class``: the real classy or CAMB (``camb_class.CambClass``)
computing a point, whole (a fallback) or in part at an emulated point (what no emulator
answers), each module once per point."""

from __future__ import annotations

import logging
import os
import time

from ..physics import T_CMB
from ..routing import REQUIREMENT_NOT_EMULATED
from .errors import CosmoComputationError, CosmoSevereError, new_real_class, real_classy
from .levels import BACKGROUND, LEVELS

__all__ = ["CodeRuns"]

_log = logging.getLogger("zelos.montepython")


class CodeRuns:
    """The code's runs, a part of :class:`zelos.montepython.cosmo.Class` (mixed into it: they
    use its point, backends and statistics)."""

    def _backend(self, code):
        backend = self._backends.get(code)
        if backend is None:
            if code == "camb":
                from .camb_class import CambClass

                backend = CambClass(self._point.plan.settings, lmax=self._point.plan.cmb_lmax)
            else:
                if real_classy() is None:
                    raise CosmoSevereError("zelos: classy is not installed (pip install classy); it computes what "
                                           "no emulator answers")
                backend = new_real_class()
            self._backends[code] = backend
        if code == "camb":
            backend.use_settings(self._point.plan.settings)
            if backend.lmax != self._point.plan.cmb_lmax:
                backend.lmax = self._point.plan.cmb_lmax
                backend.struct_cleanup()
        return backend

    def _run_code(self, p, level):
        """Has the code compute point ``p`` to ``level`` (a set of classy modules), once."""
        if level <= p.live:
            return self._backends[p.plan.code]
        backend = self._backend(p.plan.code)
        if p.plan.code == "camb":
            backend.run(p.camb_point, p.request, "background" if level <= BACKGROUND else "full")
        else:
            if not p.live:
                backend.empty()
                backend.set(_for_classy(p.clean))
            backend.compute([LEVELS[max(LEVELS.index(x) for x in level)]])
        p.live = p.live | level
        return backend

    def _rest(self, p, level, reason, fallback=None, output=None):
        """The code at an emulated point, for what the emulators cannot answer: ``reason``;
        ``fallback``/``output``: the router's reason when a loaded emulator has ``output`` but
        none covers this point. The first time, the point is counted (and logged) as computed by
        the code, not as emulated, even when the code had already computed it (a spot check)."""
        t0 = time.perf_counter()
        if level <= p.live:
            backend = self._backends[p.plan.code]
        else:
            try:
                backend = self._run_code(p, level)
            except CosmoComputationError:
                self._stats.failed += 1
                raise
        stats, seconds = self._stats, time.perf_counter() - t0
        if p.rest_reason is None:
            # The code computed part of this point: it is counted (and logged) as computed by
            # the code, not as emulated: with the router's reason (`parameter_not_emulated`...)
            # when an emulator has the output but none covers the point, else
            # `requirement_not_emulated: WHAT`.
            p.rest_reason = reason = reason or "not emulated"
            stats.count["rest"] += 1
            stats.rest[reason] += 1
            stats.count["emulated"] -= 1
            stats.time["emulated"] -= p.seconds
            stats.add("fallback", p.seconds)
            kind = fallback.kind if fallback is not None else f"{REQUIREMENT_NOT_EMULATED}: {reason.split(':', 1)[0]}"
            stats.fallbacks[kind] += 1
            options = p.plan.options
            if fallback is not None:
                self._say_uncovered(p, output, fallback)
                if options.log:
                    self._log_uncovered(p, backend, output, fallback, options)
            elif options.log:
                self._point_log(options).log(p.router_point, reason=REQUIREMENT_NOT_EMULATED,
                                             detail=f"computed by {p.plan.code}: {reason}")
        stats.time["rest"] += seconds
        stats.time["fallback"] += seconds
        return backend

    def _say_uncovered(self, p, output, fallback):
        """Once per run and (output, reason, parameter): which output the code computes at points
        that no emulator covers for it, and why."""
        key = (output, fallback.kind, fallback.parameter or fallback.nearest)
        if key in self._said_uncovered:
            return
        self._said_uncovered.add(key)
        _log.info("no loaded emulator covers `%s` at this point (%s: %s): %s computes such a point once for it, "
                  "when a likelihood reads it (inside compute() once the run has read it); these points count as "
                  "computed by %s, and the outputs an emulator covers there stay emulated", output, fallback.kind,
                  fallback.detail, p.plan.code, p.plan.code)

    def _log_uncovered(self, p, backend, output, fallback, options):
        """The point log record of a point computed in part for ``output``: the router's reason,
        and the code's outputs in the emulators' schema, those the code's run gave (no further
        computation for the log)."""
        from .emulated import output_level
        from .levels import expand
        from .outputs import read_outputs

        t = p.inputs.physics.get("T_cmb")
        live = p.live
        outputs, _ = read_outputs(backend, p.plan.serving, t if isinstance(t, float) else T_CMB, partial=True,
                                  only=lambda name: expand(output_level(name)) <= live)
        self._point_log(options).log(p.router_point, reason=fallback.kind,
                                     detail=f"computed by {p.plan.code} for `{output}`: {fallback.detail}",
                                     distance=fallback.distance, nearest=fallback.nearest, outputs=outputs)


def _for_classy(args: dict) -> dict:
    """The arguments for the real classy. One change: classy 3.4 reads its BBN table at
    ``base_path + 'sBBN file'`` (base_path: its package folder), so the absolute path MontePython
    writes there (``path['cosmo']/external/bbn/sBBN.dat``) would not be found; an absolute path to
    an existing file is rewritten relative to the package folder (the same file)."""
    path = args.get("sBBN file")
    classy = real_classy()
    if not (isinstance(path, str) and os.path.isabs(path) and os.path.isfile(path) and classy is not None):
        return args
    base = os.path.dirname(os.path.abspath(classy.__file__))
    return {**args, "sBBN file": "/" + os.path.relpath(path, base)}
