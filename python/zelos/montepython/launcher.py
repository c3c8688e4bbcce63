"""Running MontePython with zelos as its ``classy``, and the stand-in CLASS folder it checks for.

:func:`run_montepython` puts this package in ``sys.modules["classy"]`` and runs an unchanged
``montepython/MontePython.py`` with ``runpy``, as ``python montepython/MontePython.py ARGS``
would: every ``import classy`` and ``from classy import ...`` in MontePython and its likelihoods,
wherever it happens, gets zelos (MontePython 3.6 puts CLASS's build folder on ``sys.path``, but a
module already in ``sys.modules`` wins).

MontePython also reads the CLASS folder named by ``path['cosmo']`` in its ``.conf`` file: it
needs ``main/class.c`` to recognise CLASS, ``include/common.h`` for the version it prints and
stores, a ``python/build/`` folder to list, and it points CLASS's ``sBBN file`` input at
``external/bbn/sBBN.dat``. :func:`prepare_class_folder` makes such a folder.
"""

from __future__ import annotations

import os
import runpy
import shutil
import sys

from .errors import CLASS_VERSION, real_classy

BBN_FILE = os.path.join("external", "bbn", "sBBN.dat")


def find_montepython(path) -> str:
    """``MontePython.py`` from the montepython_public folder, its ``montepython/`` folder, or the
    file itself."""
    path = os.path.abspath(os.fspath(path))
    for candidate in (path, os.path.join(path, "MontePython.py"), os.path.join(path, "montepython", "MontePython.py")):
        if os.path.isfile(candidate) and os.path.basename(candidate) == "MontePython.py":
            return candidate
    raise FileNotFoundError(f"{path}: no MontePython.py there (expected the montepython_public folder, its "
                            "montepython/ folder, or montepython/MontePython.py itself)")


def install():
    """Makes ``import classy`` give zelos in this process; returns the module installed."""
    from .. import montepython as plugin

    sys.modules["classy"] = plugin
    return plugin


def run_montepython(montepython_dir, arguments: list) -> int:
    """Runs MontePython (``MontePython.py ARGUMENTS``) with zelos as ``classy``; returns its exit
    status. The end-of-run summary is printed at interpreter exit."""
    script = find_montepython(montepython_dir)
    install()
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [script] + list(arguments)
    sys.path.insert(0, os.path.dirname(script))  # as `python MontePython.py` would
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as e:
        code = e.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        print(code, file=sys.stderr)
        return 1
    finally:
        sys.argv = saved_argv
        sys.path[:] = saved_path
    return 0


def prepare_class_folder(directory, version: str = CLASS_VERSION) -> list:
    """Makes ``directory`` a stand-in CLASS folder for MontePython; returns what it says about
    it (lines). Existing files are kept."""
    d = os.path.abspath(os.fspath(directory))
    notes = []
    os.makedirs(os.path.join(d, "main"), exist_ok=True)
    os.makedirs(os.path.join(d, "include"), exist_ok=True)
    os.makedirs(os.path.join(d, "python", "build"), exist_ok=True)
    os.makedirs(os.path.dirname(os.path.join(d, BBN_FILE)), exist_ok=True)
    _write_new(os.path.join(d, "main", "class.c"),
               "/* A stand-in for CLASS's main/class.c, written by `python -m zelos.montepython prepare-class`.\n"
               "   MontePython checks that this file exists to recognise CLASS; zelos answers in its place\n"
               "   (`python -m zelos.montepython MONTEPYTHON_DIR run ...`). */\n")
    _write_new(os.path.join(d, "include", "common.h"),
               "/* A stand-in, written by zelos: MontePython reads CLASS's version from this line. */\n"
               f'#define _VERSION_ "{version}"\n')
    target = os.path.join(d, BBN_FILE)
    classy = real_classy()
    source = None if classy is None else os.path.join(os.path.dirname(classy.__file__), BBN_FILE)
    if os.path.exists(target):
        notes.append(f"{target}: kept")
    elif source and os.path.isfile(source):
        shutil.copyfile(source, target)
        notes.append(f"{target}: copied from the installed classy ({source})")
    else:
        notes.append(f"{target}: NOT written: classy is not installed here, and it is classy's BBN table "
                     "(MontePython points CLASS's `sBBN file` input at it). Runs that compute with CAMB do not "
                     "read it; for CLASS, install classy and run prepare-class again")
    notes.append(f"in your MontePython .conf file: path['cosmo'] = '{d}'")
    return notes


def _write_new(path: str, text: str) -> None:
    if not os.path.exists(path):
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
