"""The plan of a run: which emulators can answer it, for which outputs, and how a point in
CLASS's names becomes the point each emulator sees.

A plan is made when the run's inputs first reach ``compute`` (and again if the set of input
names, a non-numeric setting or a ``zelos_*`` option changes, which MontePython never does):

1. Every emulator of ``zelos_emulators`` is loaded; they must share one code (``camb`` or
   ``classy``), which is then the code the plugin computes with when they cannot answer.
2. The run's CLASS inputs are translated to that code's names (``class_inputs.to_camb`` for
   CAMB; canonical CLASS names for classy) and each emulator is checked against them: it must
   find every parameter it takes (CLASS's ``100*theta_s`` is neither CAMB's ``cosmomc_theta`` nor
   ``H0``), the run may not set an input it was trained without (``fixed_values``), and no
   input may be unknown to zelos. Emulators that fail are set aside for the run, with the reason.
3. The outputs wanted at every point are those of the usable emulators that the run's
   ``output`` asks CLASS for (C_l with ``tCl``/``pCl``/``lCl``, P(k) with ``mPk``; background and
   derived quantities always). MontePython never says which of them its likelihoods read, so a
   point is emulated when an emulator covers it for some of them: each output comes from the
   emulator that covers the point, and one that none covers is computed by the code only when a
   call reads it (the point then counts as computed). The plan learns which outputs the run's
   calls read (:meth:`Plan.use`): from then on, a point that no emulator covers for one of them
   is computed by the code for it inside ``compute()``, where MontePython expects the code to
   run (and catches its failures). A point no emulator covers for any wanted output is computed
   whole, as is every point that is not fully covered under ``zelos_out_of_range`` 'error' or
   'reject'.
4. MontePython's likelihoods say which redshifts they need only by calling classy's accessors,
   after the point was routed: the plan learns how far they reach (:meth:`Plan.asked`) and from
   then on tells the router which emulators' grids cover that (:meth:`Plan.covering`), so a
   lower-ranked emulator that reaches z = 3 serves what a higher-ranked one stopping at z = 2
   cannot (the code answers the calls beyond every grid, as before).
"""

from __future__ import annotations

import math

import numpy as np

from ..build.report import accuracy_summary
from ..code_inputs import code_defaults, fixed_values, number, same_number, setting_conflicts, setting_matters
from ..serving import background, compose, session
from ..serving.names import EMULATOR_ALIASES as ALIASES
from ..serving.names import with_aliases
from .class_inputs import ClassInputs, Request, to_camb
from .errors import CosmoSevereError, real_classy
#: A run's nnu (CLASS's N_ur plus the massive neutrinos' share) within this of an emulator's is
#: taken as equal: N_ur = 2.0328 with one massive species gives 3.046054 for CAMB's nnu = 3.046
#: (every shipped emulator's; 2.0308 gives 3.044054 for 3.044); 5e-5 in N_eff moves H(z) by
#: less than 1e-6.
NNU_TOLERANCE = 2e-4
#: Why a run giving CLASS's angle cannot feed an emulator taking CAMB's H0 or cosmomc_theta.
WHY_NOT_THETA_S = ("the run gives CLASS's `100*theta_s`, which is neither CAMB's H0 nor cosmomc_theta (only an "
                   "emulator taking CAMB's `thetastar` can be fed it, or derive H0 from it: see docs/montepython.md)")


