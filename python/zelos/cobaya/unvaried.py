"""The Cobaya theory's start-up warning on run inputs no emulator in use varies: every point
where such an input differs from the value the emulators hold is computed by the code."""

from __future__ import annotations

from cobaya import mpi

from ..code_inputs import number as _number
from ..code_inputs import same_number

__all__ = ["UnvariedWarning"]


class UnvariedWarning:
    """The warning, a part of :class:`zelos.cobaya.theory.Zelos` (mixed into it: it reads the
    theory's inputs, plan and emulators)."""

    def _warn_unvaried(self, serving, usable) -> None:
        """A WARNING for each input of the run that varies (or is fixed at another value) while
        every emulator that could serve one of the needed outputs holds it fixed: then every
        point is computed by the code (``parameter_not_emulated``). Names the emulators that
        hold it, and the shipped emulators that vary it, if any."""
        model = getattr(self.provider, "model", None)
        try:
            constants = dict(model.parameterization.constant_params()) if model is not None else {}
        except Exception:  # noqa: BLE001 -- a warning is never worth a failed start-up
            constants = {}
        held = {}  # run input -> {emulator key: (code's name, held value)}
        for key in serving:
            fixed = usable[key][1]
            for name in self.input_params:
                for target, value in self._code_names(name, constants.get(name)).items():
                    if target in fixed:
                        held.setdefault(name, {})[key] = (target, fixed[target], value)
        for name, by_key in held.items():
            if name in constants and all(_same(value, h) for _, h, value in by_key.values()):
                continue  # fixed at the value the emulators were trained with
            blocked = sorted({o for n in self._covered for o, keys in n.candidates.items()
                              if keys and all(k in by_key for k in keys)})
            if not blocked:
                continue  # another emulator varies it, or it does not concern these outputs
            if not mpi.is_main_process():  # said once, as the other start-up lines
                continue
            target = next(iter(by_key.values()))[0]
            holders = ", ".join(f"`{k}` holds {t} = {h:g}" for k, (t, h, _) in sorted(by_key.items()))
            how = (f"is fixed at {constants[name]!r}" if name in constants
                   else "is sampled (or derived from sampled parameters)")
            self.log.warning(
                "`%s` %s, but no emulator in use varies it (%s, as trained): every point where it differs is "
                "computed by %s (parameter_not_emulated), not emulated (%s); %s", name, how, holders, self._code,
                ", ".join(blocked), _who_varies(target, self._code, self._emus))

    def _code_names(self, name: str, value=None) -> dict:
        """Run input ``name`` -> ``{name as the emulators' fixed values spell it: value}``
        (CAMB's name; canonical CLASS names for classy)."""
        code_name = self.translate_param(name)
        v = 1.0 if value is None or _number(value) is None else float(value)
        if self._code != "classy":
            return {code_name: value}
        from .classy_names import canonical

        return {k: (value if value is None else w) for k, w in canonical({code_name: v}).items()}


def _same(a, b) -> bool:
    x, y = _number(a), _number(b)
    return x is not None and y is not None and same_number(x, y)


def _who_varies(name: str, code: str, loaded: dict) -> str:
    """Words on which emulators vary ``name``: loaded ones not in use, shipped ones."""
    from ..routing import emulators_varying

    loaded_ones = [k for k, e in loaded.items() if name in e.parameters]
    shipped = emulators_varying(name, code)
    if loaded_ones:
        return (f"loaded but not in use, it varies it: {', '.join(loaded_ones)} (see its `not used` line); "
                + (f"shipped with zelos: {', '.join(shipped)}" if shipped else "no shipped emulator varies it"))
    if shipped:
        return f"emulators shipped with zelos that vary it: {', '.join(shipped)} (add to `emulators`)"
    return (f"no emulator shipped with zelos varies `{name}`: build one whose spec has it among its parameters "
            "(docs/build.md), or fix it at the value the emulators hold")
