"""Every spec shipped in specs/ can be built: its driver accepts its settings and computes its
outputs, with the shapes the build expects, at one point of its region."""

import glob
import os

import numpy as np
import pytest

import zelos
from zelos.build.plan import plan
from zelos.drivers import get_driver

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPECS = sorted(glob.glob(os.path.join(ROOT, "specs", "*.yaml")))
# Specs whose shipped emulator test_shipped.py compares with this driver's output at a point of
# its own (the same settings: test_shipped checks each archive's spec against specs/): their
# driver runs there, with the shapes and values checked, and is not run twice.
RUN_BY_TEST_SHIPPED = {"camb_lcdm_background.yaml", "camb_lcdm_linear_pk.yaml", "camb_lcdm_growth.yaml",
                       "camb_linear_matter_power.yaml", "camb_nonlinear_matter_power.yaml",
                       "camb_w0wa_cmb.yaml", "camb_mnu_cmb.yaml", "camb_nnu_cmb.yaml", "camb_omk_cmb.yaml"}


def test_there_are_specs_to_copy():
    names = {os.path.basename(s) for s in SPECS}
    assert {"camb_lcdm_cmb.yaml", "camb_lcdm_linear_pk.yaml"} <= names


@pytest.mark.parametrize("path", [s for s in SPECS if os.path.basename(s) not in RUN_BY_TEST_SHIPPED],
                         ids=os.path.basename)
def test_the_driver_computes_every_output_of_the_spec(path):
    spec = zelos.load_spec(path)
    p = plan(spec)
    driver = get_driver(spec["code"]["name"], spec["code"]["settings"], p.request, version=spec["code"]["version"])
    if "reference" in spec:
        point = dict(spec["reference"]["center"])
    else:
        point = dict(zip(p.parameters, (p.lower + p.upper) / 2))
    out = driver.compute(point)
    for net in p.networks:
        for name, shape, _ in net.outputs:
            assert out[name].shape == tuple(shape), name
            assert np.all(np.isfinite(out[name])), name
    if "dl_tt" in out:
        # the first acoustic peak sits near ell = 220 with D_ell ~ 5700 muK^2
        ell = p.grids["ell"]
        assert 180 < ell[np.argmax(out["dl_tt"][:400])] < 260
        assert 5000 < out["dl_tt"].max() < 6500


NEXT = sorted(glob.glob(os.path.join(ROOT, "specs", "next", "*.yaml")))


@pytest.mark.parametrize("path", NEXT, ids=os.path.basename)
def test_specs_being_built_are_valid_and_camb_takes_their_settings(path):
    """specs/next/ holds builds that span sittings: each must stay buildable between them (its
    settings accepted by CAMB, its design drawn) without computing a point here."""
    import camb

    from zelos.build.design import draw, sizes

    spec = zelos.load_spec(path)
    p = plan(spec)
    driver = get_driver(spec["code"]["name"], spec["code"]["settings"], p.request, version=spec["code"]["version"])
    pars = camb.set_params(**driver.camb_kwargs(dict(spec["reference"]["center"])))
    for key, value in spec["code"]["settings"].items():
        if key.startswith("Accuracy."):
            assert getattr(pars.Accuracy, key.split(".", 1)[1]) == value
    train, test = draw(p, os.path.dirname(path))
    assert (len(train), len(test)) == sizes(spec)
    name = os.path.basename(path)
    assert os.path.exists(os.path.join(ROOT, "specs", name)), "a next version of a shipped spec"
    assert zelos.load_spec(os.path.join(ROOT, "specs", name))["name"] == spec["name"]


def test_the_specs_left_to_test_shipped_are_there():
    assert RUN_BY_TEST_SHIPPED <= {os.path.basename(s) for s in SPECS}


def test_a_k_grid_of_segments_joins_them_end_to_end():
    """`k` as a list of log-spaced segments (denser over the BAO wiggles): each segment's ends as
    written, the node two segments share once, log-spaced within each."""
    from zelos.build.plan import k_values

    k = k_values([{"min": 1e-3, "max": 0.01, "n": 3}, {"min": 0.01, "max": 1.0, "n": 5}])
    assert k.tolist()[0] == 1e-3 and k[2] == 0.01 and k[-1] == 1.0 and len(k) == 7
    np.testing.assert_allclose(np.diff(np.log(k)), [np.log(10) / 2] * 2 + [np.log(100) / 4] * 4, rtol=1e-12)
