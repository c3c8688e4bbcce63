"""Emulators shipped inside the package: found by name with no download, built from the
specs in specs/ as they stand, and accurate as their reports say."""

import os

import numpy as np
import pytest

import zelos
from zelos.shipped import shipped_names
from zelos.spec import canonical_yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_background_emulator_ships():
    assert "CAMB_LCDM_background" in shipped_names()


@pytest.mark.parametrize("name", shipped_names())
def test_a_shipped_emulator_is_found_by_name_and_matches_its_spec(name):
    emu = zelos.get_emulator(name)
    assert emu.name == name
    spec_file = {"CAMB_LCDM_background": "camb_lcdm_background.yaml"}[name]
    # Never any ambiguity: the archive's spec is exactly the spec in specs/.
    assert emu.spec_yaml == canonical_yaml(os.path.join(ROOT, "specs", spec_file))
    assert emu.report["summary"]["max_relative_error"] < 1e-4


def test_the_shipped_background_emulator_agrees_with_camb():
    from zelos.build.plan import plan
    from zelos.drivers import get_driver

    emu = zelos.get_emulator("CAMB_LCDM_background")
    p = plan(emu.spec)
    driver = get_driver("camb", emu.spec["code"]["settings"], p.request, version=emu.spec["code"]["version"])
    point = {"ombh2": 0.02218, "omch2": 0.1195, "H0": 68.4}
    truth, ours = driver.compute(point), emu(point)
    for name in ("H", "D_M", "rdrag", "omegam", "zdrag"):
        np.testing.assert_allclose(ours[name], truth[name], rtol=1e-4, err_msg=name)
