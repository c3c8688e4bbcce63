"""Which emulators choose the Cobaya fallback's code settings: not those a run takes out of play
by varying (or fixing elsewhere) a parameter they hold fixed, or by not giving an input they take
(zelos.cobaya.fallback_settings)."""

import numpy as np
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


def test_an_emulator_taking_an_input_the_run_lacks_is_out_of_play(emus):
    from zelos.cobaya import params as P

    def lacking(inputs, held=lambda name: None):
        missing = {k: P.missing_parameters(e, inputs) for k, e in emus.items()}
        return out_of_play(emus, inputs, {}, missing, held)

    # a BAO + SN run gives no cosmomc_theta, tau, As, ns: neither CMB emulator can serve it
    bao = lacking({"ombh2", "omch2", "H0"})
    assert set(bao) == set(emus) and "cosmomc_theta" in bao["CAMB_LCDM_CMB"]
    assert "which this run does not give" in bao["CAMB_w0wa_CMB"]
    # a ΛCDM run lacks w and wa, which the fallback holds at CAMB's defaults: the w0wa emulator
    # serves it at those values, and chooses; with nothing held it could serve no point
    assert lacking(LCDM_INPUTS, {"w": -1.0, "wa": 0.0}.get) == {}
    assert "w, wa" in lacking(LCDM_INPUTS)["CAMB_w0wa_CMB"]


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


def test_a_cl_accuracy_setting_sets_aside_only_the_spectra(emus):
    # CAMB_omk_CMB 1.1 trains with a denser C_l k integration: a fallback that takes it computes
    # other C_l than CAMB's default, but the same background, P(k) and sigma8
    settled = settle(emus, {}, "camb", {"Accuracy.IntkAccuracyBoost": 3})
    aside, why = settled.set_aside["CAMB_LCDM_CMB"]
    assert aside == {"dl_tt", "dl_te", "dl_ee", "dl_pp"} and "`Accuracy.IntkAccuracyBoost`: trained with 1.0" in why
    # CAMB's own default, given explicitly, is no disagreement
    explicit = settle(emus, {}, "camb", {"Accuracy.IntkAccuracyBoost": 1.0})
    assert explicit.excluded == {} and explicit.set_aside == {}
    # a setting that reaches the perturbations everywhere (AccuracyBoost) still sets aside all of it
    assert set(settle(emus, {}, "camb", {"AccuracyBoost": 2}).excluded) == set(emus)


def _rdrag_archive(path, name: str, parameters: dict, settings: str, rdrag: float) -> str:
    """A constant emulator of r_drag (CAMB-trained) with these ``parameters`` and code settings."""
    from zelos.testing import constant_archive

    params = "\n".join(f"  {p}: [{lo!r}, {hi!r}]" for p, (lo, hi) in parameters.items())
    spec = (f"name: {name}\nauthor: zelos tests\nversion: 0.0.1\n"
            f'code:\n  name: camb\n  version: "2.0.5"\n  settings: {settings}\n'
            f"parameters:\n{params}\noutputs:\n  derived: [rdrag]\n")
    constant_archive(path, spec, parameters, {"derived": [("rdrag", np.array(rdrag), ())]}, {}, accuracy=1e-4)
    return str(path)


