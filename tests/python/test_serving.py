"""The serving layer both plugins use (zelos.serving): splines with the z = 0 node, C_l units,
the P(k) spline, relative errors, emulator keys and the session checks, on a shipped emulator."""

import numpy as np
import pytest
from scipy.interpolate import CubicSpline

import zelos
from zelos.physics import C_KM_S, T_CMB, s8
from zelos.serving import background, cmb, compare, names, session
from zelos.serving.pk import LogPk

LCDM = "CAMB_LCDM_background"
POINT = {"ombh2": 0.0224, "omch2": 0.119, "H0": 68.0}


def test_hubble_and_distances_below_the_grid_take_the_z0_node():
    emu = zelos.get_emulator(LCDM)
    out = emu(POINT)
    grid = emu.grids[emu.outputs["H"].axes[0]]
    z = np.array([0.0, 0.005, 0.3, 2.5])
    below = background.below(z, grid)
    assert below and not background.above(z, grid) and background.above(np.array([2.6]), grid)
    w = background.spline_matrix(background.nodes(grid, below), z)
    h = background.hubble(w, out["H"], POINT["H0"], below)
    np.testing.assert_allclose(h, CubicSpline(np.r_[0.0, grid], np.r_[POINT["H0"], out["H"]])(z), rtol=1e-13)
    assert h[0] == pytest.approx(POINT["H0"], rel=1e-13) and h[-1] == pytest.approx(out["H"][-1], rel=1e-13)
    d_m = background.transverse_distance("D_M", out["D_M"], grid, z, w, POINT["H0"], below)
    assert d_m[0] == 0.0 and d_m[1] == pytest.approx(0.005 * C_KM_S / POINT["H0"], rel=2e-3)
    assert d_m[-1] == pytest.approx(out["D_M"][-1], rel=1e-13)
    # D_A gives the same D_M
    d_a = background.transverse_distance("D_A", out["D_M"] / (1 + grid), grid, z, w, POINT["H0"], below)
    np.testing.assert_allclose(d_a, d_m, rtol=1e-12)


def test_spline_matrices_are_cached_per_key_and_z():
    maps = background.SplineMaps(size=2)
    nodes, z = np.linspace(0.1, 2.0, 10), np.array([0.5, 1.5])
    w = maps.get(("a", "H", False), nodes, z)
    assert maps.get(("a", "H", False), nodes, z) is w
    maps.get(("b", "H", False), nodes, z)
    maps.get(("c", "H", False), nodes, z)  # beyond size: the least recently used goes
    assert maps.get(("a", "H", False), nodes, z) is not w


def test_cl_units_round_trip_with_the_cmb_temperature():
    ell = np.arange(2, 50)
    dl = 1000.0 + ell
    for spectrum in ("tt", "pp"):
        cl = cmb.dl_to_cl(dl, ell, spectrum, 2.7)
        np.testing.assert_allclose(cmb.cl_to_dl(cl, ell, spectrum, 2.7), dl, rtol=1e-14)
    np.testing.assert_allclose(cmb.dl_dimensionless(dl, "tt", T_CMB), dl / (T_CMB * 1e6) ** 2)
    np.testing.assert_array_equal(cmb.dl_dimensionless(dl, "pp", T_CMB), dl)  # the lensing potential has no units
    assert cmb.t_cmb_of(zelos.get_emulator(LCDM)) == T_CMB  # its settings leave TCMB at CAMB's default


def test_the_pk_spline_is_exact_at_nodes_and_refuses_non_positive_values():
    z, k = np.array([0.0, 0.5, 1.0, 2.0]), np.logspace(-3, 0, 30)
    pk = np.outer(1 / (1 + z) ** 2, 1e4 * k / (1 + (k / 0.02) ** 2.5))
    spline = LogPk(z, k, pk)
    np.testing.assert_allclose(spline.grid(z, k), pk, rtol=1e-12)
    assert spline.at(k[7], 0.5) == pytest.approx(pk[1, 7], rel=1e-12)
    one = LogPk(z[:1], k, pk[:1])
    assert one.at(k[3], 0.0) == pytest.approx(pk[0, 3], rel=1e-12) and one.grid([0.0], k).shape == (1, 30)
    with pytest.raises(ValueError, match="positive"):
        LogPk(z, k, -pk)


def test_relative_errors_take_te_against_sqrt_tt_ee():
    truth = {"dl_tt": np.array([4.0, 9.0]), "dl_ee": np.array([1.0, 1.0]), "dl_te": np.array([0.0, 0.3])}
    np.testing.assert_allclose(compare.relative_scale("dl_te", truth), [2.0, 3.0])
    np.testing.assert_allclose(compare.relative_scale("dl_tt", truth), [4.0, 9.0])
    assert compare.relative_error([1.1, 0.0], [1.0, 0.0]) == pytest.approx(0.1)  # 0 where the truth is 0
    assert compare.relative_error([1.0], [1.0, 2.0]) == float("inf")
    mine = np.array([0.2, 0.3])
    assert compare.output_difference("dl_te", mine, truth["dl_te"], truth) == pytest.approx(0.1)
    # a spectrum read in part is compared on its first multipoles
    assert compare.output_difference("dl_tt", [4.0, 9.0, 1.0], [4.4, 9.0]) == pytest.approx(0.4 / 4.4)


