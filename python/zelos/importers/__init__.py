"""Importers: pre-trained emulators from other packages, written as zelos archives.

Each importer reads another package's saved networks without running any of its code (see
:mod:`zelos.importers.safe_pickle`) and writes an archive that loads like any built one.
"""

from .safe_pickle import UnsafeFileError

__all__ = ["UnsafeFileError"]
