"""Finding emulators from the command line and by name: `zelos --version`, `zelos list`,
`zelos info` with grids, `zelos spec NAME`, names in any case, suggestions for typos."""

import json
import subprocess
import sys

import pytest

import zelos
from zelos.shipped import shipped_names


def zelos_cli(*args, check=True):
    r = subprocess.run([sys.executable, "-m", "zelos", *args], capture_output=True, text=True, timeout=120)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def test_version():
    assert zelos_cli("--version").stdout.strip() == f"zelos {zelos.__version__}"


def test_list_names_every_shipped_emulator_with_its_parameters():
    rows = json.loads(zelos_cli("list", "--json").stdout)
    assert [r["name"] for r in rows] == shipped_names() and len(rows) >= 4
    for r in rows:
        assert r["parameters"] == list(zelos.get_emulator(r["name"]).parameters)
    text = zelos_cli("list").stdout
    assert all(name in text for name in shipped_names())
    # Accuracy as a chain feels it where `zelos validate` measured it (what the router ranks by)
    cmb = next(r for r in rows if r["name"] == "CAMB_LCDM_CMB")
    assert cmb["validated"]["likelihood"] == "planck_2018_highl_plik.TTTEEE_lite_native"
    assert cmb["validated"]["abs_delta_chi2_p99"] < 0.1
    line = next(line for line in text.splitlines() if line.strip().startswith("CAMB_LCDM_CMB "))
    assert "validated p99 |delta chi2| 0.037" in line and "max rel. error" not in line


@pytest.mark.parametrize("spelling", ["camb_lcdm_background", "CAMB_LCDM_BACKGROUND", "Camb_Lcdm_Background.tar.gz"])
def test_shipped_names_in_any_case(spelling):
    assert zelos.get_emulator(spelling).name == "CAMB_LCDM_background"


def test_an_unknown_name_gets_suggestions():
    with pytest.raises(zelos.ZelosError, match="did you mean CAMB_LCDM_CMB"):
        zelos.get_emulator("CAMB_LCDM_CMBB")
    r = zelos_cli("info", "CAMB_LDCM_growth", check=False)
    assert r.returncode == 1 and "did you mean CAMB_LCDM_growth" in r.stderr


def test_info_shows_the_grids():
    out = zelos_cli("info", "CAMB_LCDM_linear_Pk").stdout
    emu = zelos.get_emulator("CAMB_LCDM_linear_Pk")
    for axis, values in emu.grids.items():
        line = next(l for l in out.splitlines() if l.split()[:2] == ["grid", axis])
        assert f"{len(values)} nodes" in line
    # A short z grid is shown node by node: users need to know where interpolation happens.
    z_axis = emu.outputs["pk_lin"].axes[0]
    line = next(l for l in out.splitlines() if l.split()[:2] == ["grid", z_axis])
    assert all(f"{z:g}" in line for z in emu.grids[z_axis])


def test_spec_of_a_shipped_emulator_is_printed_and_valid(tmp_path):
    text = zelos_cli("spec", "CAMB_LCDM_background").stdout
    assert text == zelos.get_emulator("CAMB_LCDM_background").spec_yaml
    path = tmp_path / "bg.yaml"
    path.write_text(text)
    assert "valid" in zelos_cli("spec", str(path)).stdout
