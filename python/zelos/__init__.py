"""zelos: emulators of cosmological Boltzmann codes (CAMB, CLASS).

>>> import zelos
>>> emu = zelos.load("CAMB_LCDM_linear_Pk.tar.gz")
>>> out = emu({"ombh2": 0.0224, "omch2": 0.12, ...})          # dict of numpy arrays
>>> pk = emu(params, k=[0.01, 0.1], z=[0.0, 1.0])              # P(k, z) [Mpc^3], shape (nz, nk)
>>> jac = emu.jacobian(params)                                  # d output / d parameter

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
