import numpy as np
import pytest

from zelos.testing import random_archive


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
    return paths
