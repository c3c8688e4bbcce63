"""The Cobaya examples in examples/ load as they are and give a finite posterior at their
reference point, served by the emulator they name (so the README's demo cannot rot unnoticed)."""

import os

import numpy as np
import pytest
import yaml

pytest.importorskip("cobaya", reason="cobaya is not installed (pip install zelos[cobaya])")

from cobaya.model import get_model  # noqa: E402

from zelos.shipped import shipped_names  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "cobaya_packages"))
EXAMPLES = ["cobaya_bao_sn.yaml", "cobaya_planck_bao_sn.yaml", "cobaya_bao_rsd.yaml", "cobaya_planck_w0wa.yaml",
            "cobaya_planck_mnu.yaml", "cobaya_planck_nnu.yaml", "cobaya_planck_omk.yaml"]

pytestmark = pytest.mark.skipif(
    not os.path.isdir(os.path.join(PACKAGES, "data", "planck_2018_pliklite_native")),
    reason=f"the likelihood data are not at {PACKAGES} (see ../shared/data/README.md)")


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_example_loads_and_its_reference_point_is_emulated(name, tmp_path):
    with open(os.path.join(ROOT, "examples", name)) as f:
        info = yaml.safe_load(f)
    missing = set(info["theory"]["zelos"]["emulators"]) - set(shipped_names())
    if missing:
        pytest.skip(f"{', '.join(sorted(missing))} not shipped yet")
    info["packages_path"] = PACKAGES
    info["theory"]["zelos"]["log"] = str(tmp_path / "points")
    info["theory"]["zelos"]["spot_check"] = 0
    for key in ("sampler", "output"):
        info.pop(key, None)
    model = get_model(info)
    try:
        result = model.logposterior(model.prior.reference(random_state=1))
        assert np.isfinite(result.logpost), result
        assert all(np.isfinite(result.loglikes))
        summary = model.theory["zelos"].summary()
        assert summary["calls"] == 1 and summary["emulated"] == 1, summary
    finally:
        model.close()


def test_the_planck_example_keeps_tau_physical():
    """tau in Planck's [0.01, 0.8] with the low-ell Gaussian as an external prior: a plain
    Gaussian would let a burn-in reach tau < 0 (CAMB warns; logged, it widens a retrain's box)."""
    with open(os.path.join(ROOT, "examples", "cobaya_planck_bao_sn.yaml")) as f:
        info = yaml.safe_load(f)
    assert info["params"]["tau"]["prior"]["min"] >= 0.01
    assert "tau" in info["prior"]["tau_lowE"]
