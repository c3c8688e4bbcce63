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

from . import params as P
from ..serving.schema import logged_emulator
from .needs import DerivedNeed

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
        self.code = code
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
        self._last = {p: float(point[p]) for p in self.params}
        logl = self.model.loglikes(values, return_derived=False)
        return bool(np.all(np.isfinite(logl)))

    def run(self):
        """The code's own computed object at the last point :meth:`compute` computed: CAMB's
        ``CAMBdata`` (the one Cobaya's CAMB read the requirements from), or classy's ``Class``."""
        if self.code == "camb":
            return self.provider.get_CAMB_transfers()[1]
        cosmo = self.model.theory[self.code].classy
        # One Class object serves every state Cobaya caches: it must hold this point's run.
        pars = getattr(cosmo, "pars", {})
        stale = [p for p, v in getattr(self, "_last", {}).items() if p in pars and not np.isclose(float(pars[p]), v,
                                                                                                rtol=1e-12, atol=0)]
        if stale or not getattr(self, "_last", None):
            raise ValueError(f"classy holds another point's run ({', '.join(stale) or 'no point computed'})")
        return cosmo

    def close(self) -> None:
        self.model.close()


class FallbackModels:
    """Which inner models the Cobaya theory runs as its fallback (``_full``: every requirement;
    ``_rest``: what no emulator provides), with which requirements and settings; a part of
    :class:`zelos.cobaya.theory.Zelos` (mixed into it: it reads the theory's plan)."""

    def _schema_outputs(self, view: dict, fallbacks: dict) -> dict:
        """A fallback point's outputs in the schema of the emulator that would serve it
        (:func:`zelos.serving.schema.logged_emulator`), read from the run of ``_full`` that
        served the likelihoods (no second run), with its grids; ``{}`` when none can be read.
        ``zelos retrain`` trains on them as they are."""
        key = logged_emulator(fallbacks, self._router.entries())
        if key is None:
            return {}
        try:
            run = self._full.run()
        except Exception as e:  # noqa: BLE001 -- the point is logged without them, never lost
            self.log.debug("no emulator-schema outputs for the point log: %s", e)
            return {}
        outputs, missing = self._schema.read(self._usable[key], run, {**self._held_inputs, **view})
        if missing:
            self.log.debug("point log: %s outputs left out: %s", key, missing)
        return outputs

    def _inner_requirements(self, needs) -> list:
        keys = {n.key for n in needs}
        out = []
        for name, options in self._raw_requirements:
            if name in ("Pk_grid", "Pk_interpolator"):
                hit = any(isinstance(k, tuple) and k[0] == "Pk_grid" for k in keys)
            elif name == "sigma_R":
                hit = any(isinstance(k, tuple) and k[0] == "sigma_R" for k in keys)
            else:
                hit = name in keys
            if hit and options is not None:
                out.append((name, options))
                if name == "Pk_interpolator":  # zelos reads the code's P(k) as a grid (PkNeed.read)
                    out.append(("Pk_grid", {k: v for k, v in options.items()
                                            if k in ("z", "k_max", "nonlinear", "vars_pairs")}))
        names = [name for n in needs if n.options is None and not isinstance(n.key, tuple)
                 for name in (_derived(n).code_names() if _derived(n) else [self.translate_param(n.key)])]
        out += [(name, None) for name in dict.fromkeys(names)]  # S8 and sigma8 both ask for sigma8
        return out

    def _trained_with_transfer(self) -> bool:
        """Whether an emulator serving C_l here was trained with CAMB's transfer functions on
        (its outputs include sigma8 or S8: the driver asks CAMB for them, docs/drivers.md)."""
        return self._code == "camb" and any(any(o.startswith("dl_") for o in e.outputs) and {"sigma8", "S8"} &
                                            set(e.outputs) for e in self._usable.values())

    def _build_fallbacks(self):
        for model in (self._full, self._rest):
            if model is not None:
                model.close()
        self._full = self._rest = None
        if not self.fallback:
            return
        params = list(P.for_code(dict.fromkeys(self._inputs, 0.0), self._code))
        args = {k: v for k, v in self._settings.items() if k not in params}
        kw = dict(code=self._code, extra_args=args, params=params, packages_path=self.packages_path,
                  stop_at_error=bool(self.stop_at_error))
        full = self._inner_requirements(self._needs)
        # Asking CAMB for sigma8 turns on its transfer functions, and with them the non-linear
        # lensing moves the lensed C_l by up to 1e-3 (0.05 in the Planck-lite chi2). Run the
        # fallback as the emulators were trained, so that it computes what they emulate.
        if self._trained_with_transfer() and not any(name == "sigma8" for name, _ in full):
            full.append(("sigma8", None))
        self._full = InnerModel(requirements=full, name="fallback", **kw)
        if self._code == "classy" and not self._versions_checked:
            self._check_versions("classy", self._full.code_version)  # the classy Cobaya loaded
            self._versions_checked = True
        if self._rest_needs:
            self._rest = InnerModel(requirements=self._inner_requirements(self._rest_needs), name="rest", **kw)
        self._fallback_args = args


def _derived(need):
    """The derived-parameter need behind ``need`` (itself, or the one a RestNeed replaces)."""
    base = getattr(need, "base", None) or need
    return base if isinstance(base, DerivedNeed) else None
