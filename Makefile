# zelos: set-up, tests, demo and benchmarks. Every target works on a fresh machine.
#   make demo   set up ./.venv and run the main job
#   make test   set up and run every test (cargo test + pytest)

VENV        ?= .venv
PYTHON      ?= python3
PY          := $(VENV)/bin/python
PIP         := $(PY) -m pip
# --no-compile: pip would byte-compile every file it installs (tens of thousands for torch,
# TensorFlow and jax, minutes of CPU on 2 cores); Python compiles what is imported, once, and
# keeps it: PYTHONDONTWRITEBYTECODE (set on this project's machines) is not passed on, for
# without cached bytecode each process importing TensorFlow, torch and jax compiled them again
# (19 s instead of 8, measured).
INSTALL     := $(PIP) install -q --no-compile
unexport PYTHONDONTWRITEBYTECODE
# Thread counts on purpose: 2-core machines slow down with oversubscribed BLAS pools.
export OPENBLAS_NUM_THREADS ?= 1
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

RUST_SOURCES := $(shell find src -name '*.rs') Cargo.toml Cargo.lock
PY_SOURCES   := $(shell find python -name '*.py')

.PHONY: setup setup-ci test rust-tests-then-module gfortran build-rust-tests test-rust test-python demo demo-w0wa demo-mnu demo-nnu demo-omk demo-build fidelity bench wheel clean

# Python dependencies (re-run when pyproject.toml changes): first what zelos builds against and
# what the demo and most tests need, then the extras (`make test` compiles Rust meanwhile).
$(VENV)/.deps-core: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(INSTALL) "maturin>=1.7,<2" "numpy>=1.22" "scipy>=1.8" "pyyaml>=6" "pytest>=7" \
		"camb==2.0.5" "matplotlib>=3.5" "tqdm>=4.60" "dask[distributed]" "cobaya==3.6.2" getdist \
		"pytest-xdist>=3.5" typing-extensions filelock
	touch $@

$(VENV)/.deps: $(VENV)/.deps-core
	# The extras, all optional for users of zelos, in three pips at once: each waits mostly on
	# the network or on one core, and they install disjoint packages (their shared dependencies
	# come with the core: numpy, jinja2, fsspec, typing-extensions, filelock). classy builds CLASS
	# from source (about 2 minutes). jax and cosmopower-jax: zelos.jax and the CosmoPower import
	# tests; MPI from wheels (mpiexec and libmpi in the venv): the Cobaya plugin's MPI test; then
	# TensorFlow on CPU: zelos.tf. PyTorch: zelos.torch (docs/frameworks.md). PyPI's Linux torch
	# cannot import without its CUDA packages (5.4 GB, 2.5 minutes on a fresh machine); PyTorch's
	# CPU index serves the same torch without them, and PyPI is the fallback where that index
	# cannot be reached, as on a machine that only reaches PyPI (one retry: pip's default five
	# spent 15 s on a machine that cannot resolve its name).
	$(INSTALL) "classy==3.4.1" & classy=$$!; \
	{ $(INSTALL) --retries 1 --timeout 20 torch --index-url https://download.pytorch.org/whl/cpu \
	  || $(INSTALL) torch; } & torch=$$!; \
	$(INSTALL) "jax[cpu]" "cosmopower-jax==0.5.8" "mpich==5.0.2" "mpi4py==4.1.2" tensorflow-cpu; rest=$$?; \
	wait $$torch && wait $$classy && exit $$rest
	touch $@

# zelos itself, built into the venv (re-built when Rust sources change). `make setup` and the
# demo build with the release profile (thin LTO, one codegen unit: the speed benchmarks quote);
# `make test` with the `ci` profile (Cargo.toml: the same optimisation level, no LTO, parallel
# codegen), which compiles in about half the time; tests never measure speed.
$(VENV)/.zelos-%: $(VENV)/.deps-core $(RUST_SOURCES) pyproject.toml
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop --profile $* -q
	rm -f $(VENV)/.zelos-*
	touch $@