def test_in_a_run_varying_mnu_the_emulator_that_varies_it_sets_the_neutrinos(tmp_path):
    """Listed first, an emulator holding mnu = 0.06 in one eigenstate would have made the fallback
    one-eigenstate and left out the emulator trained on three degenerate ones, which alone can
    serve this run; out of play, it no longer chooses."""
    from cobaya.model import get_model

    box = {"ombh2": (0.020, 0.025), "omch2": (0.10, 0.14), "H0": (60.0, 80.0)}
    held = _rdrag_archive(tmp_path / "held.tar.gz", "held", box, "{mnu: 0.06, num_massive_neutrinos: 1}", 147.0)
    varies = _rdrag_archive(tmp_path / "varies.tar.gz", "varies", {**box, "mnu": (0.0, 0.5)},
                            "{num_massive_neutrinos: 3}", 146.0)
    info = {"theory": {"zelos": {"emulators": [held, varies], "check_at_start": False}},
            "likelihood": {"bao": {"external": lambda _self=None: 0.0, "requires": {"rdrag": None}}},
            "params": {"ombh2": 0.0224, "omch2": 0.12, "H0": 68.0, "mnu": {"prior": {"min": 0.0, "max": 0.5}}}}
    model = get_model(info)
    try:
        theory = model.theory["zelos"]
        assert theory._settings["num_massive_neutrinos"] == 3
        assert "varies" not in theory._excluded
        assert "num_massive_neutrinos" in theory._excluded["held"]
        model.logposterior({"mnu": 0.2})
        assert theory.last_emulators == ("varies",)
        assert model.provider.get_param("rdrag") == pytest.approx(146.0)
    finally:
        model.close()


def test_every_shipped_emulator_in_rank_order():
    from zelos.serving.session import ranked
    from zelos.shipped import shipped_names

    order = list(ranked({n: zelos.get_emulator(n) for n in shipped_names()}))
    validated = [n for n in order if zelos.get_emulator(n).report.get("likelihood_accuracy")]
    assert order[:len(validated)] == validated  # every validated emulator before the others
    assert order.index("CAMB_LCDM_CMB") < order.index("CAMB_w0wa_CMB") < order.index("CAMB_extended_background")


def test_a_cl_accuracy_disagreement_is_said_at_info_level_not_warned(tmp_path, caplog):
    """CAMB_omk_CMB 1.1 trains with IntkAccuracyBoost 3, the flat emulators with CAMB's default: in
    a flat run with every emulator loaded that is no choice for the user, so start-up says it at
    INFO (which emulator's C_l are set aside); a physics setting still warns."""
    import logging

    from cobaya.model import get_model
    from zelos.testing import constant_archive

    box = {"ombh2": (0.020, 0.025), "omch2": (0.10, 0.14), "H0": (60.0, 80.0)}
    params = "\n".join(f"  {p}: [{lo!r}, {hi!r}]" for p, (lo, hi) in box.items())
    ell = np.arange(2, 31)

    def cmb_archive(name: str, settings: str) -> str:
        spec = (f"name: {name}\nauthor: zelos tests\nversion: 0.0.1\n"
                f'code:\n  name: camb\n  version: "2.0.5"\n  settings: {settings}\n'
                f"parameters:\n{params}\noutputs:\n  cmb: {{spectra: [tt], lmin: 2, lmax: 30}}\n"
                "  derived: [rdrag]\n")
        path = tmp_path / f"{name}.tar.gz"
        constant_archive(path, spec, box, {"tt": [("dl_tt", np.full(ell.size, 1000.0), ("ell",))],
                                           "derived": [("rdrag", np.array(147.0), ())]}, {"ell": ell}, accuracy=1e-4)
        return str(path)

    def start_up(settings: str) -> list:
        emulators = [cmb_archive("plain", "{}"), cmb_archive("boosted", settings)]
        info = {"theory": {"zelos": {"emulators": emulators, "check_at_start": False}},
                "likelihood": {"bao": {"external": lambda _self=None: 0.0, "requires": {"rdrag": None}}},
                "params": {"ombh2": 0.0224, "omch2": 0.12, "H0": 68.0}}
        caplog.clear()
        with caplog.at_level(logging.INFO):
            get_model(info).close()
        return [(r.levelno, r.getMessage()) for r in caplog.records if "emulators di" in r.getMessage()]

    said = start_up("{Accuracy.IntkAccuracyBoost: 3}")
    assert [level for level, _ in said] == [logging.INFO], said
    assert "C_l accuracy setting `Accuracy.IntkAccuracyBoost` (1.0, 3 for `boosted`)" in said[0][1]
    warned = start_up("{halofit_version: mead2015}")
    assert [level for level, _ in warned] == [logging.WARNING], warned
