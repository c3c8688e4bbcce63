"""zelos as a Cobaya theory: ``theory: {zelos: {emulators: [...]}}`` (docs/cobaya.md).

Cobaya finds the class through :func:`zelos.get_cobaya_class`; it needs ``cobaya`` installed
(``pip install "zelos-cosmo[cobaya]"``).
"""

from .theory import Zelos

__all__ = ["Zelos", "get_cobaya_class"]


def get_cobaya_class():
    return Zelos
