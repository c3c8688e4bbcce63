"""CMB spectra in the emulators' schema (D_l = l(l+1) C_l / 2 pi in muK^2; lensing potential
[l(l+1)]^2 C_l^phiphi / 2 pi, dimensionless) and in the codes' dimensionless C_l."""

from __future__ import annotations

import numpy as np

from ..code_inputs import T_CMB_SETTING
from ..physics import T_CMB


def t_cmb_of(emulator) -> float:
    """The CMB temperature [K] an emulator's D_l are in (its code settings', else 2.7255 K)."""
    code = emulator.spec["code"]
    return float((code.get("settings") or {}).get(T_CMB_SETTING[code["name"]], T_CMB))


def dl_dimensionless(dl, spectrum: str, t_cmb: float) -> np.ndarray:
    """D_l [muK^2] -> l(l+1) C_l / 2 pi, dimensionless (CAMB's raw output; ``pp`` unchanged)."""
    dl = np.asarray(dl, float)
    return dl if spectrum == "pp" else dl / (t_cmb * 1e6) ** 2


def dl_to_cl(dl, ell, spectrum: str, t_cmb: float) -> np.ndarray:
    """D_l [muK^2] at multipoles ``ell`` (>= 2) -> dimensionless C_l (classy's ``lensed_cl``)."""
    l = np.asarray(ell, float)
    d = np.asarray(dl, float)
    if spectrum == "pp":
        return d * 2.0 * np.pi / (l * (l + 1.0)) ** 2
    return d * 2.0 * np.pi / (l * (l + 1.0)) / (t_cmb * 1e6) ** 2


def cl_to_dl(cl, ell, spectrum: str, t_cmb: float) -> np.ndarray:
    """Dimensionless C_l at multipoles ``ell`` -> D_l [muK^2] (the inverse of :func:`dl_to_cl`)."""
    l = np.asarray(ell, float)
    c = np.asarray(cl, float)
    if spectrum == "pp":
        return c * (l * (l + 1.0)) ** 2 / (2.0 * np.pi)
    return c * l * (l + 1.0) / (2.0 * np.pi) * (t_cmb * 1e6) ** 2
