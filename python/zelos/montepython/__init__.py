"""zelos as MontePython's ``classy``: emulators inside their trust regions, the real code outside.

This module has classy's face (``Class``, ``CosmoComputationError``, ``CosmoSevereError``,
``__version__``), so the launcher can install it as ``sys.modules["classy"]`` for a whole
MontePython run (docs/montepython.md)::

    python -m zelos.montepython prepare-class /path/to/zelos_class     # once
    python -m zelos.montepython /path/to/montepython_public run -p lcdm.param -o chains/lcdm

with, in the .param file::

    data.cosmo_arguments['zelos_emulators'] = ['CAMB_LCDM_background']
    data.cosmo_arguments['zelos_log'] = 'chains/zelos_points'

``CosmoComputationError`` and ``CosmoSevereError`` are the real classy's classes when classy is
installed, so MontePython's ``except`` clauses catch the errors of both the real CLASS (in a
fallback) and of zelos.
"""

from .cosmo import Class
from .emulated import ClDict
from .errors import CosmoComputationError, CosmoError, CosmoSevereError, __version__

#: Marks this module as the zelos stand-in when it sits in ``sys.modules["classy"]``.
__zelos__ = True

__all__ = ["Class", "ClDict", "CosmoComputationError", "CosmoError", "CosmoSevereError", "__version__"]
