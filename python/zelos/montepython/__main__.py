"""``python -m zelos.montepython``: MontePython with zelos as its classy (docs/montepython.md).

    python -m zelos.montepython prepare-class DIR
        makes DIR a stand-in CLASS folder for MontePython's `path['cosmo']`
    python -m zelos.montepython MONTEPYTHON_DIR ARGS...
        runs MONTEPYTHON_DIR/montepython/MontePython.py ARGS... with zelos installed as `classy`
"""

from __future__ import annotations

import sys

USAGE = __doc__.split("\n", 2)[2]


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print("usage:\n" + USAGE)
        return 0 if argv else 2
    if argv[0] == "prepare-class":
        if len(argv) != 2:
            print("usage: python -m zelos.montepython prepare-class DIR", file=sys.stderr)
            return 2
        from .launcher import prepare_class_folder

        for line in prepare_class_folder(argv[1]):
            print(line)
        return 0
    from .launcher import find_montepython, run_montepython

    try:
        script = find_montepython(argv[0])
    except FileNotFoundError as e:
        print(f"zelos.montepython: {e}", file=sys.stderr)
        return 2
    return run_montepython(script, argv[1:])


if __name__ == "__main__":
    sys.exit(main())
