"""Emulator outputs read from a computed code (real classy, or :class:`CambClass`), in the
emulators' own schema (docs/model.md): ``H`` [km/s/Mpc] and ``D_M`` [Mpc] on the emulator's z
grid, ``dl_tt`` [muK^2] on its ell grid, ``pk_lin`` [Mpc^3] on its (z, k) grid, derived scalars.

Fallback points are logged with these (so ``zelos retrain`` can train on them), and spot checks
compare them with what the emulators said.
"""

from __future__ import annotations

import numpy as np

from ..physics import C_KM_S, s8
from ..serving.cmb import cl_to_dl
from ..serving.names import CLASSY_NAME as DERIVED_NAMES  # emulator output -> classy's derived name


def read_output(cosmo, emulator, name: str, t_cmb: float, partial: bool = False) -> np.ndarray:
    """One output of ``emulator``'s schema, from a computed classy-like ``cosmo``. With
    ``partial``, C_l beyond what the run computed (``l_max_scalars``) are left out: the array
    then covers the emulator's first multipoles only."""
    o = emulator.outputs[name]
    if name in ("H", "D_A", "D_M", "D_V"):
        z = emulator.grids[o.axes[0]]
        if name == "H":
            return np.asarray(cosmo.Hubble(z), float) * C_KM_S
        d_a = np.asarray(cosmo.angular_distance(z), float)
        if name == "D_A":
            return d_a
        d_m = d_a * (1.0 + z)
        if name == "D_M":
            return d_m
        h = np.asarray(cosmo.Hubble(z), float)
        return np.cbrt(z * d_m**2 / h)
    if name.startswith("dl_"):
        s = name[3:]
        ell = emulator.grids[o.axes[0]].astype(np.int64)
        lensed = bool(emulator.spec["outputs"]["cmb"].get("lensed", True)) or s == "pp"
        get = cosmo.lensed_cl if lensed else cosmo.raw_cl
        if partial:
            cl = get()  # to the run's l_max_scalars
            ell = ell[ell < len(cl["ell"])]
        else:  # CAMB computed to the emulators' lmax (nofail reads past l_max_scalars); CLASS did not
            cl = get(int(ell[-1]), True) if getattr(cosmo, "zelos_camb", False) else get(int(ell[-1]))
        return cl_to_dl(np.asarray(cl[s], float)[ell], ell, s, t_cmb)
    if name in ("pk_lin", "pk_nonlin"):
        zg, kg = emulator.grids[o.axes[0]], emulator.grids[o.axes[1]]
        f = cosmo.pk_lin if name == "pk_lin" else cosmo.pk
        return np.array([[f(float(k), float(z)) for k in kg] for z in zg])
    if name == "omegal":  # dark energy today: Lambda and a CLASS fluid (CAMB's omega_de holds both)
        fld = getattr(cosmo, "Omega_fld", None)
        return np.asarray(float(cosmo.Omega_Lambda()) + (float(fld()) if fld is not None else 0.0))
    if name == "S8":
        return np.asarray(s8(float(cosmo.sigma8()), float(cosmo.Omega_m())))
    return np.asarray(float(cosmo.get_current_derived_parameters([DERIVED_NAMES[name]])[DERIVED_NAMES[name]]))


def read_outputs(cosmo, emulators: dict, t_cmb: float, partial: bool = False, only=None) -> tuple:
    """``({name: array}, {name: why not})`` for every output of ``emulators`` (``{key:
    Emulator}``); an output the computation cannot give (an ell or k beyond what the run
    computed) is left out with the reason. An output name that two emulators share is read for
    the first under its name and for the others as ``KEY:name`` (their grids may differ).
    ``only(name)``: when given, the outputs it refuses are not read."""
    out, missing = {}, {}
    for key, emu in emulators.items():
        for name in emu.outputs:
            if only is not None and not only(name):
                continue
            label = f"{key}:{name}" if name in out or name in missing else name
            try:
                out[label] = read_output(cosmo, emu, name, t_cmb, partial)
            except Exception as e:  # noqa: BLE001 -- an output the run did not compute is not an error here
                missing[label] = str(e).strip()
    return out, missing
