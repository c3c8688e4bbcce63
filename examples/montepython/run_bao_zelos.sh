#!/usr/bin/env bash
# Runs examples/montepython/bao_zelos.param with the real MontePython (3.6) and zelos as its
# classy, then (unless CLASSY_STEPS=0) the same chain with the real classy for comparison, and
# prints the time per step of both.
#
#   examples/montepython/run_bao_zelos.sh /path/to/montepython_public [STEPS] [WORKDIR]
#
# STEPS: MontePython steps of the zelos chain (default 2000). CLASSY_STEPS: those of the classy
# chain (default 300). WORKDIR (default: a new temporary folder) receives the stand-in CLASS
# folder, the .conf file and chains/; MontePython's own folder is not modified. PYTHON: the
# Python with zelos (and classy, camb) installed (default: python).
#
# The optional test that runs the same file for 200 steps:
#   MONTEPYTHON_DIR=/path/to/montepython_public pytest tests/python/test_montepython_real.py
set -euo pipefail

MP=${1:?usage: $0 /path/to/montepython_public [STEPS] [WORKDIR]}
STEPS=${2:-2000}
WORK=${3:-$(mktemp -d -t zelos_montepython.XXXXXX)}
CLASSY_STEPS=${CLASSY_STEPS:-300}
PY=${PYTHON:-python}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MP=$(cd "$MP" && pwd)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}

mkdir -p "$WORK"
cd "$WORK"
if [ -e chains/bao_zelos ] || [ -e chains/bao_classy ]; then
    echo "$WORK/chains already holds bao_zelos or bao_classy (MontePython would continue them): use another WORKDIR" >&2
    exit 2
fi
"$PY" -m zelos.montepython prepare-class "$WORK/zelos_class"
echo "path['cosmo'] = '$WORK/zelos_class'" > zelos.conf

now() { "$PY" -c 'import time; print(time.time())'; }
per_step() { "$PY" -c "import sys; t0, t1, n = map(float, sys.argv[1:]); print(f'{t1 - t0:.1f} s for {n:.0f} steps: {1e3 * (t1 - t0) / n:.2f} ms a step (start-up included)')" "$@"; }

echo "== MontePython with zelos (CAMB_LCDM_background), $STEPS steps, in $WORK"
t0=$(now)
"$PY" -m zelos.montepython "$MP" run -p "$HERE/bao_zelos.param" -o chains/bao_zelos -N "$STEPS" --conf zelos.conf \
    2>&1 | tee bao_zelos.out
t1=$(now)
ZELOS=$(per_step "$t0" "$t1" "$STEPS")

if [ "$CLASSY_STEPS" != 0 ]; then
    echo "== plain MontePython with the real classy, $CLASSY_STEPS steps"
    grep -v "zelos_" "$HERE/bao_zelos.param" > bao_classy.param   # the same file without the zelos_* lines
    t0=$(now)
    "$PY" "$MP/montepython/MontePython.py" run -p bao_classy.param -o chains/bao_classy -N "$CLASSY_STEPS" \
        --conf zelos.conf 2>&1 | tee bao_classy.out
    t1=$(now)
    CLASSY=$(per_step "$t0" "$t1" "$CLASSY_STEPS")
fi

echo
echo "zelos:  $ZELOS"
[ "$CLASSY_STEPS" != 0 ] && echo "classy: $CLASSY"
grep '^\[zelos\] [0-9]* points' bao_zelos.out | tail -n 1
echo "chains: $WORK/chains (zelos point log: $WORK/chains/zelos_points)"
echo "analyse: $PY $MP/montepython/MontePython.py info $WORK/chains/bao_zelos"
