"""The live fallback: the real code, run through Cobaya's own interface to it.

Cobaya's CAMB cannot be constructed bare (its heavy work is a helper theory, ``camb.transfers``),
so the fallback is an inner Cobaya model: theory ``camb`` or ``classy`` (the code the emulators
were trained with) with the emulators' code settings as ``extra_args``, the likelihood ``one``,
and the outer requirements added with ``add_requirements`` (deep-copied: ``must_provide``
mutates them). Its getters then return what Cobaya's own CAMB or classy returns in the outer
model, to round-off.
"""

from __future__ import annotations

import copy

import numpy as np
from cobaya.tools import is_valid_variable_name

# Wide but finite bounds: the inner model is only evaluated through `loglikes`, which does not
# look at the prior; Cobaya just needs a proper prior to build the model.
_WIDE = 1e10


class InnerModel:
    """One inner Cobaya model computing ``requirements`` (a list of ``(name, options)``) for
    points given as ``{code's name: value}`` over ``params``."""

    def __init__(self, code: str, extra_args: dict, params: list, requirements: list,
                 packages_path: str | None = None, name: str = "fallback", stop_at_error: bool = False):
        from cobaya.input import update_info
        from cobaya.model import Model

        self.name = name
        self.params = list(params)
        # Cobaya samples only names that are Python identifiers; a CLASS input such as
        # `ln10^{10}A_s` is fed from a sampled stand-in (Cobaya's own advice)
        self._sampled = {p: (p if is_valid_variable_name(p) else f"_zelos_{i}") for i, p in enumerate(self.params)}
        priors = {s: {"prior": {"min": -_WIDE, "max": _WIDE}, "drop": s != p} for p, s in self._sampled.items()}
        stand_ins = {p: {"value": f"lambda {s}: {s}", "derived": False} for p, s in self._sampled.items() if p != s}
        # Cobaya's classy lists few derived parameters it can provide (CLASS computes many more,
        # by name): declared as derived parameters, they are its outputs and can be required.
        derived = {name: {"derived": True} for name, options in requirements if code == "classy"
                   and options is None and is_valid_variable_name(name) and name not in self.params}
        info = {
            # The outer theory's `stop_at_error`: a failing point stops the run with the code's
            # traceback, as a plain `theory: camb` would, instead of being rejected.
            "theory": {code: {"extra_args": copy.deepcopy(dict(extra_args)), "stop_at_error": stop_at_error}},
            "likelihood": {"one": None},
            "params": {**priors, **stand_ins, **derived},
        }
        # Model(), not get_model(): get_model would reset the logging set up by the outer run.
        # Unused theories are skipped until the requirements arrive (else Cobaya refuses a CAMB
        # that nothing depends on yet).
        full = update_info(info)
        self.model = Model(full["params"], full["likelihood"], full.get("prior"), full.get("theory"),
                           packages_path=packages_path, skip_unused_theories=True)
        if requirements:
            self.model.add_requirements(copy.deepcopy(list(requirements)))
        self.provider = self.model.provider
        self.code_version = self.model.theory[code].get_version()

    def compute(self, point: dict) -> bool:
        """Computes every requirement at ``point``; False when the code fails there (Cobaya's CAMB
        then gives a zero likelihood too), unless ``stop_at_error``: then the code's error is raised."""
        values = {s: float(point[p]) for p, s in self._sampled.items()}
        logl = self.model.loglikes(values, return_derived=False)
        return bool(np.all(np.isfinite(logl)))

    def close(self) -> None:
        self.model.close()