class Plan:
    """What answers a run. ``emulators``: every loaded one; ``usable``: ``{key: (emulator,
    fixed)}``; ``excluded``: ``{key: why}``; ``outputs``: the outputs wanted at every point;
    ``router``: a ``zelos.routing.Router`` over the usable emulators that serve one of them (None
    when none does); ``code``: the code computing what they cannot answer."""

    def __init__(self, options, emulators: dict, inputs: ClassInputs, request: Request):
        from ..routing import Router

        self.options, self.request = options, request
        self.emulators = emulators
        self.code = self._code()
        self.excluded, self.usable = {}, {}
        self.notes = []
        camb_point, problems = self._translate(inputs) if emulators else ({}, {})
        # CLASS's non-linear model is an input of every CLASS run (it changes the lensed C_l)
        run_inputs = camb_point if self.code == "camb" else {"non_linear": "none", **inputs.physics}
        router_point = self._router_point(inputs, camb_point)
        self._wants_h0 = {}  # {key: (emulator, fixed, blockers)}: usable with a derived H0
        for key, emu in emulators.items():
            why = self._why_not(key, emu, inputs, problems, router_point, run_inputs)
            if why:
                self.excluded[key] = why
        # (the emulators deriving H0 serve anyway: derived parameters are wanted at every point)
        _, self.composed = compose.compose_h0(self.usable, self._wants_h0, self.excluded)
        self.nnu = sorted({float(f["nnu"]) for _, f in self.usable.values() if "nnu" in f})
        # the set-up point as the points will be routed (CLASS's N_eff snapped to the emulators'):
        # an emulator that will serve them chooses the code's settings
        self.settings = self._code_settings(self._router_point(inputs, self._snapped(camb_point)))
        self.set_aside = self._set_aside_by_settings()
        self.outputs = sorted({o for key, (emu, _) in self.usable.items() for o in emu.outputs
                               if self.wanted(emu, o)})
        self.serving = {k: e for k, (e, _) in self.usable.items() if any(o in self.outputs for o in e.outputs)}
        for key in set(self.usable) - set(self.serving):
            self.excluded[key] = "answers nothing this run's CLASS output asks for"
        self.composed = {k: v for k, v in self.composed.items() if k in self.serving}
        # with composed emulators a point is routed twice: every output and H0 first, then with
        # that H0 the outputs only the emulators taking H0 serve (compose.second_stage)
        self.after_h0 = {o for k in self.composed for o in self.serving[k].outputs} - {"H0"}
        self.stage_one = sorted(set(self.outputs) | {"H0"}) if self.composed else self.outputs
        self.reach = {}  # output -> the largest redshift the run asked of it (asked)
        self.used = set()  # the outputs the run's calls have read, served or not (use)
        self._covering = None
        self.router = None
        if self.serving:
            self.router = Router()
            for key in self.serving:
                self.router.add(key, self.emulators[key], fixed=self.usable[key][1])  # whole: see covering
        # the largest multipole the serving emulators emulate: CAMB computes C_l at least to it
        self.cmb_lmax = max((int(e.grids[e.outputs[o].axes[0]][-1]) for e in self.serving.values()
                             for o in e.outputs if o.startswith("dl_")), default=0)

    # -- set-up -----------------------------------------------------------------------------------
    def _code(self) -> str:
        codes = session.codes(self.emulators)
        if len(codes) > 1:
            raise CosmoSevereError(f"zelos_emulators: emulators of different codes ({', '.join(codes)}); one "
                                   "run computes with one code: load emulators of one code")
        return codes[0] if codes else "classy"

    def check_versions(self, installed: str) -> None:
        """The installed code must be the version the emulators pin (else its values would differ
        from theirs), unless ``zelos_allow_version_mismatch``."""
        for key, pinned in session.version_mismatches(self.emulators, installed):
            msg = (f"`{key}` was trained with {self.code}=={pinned} but {self.code} {installed} is installed; "
                   f"install {self.code}=={pinned} or set data.cosmo_arguments['zelos_allow_version_mismatch'] "
                   "= True")
            if not self.options.allow_version_mismatch:
                raise CosmoSevereError(msg)
            self.notes.append(msg)

    def _translate(self, inputs: ClassInputs) -> tuple:
        if self.code != "camb":
            return {}, {}
        return to_camb(inputs.physics, inputs.camb)

    def _router_point(self, inputs: ClassInputs, camb_point: dict) -> dict:
        if self.code == "camb":
            point = {k: v for k, v in camb_point.items() if number(v) is not None}
        else:
            point = {k: v for k, v in inputs.physics.items() if number(v) is not None}
        return self.with_aliases(point)

    def with_aliases(self, point: dict) -> dict:
        """Adds the aliases the emulators take (CAMB ``logA`` from ``As``; CLASS ``H0`` from
        ``h``...), so every emulator finds its parameters under its own names."""
        return with_aliases(point, {p for e in self.emulators.values() for p in e.parameters}, self.code)

    def _why_not(self, key, emu, inputs, problems, router_point, run_inputs) -> str | None:
        """Why ``emu`` cannot serve this run (None: it can; then it joins ``usable``)."""
        unknown = inputs.unknown + (tuple(inputs.camb) if self.code != "camb" else ())
        if unknown:
            keys = ", ".join(f"`{k}`" for k in unknown)
            return (f"the run sets CLASS input(s) {keys} that zelos does not know, so it cannot tell whether they "
                    "change what the emulators computed; if they do not, list them in "
                    "data.cosmo_arguments['zelos_ignore']")
        if problems:
            return "; ".join(problems.values()) + " (CAMB cannot compute this run as CLASS would)"
        missing = [p for p in emu.parameters if p not in router_point]
        aliases = set(ALIASES[self.code]) | {s for a, s in ALIASES[self.code].items() if a in emu.parameters}
        fixed, blockers = fixed_values(emu, run_inputs, aliases=aliases)
        theta_s = "thetastar" in router_point and "cosmomc_theta" not in router_point  # CLASS's angle, translated
        if self.code == "camb" and compose.wants_h0_from_angle(missing, blockers, router_point):
            self._wants_h0[key] = (emu, fixed, {"thetastar": WHY_NOT_THETA_S} if theta_s else blockers)
            return None  # usable if an emulator taking the angle derives H0 (compose.compose_h0)
        if missing:
            if self.code == "camb" and theta_s and {"H0", "cosmomc_theta"} & set(missing):
                return f"it takes {', '.join(f'`{m}`' for m in missing)}; {WHY_NOT_THETA_S}"
            return (f"it takes {', '.join(f'`{m}`' for m in missing)}, which the run does not give (its inputs: "
                    f"{', '.join(sorted(router_point))})")
        if blockers:
            text = "; ".join(blockers.values())
            if self.code == "camb":
                text = text.replace("`halofit_version`", "the non-linear model (CLASS `non_linear`, as CAMB's "
                                    "halofit_version; 'none': linear)")
            return text
        self.usable[key] = (emu, fixed)
        return None

    def wanted(self, emu, output: str) -> bool:
        """Whether the run needs ``output`` of ``emu`` at every point (per its CLASS output)."""
        r = self.request
        if output.startswith("dl_"):
            if not r.has_cl:
                return False
            lensed = bool(emu.spec["outputs"]["cmb"].get("lensed", True))
            return output == "dl_pp" or not lensed or r.lensing
        if output == "pk_nonlin":
            return r.mPk and r.nonlinear != "none"
        if output in ("pk_lin", "sigma8", "S8"):
            return r.mPk
        return True

    def _code_settings(self, point: dict) -> dict:
        """The code settings of the code's runs: from the emulators that can serve this run's
        set-up ``point``, in load order (rank order for the shipped ones), the first that a
        setting concerns choosing it (its listed value, else the code's default: an emulator that
        leaves a setting at the default was trained there, so CAMB_omk_CMB's C_l accuracy boost
        does not reach a flat run's CAMB runs); a setting none of them lists keeps the value the
        other loaded emulators give it. An emulator that holds an input at another value than
        the point's (CAMB_LCDM_CMB's omk = 0 in a curved run) serves none of the run's points
        but where the run crosses that value exactly, so it does not choose
        (``session.shared_settings``: the same rule as Cobaya's fallback)."""
        read = lambda emu: emu.spec["code"].get("settings") or {}  # noqa: E731
        voters = {k: e for k, e in self.emulators.items()
                  if k in self.usable and not self.held_otherwise(k, point)} or self.emulators
        settings, disagreements = session.shared_settings(voters, read, setting_matters, code_defaults(self.code),
                                                          listed_by=self.emulators)
        for name, kept, value, key in disagreements:
            self.notes.append(f"emulators disagree on the {self.code} setting `{name}` ({kept!r}, {value!r} for "
                              f"`{key}`); {self.code} runs use {kept!r}")
        return settings

    def _set_aside_by_settings(self) -> dict:
        """``{key: (outputs, why)}``: outputs of usable emulators that CAMB, run with this run's
        settings (``settings``), would compute otherwise than it was trained on (CAMB_omk_CMB's C_l,
        trained with a denser k integration, in a flat run whose runs keep CAMB's default). The
        emulator stays usable as a view without them; one whose every output differs is left out,
        and so is an emulator composed with H0 from those left out. Cobaya's fallback decides the
        same way (``cobaya/fallback_settings.py``). classy runs take the run's own CLASS inputs,
        which ``fixed_values`` compared already."""
        if self.code != "camb":
            return {}
        out, defaults = {}, code_defaults(self.code)
        for key, (emu, fixed) in list(self.usable.items()):
            excluded, aside = session.split_by_settings(
                emu, lambda outputs: setting_conflicts(emu, self.settings, defaults, outputs, "this run's CAMB"),
                "this run's CAMB settings")
            if excluded:
                self.excluded[key] = excluded
                del self.usable[key]
            elif aside:
                out[key] = aside
                self.usable[key] = (session.without(emu, aside), fixed)
        for key, sources in list(self.composed.items()):
            left = [k for k in sources if k in self.usable and "H0" in self.usable[k][0].outputs]
            if left:
                self.composed[key] = left
            elif key in self.usable:
                del self.usable[key], self.composed[key]
                self.excluded[key] = "it takes `H0`, and no emulator used in this run derives it from the run's angle"
        return out

    # -- what the run reaches ---------------------------------------------------------------------
    def asked(self, output: str, z_max: float) -> None:
        """Notes that the run asked for ``output`` (a function of z) up to redshift ``z_max``."""
        if z_max > self.reach.get(output, -math.inf):
            self.reach[output] = z_max
            self._covering = None

    def use(self, output: str) -> None:
        """Notes that a call of the run read ``output`` (served, or computed by the code because
        no emulator covered the point)."""
        self.used.add(output)

    def covering(self) -> dict | None:
        """``{output: keys}`` for the router: for each output some serving emulator has set
        aside, those that serve it; for each output the run asked beyond some serving emulator's
        grid, the serving emulators whose grids reach that far (when none does, no restriction:
        the code answers the calls beyond every grid)."""
        if self._covering is None:
            # the router holds whole emulators: outputs set aside are kept from it here
            self._covering = {o: [k for k, e in self.serving.items() if o in e.outputs] for o in self.outputs
                              if any(o in self.emulators[k].outputs and o not in e.outputs
                                     for k, e in self.serving.items())}
            for output, z_max in self.reach.items():
                having = {k: e for k, e in self.serving.items() if output in e.outputs}
                keys = [k for k, e in having.items()
                        if not background.above(np.array([z_max]), e.grids[e.outputs[output].axes[0]])]
                if keys and len(keys) < len(having):
                    self._covering[output] = keys
        return self._covering or None

    # -- per point --------------------------------------------------------------------------------
    def translate(self, inputs: ClassInputs) -> tuple:
        """``(router_point, camb_point)`` of one point (``camb_point`` empty for classy)."""
        camb_point = self._snapped(to_camb(inputs.physics, inputs.camb)[0]) if self.code == "camb" else {}
        return self._router_point(inputs, camb_point), camb_point

    def _snapped(self, camb_point: dict) -> dict:
        """``camb_point`` with CLASS's N_ur + ncdm share replaced by the emulators' nnu it equals
        within round-off."""
        nnu = camb_point.get("nnu")
        held = next((h for h in self.nnu if nnu is not None and abs(nnu - h) <= NNU_TOLERANCE), None)
        return camb_point if held is None else {**camb_point, "nnu": held}

    def held_otherwise(self, key, point: dict) -> list:
        """``[(name, held value)]`` of the inputs usable emulator ``key`` holds at another value
        than ``point`` (in the router's names) gives them."""
        return [(name, held) for name, held in self.usable[key][1].items()
                if point.get(name) is not None and not same_number(float(point[name]), float(held))]

    def first_point_servable(self, inputs: ClassInputs) -> tuple:
        """``(True, '')`` when some serving emulator holds every input it holds at the run's
        value at its first point, else ``(False, an example)``: with constant inputs (CLASS's
        massless default against emulators trained with mnu = 0.06) no point of the run is
        emulated."""
        point, _ = self.translate(inputs)
        example = ""
        for key in self.serving:
            differs = self.held_otherwise(key, point)
            if not differs:
                return True, ""
            name, held = differs[0]
            example = example or f"`{key}` holds {name} = {held:g}, this run has {point[name]:g}"
        return False, example

    def describe(self) -> list:
        """Start-up lines: each emulator and what it serves or why not."""
        lines = []
        for key, emu in self.emulators.items():
            served = ", ".join(o for o in self.outputs if o in self.serving.get(key, emu).outputs)
            aside = (f"; not {', '.join(sorted(self.set_aside[key][0]))}: {self.set_aside[key][1]}"
                     if key in self.set_aside else "")
            state = (f"over ({', '.join(emu.parameters)}) serves {served}"
                     + compose.describe(key, self.composed) + aside if key in self.serving
                     else f"not used: {self.excluded.get(key, 'answers nothing this run asks for')}")
            trained = f"trained with {self.code} {emu.spec['code']['version']}"
            lines.append(f"emulator {session.emulator_line(key, emu, accuracy_summary(emu.report), trained)} {state}")
        lines += self.notes
        return lines


def installed_version(code: str) -> str | None:
    if code == "camb":
        try:
            import camb
        except ImportError:
            return None
        return camb.__version__
    classy = real_classy()
    return None if classy is None else classy.__version__
