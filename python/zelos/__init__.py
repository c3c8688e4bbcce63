"""zelos: emulators of cosmological Boltzmann codes (CAMB, CLASS).

>>> import zelos
>>> emu = zelos.get_emulator("CAMB_LCDM_linear_Pk")   # shipped: by name; or zelos.load(PATH)
>>> emu.parameters
('ombh2', 'omch2', 'H0', 'logA', 'ns')
>>> params = {"ombh2": 0.0224, "omch2": 0.12, "H0": 67.3, "logA": 3.045, "ns": 0.965}
>>> out = emu(params)                                 # dict of numpy arrays
>>> sorted(out)
['pk_lin', 'sigma8']
>>> pk = emu(params, k=[0.01, 0.1], z=[0.0, 1.0])     # P(k, z) [Mpc^3], shape (nz, nk)
>>> pk.shape
(2, 2)
>>> jac = emu.jacobian(params)                        # d output / d parameter

`zelos list` names the emulators that ship with zelos; docs/ and README.md say the rest.

An archive is verified (sha256 of every member, safe paths, size limits) before anything in it
is used; see docs/archive.md.
"""

from ._zelos import (
    ARCHIVE_FORMAT_VERSION,
    ArchiveError,
    HubError,
    ModelError,
    OutOfMemory,
    OutOfRange,
    ParameterError,
    SpecError,
    ZelosError,
    __version__,
)
from . import hub
from .emulator import Emulator, OutputInfo, get_emulator, load
from .routing import PointLog, Router, TrustRegion, read_point_log
from .spec import load_spec


def get_cobaya_class():
    """The Cobaya theory class, for ``theory: zelos`` in Cobaya input (Cobaya imports module
    ``zelos`` and calls this). Needs cobaya installed; see docs/cobaya.md."""
    from .cobaya import Zelos

    return Zelos

__all__ = [
    "ARCHIVE_FORMAT_VERSION",
    "ArchiveError",
    "Emulator",
    "HubError",
    "ModelError",
    "OutOfMemory",
    "OutOfRange",
    "OutputInfo",
    "ParameterError",
    "PointLog",
    "Router",
    "SpecError",
    "TrustRegion",
    "ZelosError",
    "__version__",
    "get_cobaya_class",
    "get_emulator",
    "hub",
    "load",
    "load_spec",
    "read_point_log",
]
