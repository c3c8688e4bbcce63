"""Physical constants and the small formulas zelos uses in several places (one definition each).

Units as the codes and the emulators' schema use them: km/s, K, Mpc.
"""

from __future__ import annotations

import math

#: The speed of light [km/s]: H [km/s/Mpc] / C_KM_S is H in 1/Mpc; C_KM_S / H0 is D_M/z at z = 0.
C_KM_S = 299792.458
#: The CMB temperature today [K]: CAMB's and CLASS's default (emulated D_l are in its muK^2).
T_CMB = 2.7255
#: (4/11)^(1/3): the standard ratio of the neutrino to the photon temperature.
NU_T_RATIO = (4.0 / 11.0) ** (1.0 / 3.0)
#: The matter density S8 is normalised to.
S8_OMEGA_M = 0.3


def s8(sigma8: float, omegam: float) -> float:
    """S8 = sigma8 sqrt(Omega_m / 0.3) (the definition every driver and plugin uses)."""
    return sigma8 * math.sqrt(omegam / S8_OMEGA_M)
