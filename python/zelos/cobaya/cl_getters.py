"""The C_l getters of the Cobaya theory, which Cobaya's ``BoltzmannBase`` leaves to the code:
the emulated (or computed) D_l in the units and with the ell factor a likelihood asks for, as
Cobaya's own CAMB gives them."""

from __future__ import annotations

import numpy as np
from cobaya.log import LoggedError

from ..code_inputs import T_CMB_SETTING
from ..physics import T_CMB

__all__ = ["ClGetters"]


class ClGetters:
    """The getters, a part of :class:`zelos.cobaya.theory.Zelos` (mixed into it before Cobaya's
    ``BoltzmannBase``, whose ``_cmb_unit_factor`` they use)."""

    def _get_Cl(self, key, ell_factor=False, units="FIRASmuK2"):
        try:
            raw = self.current_state[key]
        except KeyError:
            raise LoggedError(self.log, "No %s computed: did a likelihood request them?", key) from None
        t_cmb = float(self._settings.get(T_CMB_SETTING[self._code], T_CMB))
        factor = self._cmb_unit_factor(units, t_cmb)
        ls = np.asarray(raw["ell"], dtype=np.int64)
        ells_factor = ls[1:] * (ls[1:] + 1)
        cls = {"ell": ls}
        for s in ("tt", "ee", "bb", "te"):
            if s not in raw:
                continue
            c = np.array(raw[s], dtype=float, copy=True)
            if not ell_factor:  # the same operations, in the same order, as Cobaya's CAMB
                c[1:] /= ells_factor
                c[1:] *= (2 * np.pi) * factor**2
            elif factor != 1:
                c *= factor**2
            cls[s] = c
        if "te" in cls:
            cls["et"] = cls["te"]
        if "pp" in raw and key != "unlensed_Cl":
            pp = np.array(raw["pp"], dtype=float, copy=True)
            if not ell_factor:
                pp[1:] /= ells_factor**2 / (2 * np.pi)
            cls["pp"] = pp
        return cls

    def get_Cl(self, ell_factor=False, units="FIRASmuK2"):
        return self._get_Cl("Cl", ell_factor, units)

    def get_unlensed_Cl(self, ell_factor=False, units="FIRASmuK2"):
        return self._get_Cl("unlensed_Cl", ell_factor, units)

    def get_lensed_scal_Cl(self, ell_factor=False, units="FIRASmuK2"):
        return self._get_Cl("lensed_scal_Cl", ell_factor, units)

    def get_source_Cl(self):
        return self.current_state["source_Cl"]
