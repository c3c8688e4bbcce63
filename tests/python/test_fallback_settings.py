"""Which emulators choose the Cobaya fallback's code settings: not those a run takes out of play
by varying (or fixing elsewhere) a parameter they hold fixed (zelos.cobaya.fallback_settings)."""

import pytest

pytest.importorskip("cobaya", reason="cobaya is not installed (pip install zelos-cosmo[cobaya])")

import zelos  # noqa: E402
from zelos.cobaya.fallback_settings import out_of_play, settle  # noqa: E402

LCDM_INPUTS = {"ombh2", "omch2", "cosmomc_theta", "tau", "As", "ns"}


@pytest.fixture(scope="module")
def emus():
    return {n: zelos.get_emulator(n) for n in ("CAMB_LCDM_CMB", "CAMB_w0wa_CMB")}


def test_an_emulator_holding_a_varied_parameter_is_out_of_play(emus):
    varied = out_of_play(emus, LCDM_INPUTS | {"mnu"}, {})
    assert set(varied) == set(emus)  # both hold mnu at 0.06 eV
    assert "holds `mnu` at 0.06, which this run varies" in varied["CAMB_LCDM_CMB"]
    assert out_of_play(emus, LCDM_INPUTS | {"mnu"}, {"mnu": 0.06}) == {}
    assert "this run at 0.1" in out_of_play(emus, LCDM_INPUTS | {"mnu"}, {"mnu": 0.1})["CAMB_w0wa_CMB"]
    # w and wa: the ΛCDM emulator holds them at CAMB's defaults (-1, 0); the w0wa one varies them
    assert set(out_of_play(emus, LCDM_INPUTS | {"w", "wa"}, {})) == {"CAMB_LCDM_CMB"}
    assert out_of_play(emus, LCDM_INPUTS, {}) == {}


def test_settings_come_from_the_voters_and_the_users_extra_args_win(emus):
    voters = {"CAMB_w0wa_CMB": emus["CAMB_w0wa_CMB"]}
    settled = settle(emus, voters, "camb", {"lens_potential_accuracy": 2})
    assert settled.settings["dark_energy_model"] == "ppf" and settled.settings["lens_potential_accuracy"] == 2
    # the lensing accuracy reaches the spectra, not the background: those set aside, with the reason
    assert settled.excluded == {}
    aside, why = settled.set_aside["CAMB_LCDM_CMB"]
    assert aside == {"dl_tt", "dl_te", "dl_ee", "dl_pp"} and "lens_potential_accuracy" in why
    # another neutrino mass reaches everything: both left out
    assert set(settle(emus, voters, "camb", {"mnu": 0.1}).excluded) == set(emus)
    assert settle(emus, voters, "camb", {}).excluded == {} and settle(emus, voters, "camb", {}).set_aside == {}
