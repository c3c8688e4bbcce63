"""Which code settings the Cobaya theory's fallback runs with, and which emulators that leaves out.

The loaded emulators were trained with code settings (``code.settings`` of their specs: the
neutrino split, the dark-energy model, HMcode's version...). The fallback computes a point once,
for every likelihood, so it takes one value of each: that of the first emulator (in load order;
``emulators: all`` loads them best-ranked first, as the router ranks them) that the setting can
change (:func:`zelos.serving.session.shared_settings`). Then an emulator trained otherwise would
not compute what the fallback computes: it is left out, or, where the setting reaches only some
of its outputs, those outputs are set aside.

Emulators that this run takes out of play do not choose: one that holds fixed a parameter the run
varies (CAMB_LCDM_CMB holds ``mnu`` at 0.06 eV; a Σm_ν chain samples it) serves only points at
that value, none in practice of a chain that samples it, so its settings (one massive eigenstate)
must not override those of the emulator that varies it (CAMB_mnu_CMB: three degenerate ones). It
stays loaded, and serves the points it covers if its settings agree with the fallback's. Nor
does one that takes an input the run lacks (CAMB_mnu_CMB in a DESI + Union3 run, which has no
``cosmomc_theta``): it can serve no point.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..code_inputs import number, same_number
from ..serving import session
from . import params as P


@dataclass
class Settled:
    """The fallback's settings and what they leave out."""

    settings: dict
    #: ``[(name, kept, other, key)]``: settings the emulators disagree on (start-up warnings)
    disagreements: list = field(default_factory=list)
    #: ``{key: why}``: emulators left out because every output would differ from the fallback's
    excluded: dict = field(default_factory=dict)
    #: ``{key: (outputs, why)}``: emulators whose differing settings reach only these outputs
    set_aside: dict = field(default_factory=dict)


def settle(emus: dict, voters: dict, code: str, user_extra_args: dict) -> Settled:
    """The settings ``voters`` (a subset of ``emus``, in precedence order) agree on, the user's
    ``extra_args`` over them (``None`` removes one), and, for every emulator of ``emus``, whether
    they leave it out."""
    settings, disagreements = session.shared_settings(voters, P.training_settings, P.setting_matters,
                                                      P.fallback_defaults(code), listed_by=emus)
    for key, value in user_extra_args.items():
        if value is None:
            settings.pop(key, None)
        else:
            settings[key] = value
    out = Settled(settings, disagreements)
    for key, emu in emus.items():
        excluded, aside = session.split_by_settings(
            emu, lambda outputs: P.setting_conflicts(emu, settings, outputs=outputs), "the fallback's")
        if excluded:
            out.excluded[key] = excluded
        elif aside:
            out.set_aside[key] = aside
    return out


def out_of_play(emus: dict, inputs: set, constants: dict, missing: dict | None = None,
                held_by_fallback=lambda name: None) -> dict:
    """``{key: why}``: CAMB-trained emulators that hold fixed (a numeric setting, or CAMB's
    default) a parameter this run varies, or holds at another value; and emulators that take an
    input this run does not give (``missing[key]``) and the fallback does not hold at a number
    (``held_by_fallback(name)`` is None), H0 aside (composed from the CMB emulators' derived H0).
    ``inputs``: the run's input names (translated); ``constants``: those of them that are fixed,
    with their values. (CLASS emulators name their held inputs canonically, not as the run does:
    they always choose.)"""
    out = {}
    for key, emu in emus.items():
        lacking = [p for p in (missing or {}).get(key, ()) if p != "H0" and held_by_fallback(p) is None]
        if lacking:  # the reason given, unless a held parameter below gives one
            out[key] = f"it takes {', '.join(lacking)}, which this run does not give"
        if P.code_of(emu) != "camb":
            continue
        fixed, _ = P.fixed_values(emu, inputs)
        for name, held in fixed.items():
            if name not in inputs:
                continue
            value = number(constants.get(name))
            if value is None:
                out[key] = f"it holds `{name}` at {held:g}, which this run varies"
                break
            if not same_number(value, held):
                out[key] = f"it holds `{name}` at {held:g}, this run at {value:g}"
                break
    return out