setup: $(VENV)/.deps $(VENV)/.zelos-release

setup-ci: $(VENV)/.deps $(VENV)/.zelos-ci

# The set-up overlaps what waits on the network with what waits on the CPU: the Rust tests compile
# and run (they need no Python) while pip installs the dependencies, then maturin builds zelos
# into the venv, then pytest runs.
#
# The order matters: the Python module and the plain C library (which tests/capi.rs links) are
# both target/ci/deps/libzelos.so to cargo (a cdylib's name carries no hash), so whichever is built
# last makes the other stale. Built in this order, the crate's dependencies compile once (about
# 80% of the compile; a separate target folder for maturin compiled them twice), the library
# once for each, the tests once, and test_wheel's `maturin build` finds the module fresh.
test:
	$(MAKE) -j3 $(VENV)/.deps rust-tests-then-module
	$(MAKE) test-python

rust-tests-then-module: test-rust $(VENV)/.deps-core
	$(MAKE) $(VENV)/.zelos-ci

# gfortran (for the C API's Fortran example, tests/capi.rs) is installed from Debian's packages
# when missing and run as root (under `make test`'s -j3, while the tests compile); otherwise that
# test says it is skipped (and fails where CI=true or ZELOS_REQUIRE_FORTRAN=1). MAKEFLAGS and
# MFLAGS are emptied for cargo: they name make's job server, whose descriptors only recursive make
# lines receive, and cargo warned that it could not open them.
test-rust: gfortran build-rust-tests
	MAKEFLAGS= MFLAGS= cargo test --profile ci -q

build-rust-tests:
	MAKEFLAGS= MFLAGS= cargo test --profile ci --no-run -q

gfortran:
	@command -v gfortran >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gfortran >/dev/null; }; } \
		|| echo "gfortran not installed (needs root and apt-get): the Fortran C API test will be skipped (and fail where CI=true)"

# Test files run in parallel worker processes (pytest-xdist; a file's tests stay together so its
# module fixtures are built once). Most tests run one CAMB or one network at a time, and many wait
# on a subprocess, a file or a server: with two workers on 2 cores a background job at the lowest
# priority still got about half a core, so a third worker fills that.
PYTEST_WORKERS ?= 3
test-python: setup-ci
	$(PY) -m pytest -q tests/python -n $(PYTEST_WORKERS) --dist loadfile

# The main job: a real Cobaya MCMC (DESI DR2 + Union3) on the emulator shipped with zelos.
demo: setup
	$(PY) examples/demo_chain.py

# The same on flat w0waCDM, with Planck lensing (CAMB_w0wa_CMB; docs/accuracy.md).
demo-w0wa: setup
	$(PY) examples/demo_chain.py --w0wa

# The same in flat LCDM + Sum m_nu (CAMB_mnu_CMB; docs/accuracy.md).
demo-mnu: setup
	$(PY) examples/demo_chain.py --mnu

# The same in flat LCDM + N_eff (CAMB_nnu_CMB; docs/accuracy.md).
demo-nnu: setup
	$(PY) examples/demo_chain.py --nnu

# The same in LCDM + Omega_k (CAMB_omk_CMB; docs/accuracy.md).
demo-omk: setup
	$(PY) examples/demo_chain.py --omk

# Reweight the demo chain with exact CAMB likelihoods (docs/accuracy.md); run after `make demo`.
fidelity: setup
	$(PY) examples/posterior_fidelity.py

# Build a small emulator with real CAMB and check it against CAMB.
demo-build: setup
	$(PY) examples/build_demo.py

bench: setup
	cargo bench --bench eval
	$(PY) benches/bench_eval.py

# The abi3 wheel (one for every CPython >= 3.9): installs with no Rust on the machine
# (tests/python/test_wheel.py installs one into a fresh venv and runs an emulator and Cobaya).
wheel: $(VENV)/.deps-core
	$(VENV)/bin/maturin build --release --out dist

clean:
	rm -rf $(VENV) target dist demo-out
