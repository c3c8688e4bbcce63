"""Parameter names when the emulators were trained with CLASS (``code: {name: classy}``).

A point has three sets of names here:

- the run's: the sampler's names after :func:`renames`, which accepts what Cobaya's own
  ``classy`` theory accepts (its ``renames``: ``omegabh2``, ``tau``, ``As``...), CAMB's keywords
  (``ombh2``, ``omch2``, ``logA``...: ``code_inputs.CAMB_TO_CLASS``) and CLASS's own names. These
  are CLASS inputs, given as they are to the fallback (Cobaya's classy);
- canonical CLASS names (``H0`` -> ``h``, ``ln10^{10}A_s`` -> ``A_s``...:
  ``serving.names.CLASS_ALIASES``, as the MontePython plugin reads them), which the router
  compares with what each emulator holds fixed (``code_inputs.fixed_values``);
- the emulators': the canonical point plus the aliases they take (``serving.names.with_aliases``)
  and ``H0``, which the z = 0 node of the distance splines needs (``needs.ZNeed``).

Derived parameters in CLASS's names: ``serving.names.COBAYA_CLASS_DERIVED``.
"""

from __future__ import annotations

from ..code_inputs import CAMB_TO_CLASS
from ..drivers.classy import DERIVED_NAMES
from ..serving.names import EMULATOR_ALIASES, class_canonical, with_aliases

#: CLASS's own identifier spellings of names Cobaya cannot take as parameter names.
IDENTIFIERS = {"100*theta_star": "theta_star_100", "100*theta_s": "theta_s_100"}


def renames(option: dict, zelos_defaults: dict) -> dict:
    """The ``renames`` of a run whose fallback is CLASS: CAMB's keywords, then Cobaya's classy's
    own table (what ``theory: classy`` accepts), then the user's entries of the ``renames``
    option (those that are not zelos's CAMB defaults, which name CAMB inputs)."""
    from cobaya.theories.classy import classy

    # CAMB's derived names too (zdrag -> z_d...), as CLASS names Cobaya can take as parameters
    table = {**CAMB_TO_CLASS, **{k: IDENTIFIERS.get(v, v) for k, v in DERIVED_NAMES.items()}}
    table.update(classy.get_defaults()["renames"])
    table.update({k: v for k, v in (option or {}).items() if zelos_defaults.get(k) != v})
    return table


def canonical(point: dict) -> dict:
    """The point in CLASS's canonical names (``H0`` -> ``h``...), restating names dropped."""
    return class_canonical(point)


def for_emulators(point: dict, wanted) -> dict:
    """The point as the emulators see it: the run's names, the canonical ones, the aliases in
    ``wanted`` (the emulators' parameters) and ``H0``."""
    view = {k: float(v) for k, v in {**point, **canonical(point)}.items()}
    return with_aliases(view, set(wanted) | {"H0"}, "classy")


def run_inputs(names) -> set:
    """The run's inputs in canonical names (what an emulator's fixed values are compared with)."""
    return set(canonical(dict.fromkeys(names, 1.0)))


def restated(emulator) -> set:
    """Names never compared with what ``emulator`` holds: the aliases, and the canonical name
    of a parameter it takes under an alias (``h`` when it takes ``H0``)."""
    table = EMULATOR_ALIASES["classy"]
    return set(table) | {source for alias, source in table.items() if alias in emulator.parameters}
