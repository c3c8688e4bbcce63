import fcntl
import hashlib
import os

import numpy as np
import pytest
import yaml

import zelos
from zelos.testing import random_archive

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="session")
def archives(tmp_path_factory):
    """A few random-weight archives, built once per session."""
    d = tmp_path_factory.mktemp("archives")
    paths = {}
    paths["tanh32"] = d / "tanh32.tar.gz"
    random_archive(paths["tanh32"], dtype=np.float32, seed=1)
    paths["cp64"] = d / "cp64.tar.gz"
    random_archive(paths["cp64"], hidden=3, width=48, n_out=300, activation="cosmopower", dtype=np.float64, seed=2, pca=20, log=True)
    paths["silu64"] = d / "silu64.tar.gz"
    random_archive(paths["silu64"], hidden=2, width=32, n_out=50, activation="silu", dtype=np.float64, seed=3)
    paths["skip32"] = d / "skip32.tar.gz"  # a linear skip connection (transforms `baseline: linear`)
    random_archive(paths["skip32"], hidden=2, width=32, n_out=120, dtype=np.float32, seed=4, pca=12, log=True, skip=True)
    paths["skip64"] = d / "skip64.tar.gz"
    random_archive(paths["skip64"], hidden=2, width=32, n_out=120, activation="cosmopower", dtype=np.float64, seed=5,
                   pca=12, log=True, skip=True)
    return paths


def _cached_build(tag: str, spec, log=print) -> str:
    """The archive `zelos build` makes from ``spec`` (a spec file's path, or a spec as a dict,
    then written next to the archive), cached under build-out/tests/<tag>-<key>, the key hashing
    the spec's text and zelos's version. An archive there that no longer loads is rebuilt."""
    if isinstance(spec, dict):
        text, name = yaml.safe_dump(spec, sort_keys=False).encode(), spec["name"]
    else:
        text = open(spec, "rb").read()
        name = yaml.safe_load(text)["name"]
    key = hashlib.sha256(text + zelos.__version__.encode()).hexdigest()[:16]
    out = os.path.join(ROOT, "build-out", "tests", f"{tag}-{key}")
    path = os.path.join(out, f"{name}.tar.gz")
    # pytest-xdist runs test files in parallel processes: one builds, the others wait for it.
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(f"{out}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build_or_reuse(out, path, name, text, spec, log)


def _build_or_reuse(out, path, name, text, spec, log) -> str:
    from zelos.build import BuildOptions, build

    if os.path.exists(path):
        try:
            zelos.load(path)
            return path
        except zelos.ZelosError:
            os.remove(path)
    if isinstance(spec, dict):
        os.makedirs(out, exist_ok=True)
        spec = os.path.join(out, f"{name}.yaml")
        with open(spec, "wb") as f:
            f.write(text)
    return build(spec, BuildOptions(out_dir=out, processes=2, progress=False, plots=False), log=log).path


@pytest.fixture(scope="session")
def cached_build():
    """:func:`_cached_build`, for fixtures that build an emulator once and reuse it across runs."""
    return _cached_build



# The files that take longest (a minute or more on 2 cores: --durations), started first. With
# `-n 2 --dist loadfile` a worker takes files in collection order; one of these collected last
# kept one worker busy for minutes while the other sat idle (longest first shortens the tail).
LONGEST_FIRST = ("test_doc_blocks.py", "test_wheel.py", "test_cobaya_planck.py", "test_torch.py",
                 "test_shipped.py", "test_active_learning.py", "test_montepython.py", "test_cobaya_classy.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order