def test_names_and_session():
    assert names.derived_tables("camb")[0]["rdrag"] == "rdrag"
    assert names.derived_tables("classy")[0]["rs_drag"] == "rdrag"
    assert names.CLASSY_DERIVED["rs_d"] == "rdrag" and names.CLASSY_NAME["rdrag"] == "rs_d"
    (inputs, combine), = [names.CAMB_COMPOSED["S8"]]
    assert inputs == ("sigma8", "omegam") and combine(0.8, 0.3) == s8(0.8, 0.3) == pytest.approx(0.8)
    assert names.with_aliases({"h": 0.7, "A_s": 2e-9}, {"H0", "ln10^{10}A_s"}, "classy")["H0"] == pytest.approx(70.0)
    assert names.class_canonical({"H0": 70.0, "Omega_b": 0.05})["omega_b"] == pytest.approx(0.05 * 0.49)
    emu = zelos.get_emulator(LCDM)
    keyed = {}
    assert [session.add_keyed(keyed, emu) for _ in range(3)] == [LCDM, f"{LCDM}#2", f"{LCDM}#3"]
    assert session.codes(keyed) == ["camb"]
    assert session.version_mismatches(keyed, "v2.0.5") == []
    assert [k for k, _ in session.version_mismatches(keyed, "1.6")] == list(keyed)
    settings, disagreements = session.shared_settings({"a": emu, "b": emu}, lambda e: {"mnu": 0.06})
    assert settings == {"mnu": 0.06} and disagreements == []
    other = zelos.get_emulator("CAMB_extended_background")
    settings, disagreements = session.shared_settings({"a": emu, "b": other},
                                                      lambda e: {"mnu": 0.06 if e is emu else 0.1, "nnu": 3.046})
    assert settings == {"mnu": 0.06, "nnu": 3.046} and disagreements == [("mnu", 0.06, 0.1, "b")]  # the first wins
    # A setting left at the code's default is held there as much as a written one, and only the
    # emulators it matters to take part: HMcode's model matters to a CMB emulator's lensing
    # (listed first, at CAMB's default), not to a background emulator, and a P(k) emulator with
    # feedback loses to the CMB one (the fallback keeps the CMB emulators' lensing).
    cmb, pk = zelos.get_emulator("CAMB_LCDM_CMB"), zelos.get_emulator("CAMB_linear_matter_power")
    listed = {id(emu): {}, id(cmb): {}, id(pk): {"halofit_version": "mead2020_feedback"}}
    settings, disagreements = session.shared_settings(
        {"bg": emu, "cmb": cmb, "pk": pk}, lambda e: listed[id(e)], lambda e, name: e is not emu,
        {"halofit_version": "mead2020"})
    assert settings == {"halofit_version": "mead2020"}
    assert disagreements == [("halofit_version", "mead2020", "mead2020_feedback", "pk")]
    settings, _ = session.shared_settings({"bg": emu, "pk": pk}, lambda e: listed[id(e)],
                                          lambda e, name: e is not emu, {"halofit_version": "mead2020"})
    assert settings == {"halofit_version": "mead2020_feedback"}  # matters to the P(k) emulator alone
    # The P(k) emulator loaded but out of play (the voters are the others): its setting is still
    # chosen, by the CMB emulator it matters to, at its default; one that matters to no voter is
    # chosen by the same rule among every loaded emulator (both plugins' rule, one function)
    settings, _ = session.shared_settings({"bg": emu, "cmb": cmb}, lambda e: listed[id(e)],
                                          lambda e, name: e is not emu, {"halofit_version": "mead2020"},
                                          listed_by={"bg": emu, "cmb": cmb, "pk": pk})
    assert settings == {"halofit_version": "mead2020"}
    settings, disagreements = session.shared_settings(
        {"bg": emu}, lambda e: listed[id(e)], lambda e, name: e is not emu, {"halofit_version": "mead2020"},
        listed_by={"bg": emu, "pk": pk})
    assert settings == {"halofit_version": "mead2020_feedback"} and disagreements == []
    # ... the first loaded one it matters to, at its default: not the first listed value
    settings, disagreements = session.shared_settings(
        {"bg": emu}, lambda e: listed[id(e)], lambda e, name: e is not emu, {"halofit_version": "mead2020"},
        listed_by={"bg": emu, "cmb": cmb, "pk": pk})
    assert settings == {"halofit_version": "mead2020"} and disagreements == []
    assert session.emulator_line(LCDM, emu, "max rel. error 5e-05", "camb 2.0.5") == (
        f"{LCDM} (CAMB_LCDM_background.tar.gz, sha256 {emu.sha256[:12]}..., max rel. error 5e-05, camb 2.0.5)")
