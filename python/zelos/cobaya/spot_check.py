"""The Cobaya theory's spot checks (option ``spot_check``): a fraction of the emulated points also
computed by the fallback code, the largest relative difference of each emulated quantity and,
per likelihood, logp(emulated) - logp(code), counted and logged."""

from __future__ import annotations

import time

import numpy as np

from . import params as P

__all__ = ["SpotCheck"]


class SpotCheck:
    """Spot checks, a part of :class:`zelos.cobaya.theory.Zelos` (mixed into it: they use the
    theory's fallback model, state and point log)."""

    def _spot_check(self, state, point, view):
        t0 = time.perf_counter()
        stats = self._stats
        if not self._full.compute(P.for_code(point, self._code)):
            stats.spot_failed += 1
            return
        truth = {"params": state.get("params"), "dependency_params": state.get("dependency_params"),
                 "derived": None, "derived_extra": {}}
        for need in self._needs:
            self._put(truth, need, need.read(self._full.provider))
        diffs = {n.label: n.difference(self._get(state, n), self._get(truth, n)) for n in self._covered}
        deltas = self._likelihood_deltas(state, truth)
        stats.spot += 1
        for label, d in diffs.items():
            stats.spot_diff[label] = max(stats.spot_diff[label], d)
        for like, d in deltas.items():
            stats.spot_dlogp[like] = max(stats.spot_dlogp[like], abs(d))
        stats.time["spot_check"] += time.perf_counter() - t0
        if self._point_log is not None:
            outputs = {f"max_rel_diff.{k}": np.asarray(v) for k, v in diffs.items()}
            outputs.update({f"delta_logp.{k}": np.asarray(v) for k, v in deltas.items()})
            detail = ("emulated - " + self._code + ": " + ", ".join(f"{k} {v:.2g}" for k, v in diffs.items())
                      + "".join(f"; logp[{k}] {v:+.3g}" for k, v in deltas.items()))
            self._point_log.log(view, reason="spot_check", detail=detail, outputs=outputs)

    def _likelihood_deltas(self, emulated: dict, truth: dict) -> dict:
        """logp(emulated) - logp(real code) for each likelihood that reads this theory, at this
        point's parameters (other theories at their current state)."""
        model = getattr(self.provider, "model", None)
        if model is None:
            return {}
        deps = getattr(model, "_dependencies", {})
        out = {}
        saved = self.__dict__.get("_current_state")
        try:
            for name, like in model.likelihood.items():
                if self not in deps.get(like, ()):
                    continue
                try:
                    params = {p: self.provider.params[p] for p in like.input_params}
                    values = []
                    for st in (emulated, truth):
                        self._current_state = st
                        values.append(float(like.logp(_derived={}, **params)))
                    out[name] = values[0] - values[1]
                except Exception as e:  # noqa: BLE001 -- a spot check never stops a chain
                    self.log.debug("spot check of %s skipped: %s", name, e)
        finally:
            if saved is None:
                self.__dict__.pop("_current_state", None)
            else:
                self._current_state = saved
        return out
