"""The MontePython plugin (``zelos.montepython``) against the real classy 3.4.1 and camb 2.0.5.

Two kinds of emulator:

- a CLASS-trained archive whose networks output constants: classy's own outputs at ``REF``
  (``zelos.testing.constant_archive``). At ``REF`` every emulated accessor must then equal
  classy's to round-off, which checks every unit conversion (D_l -> C_l, pp, P(k), distances);
  outside its box the plugin must equal a plain ``classy.Class``;
- the shipped CAMB-trained ``CAMB_LCDM_background`` (H, D_M, rdrag, omegam, zdrag): inside its
  region within its documented accuracy of CAMB, outside equal to CAMB, from CLASS names; what
  the CAMB side computes itself (C_l, P(k), sigma, the growth factor, tau_reio) against CAMB.

classy CMB runs cost seconds on 2 cores: the module computes five (massless neutrinos,
l_max_scalars = 200); every other classy run is background only.
"""

import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

classy = pytest.importorskip("classy", reason="classy is not installed (pip install classy)")
camb = pytest.importorskip("camb")

import zelos  # noqa: E402
import zelos.montepython as zmp  # noqa: E402
import zelos.routing  # noqa: E402
from zelos.montepython.class_inputs import read_inputs, to_camb  # noqa: E402
from zelos.testing import constant_archive, random_archive  # noqa: E402

C = 299792.458
REF = {"omega_b": 0.02237, "omega_cdm": 0.1200, "h": 0.6736, "tau_reio": 0.0544, "A_s": 2.1e-9, "n_s": 0.9649}
# P_k_max >= 1 h/Mpc: classy's sigma(R, z) refuses less
CMB = {"output": "tCl pCl lCl mPk", "lensing": "yes", "l_max_scalars": 200, "P_k_max_1/Mpc": 1.0, "z_max_pk": 1.0}
BOX = {"omega_b": (0.020, 0.025), "omega_cdm": (0.10, 0.14), "h": (0.60, 0.75), "tau_reio": (0.03, 0.09),
       "ln10^{10}A_s": (2.9, 3.2), "n_s": (0.92, 1.0)}
OUT = dict(REF, h=0.80)  # h beyond the box
LMAX = 200
Z_BG = np.linspace(0.05, 2.0, 40)
K = np.logspace(-3, math.log10(0.4), 30)
Z_PK = np.array([0.0, 0.5, 1.0])
# the shipped background emulator, fed CLASS names: one massive neutrino, N_eff = 3.046 (every
# shipped emulator's convention; MontePython's base_2018 files write N_ur = 2.0328 for it)
NU = {"N_ur": 2.0328, "N_ncdm": 1, "m_ncdm": 0.06}
CAMB_NU = {"mnu": 0.06, "num_massive_neutrinos": 1, "nnu": 3.046}
BG = {"omega_b": 0.0224, "omega_cdm": 0.119, "h": 0.68, **NU, "zelos_emulators": ["CAMB_LCDM_background"]}


def plain_classy(args):
    c = classy.Class()
    c.set(args)
    c.compute()
    return c


def class_spec(lmax):
    params = "".join(f"  '{k}': [{lo}, {hi}]\n" for k, (lo, hi) in BOX.items())
    return (f'name: CLASS_const\nauthor: zelos tests\nversion: 0.0.1\ncode:\n  name: classy\n  version: "3.4.1"\n'
            f"parameters:\n{params}outputs:\n  cmb:\n    spectra: [tt, te, ee, pp]\n    lmin: 2\n    lmax: {lmax}\n"
            f"  matter_power:\n    k: {{min: {float(K[0])!r}, max: {float(K[-1])!r}, n: {len(K)}}}\n"
            f"    z: [0.0, 0.5, 1.0]\n  background:\n    functions: [H, D_M]\n"
            f"    z: {{min: 0.05, max: 2.0, n: 40}}\n  derived: [rdrag, omegam, zdrag, sigma8]\n")


def unlensed_class_spec(lmax):
    params = "".join(f"  '{k}': [{lo}, {hi}]\n" for k, (lo, hi) in BOX.items())
    return (f'name: CLASS_const_unlensed\nauthor: zelos tests\nversion: 0.0.1\ncode:\n  name: classy\n'
            f'  version: "3.4.1"\nparameters:\n{params}outputs:\n  cmb:\n    spectra: [tt, te, ee, pp]\n'
            f"    lmin: 2\n    lmax: {lmax}\n    lensed: false\n")


def dl_networks(cl, t_cmb):
    """CLASS C_l (l = 0..LMAX) as an archive's D_l networks (muK^2; pp: [l(l+1)]^2 C_l / 2 pi)."""
    ell = np.arange(2, LMAX + 1)
    fac = ell * (ell + 1) / (2 * np.pi)
    return {**{s: [(f"dl_{s}", cl[s][2:] * fac * (t_cmb * 1e6) ** 2, ("ell",))] for s in ("tt", "te", "ee")},
            "pp": [("dl_pp", cl["pp"][2:] * fac**2 * 2 * np.pi, ("ell",))]}


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    """classy at REF, and an archive (code classy) whose outputs are exactly classy's there."""
    c = plain_classy({**REF, **CMB})
    ell = np.arange(2, LMAX + 1)
    d = c.get_current_derived_parameters(["rs_d", "Omega_m", "z_d", "sigma8"])
    networks = {
        **dl_networks(c.lensed_cl(LMAX), c.T_cmb()),
        "pk_lin": [("pk_lin", np.array([[c.pk_lin(k, z) for k in K] for z in Z_PK]), ("z_pk", "k"))],
        "background": [("H", c.Hubble(Z_BG) * C, ("z_bg",)), ("D_M", c.angular_distance(Z_BG) * (1 + Z_BG), ("z_bg",))],
        "derived": [("rdrag", d["rs_d"], ()), ("omegam", d["Omega_m"], ()), ("zdrag", d["z_d"], ()),
                    ("sigma8", d["sigma8"], ())],
    }
    path = str(tmp_path_factory.mktemp("archives") / "CLASS_const.tar.gz")
    constant_archive(path, class_spec(LMAX), BOX, networks, {"ell": ell, "k": K, "z_pk": Z_PK, "z_bg": Z_BG},
                     accuracy=1e-3)
    return c, path


@pytest.fixture(scope="module")
def unlensed(ref, tmp_path_factory):
    """An archive (code classy, ``lensed: false``) whose outputs are classy's raw_cl at REF."""
    c, _ = ref
    path = str(tmp_path_factory.mktemp("archives") / "CLASS_const_unlensed.tar.gz")
    constant_archive(path, unlensed_class_spec(LMAX), BOX, dl_networks(c.raw_cl(LMAX), c.T_cmb()),
                     {"ell": np.arange(2, LMAX + 1)}, accuracy=1e-3)
    return path


def zelos_class(args):
    z = zmp.Class()
    z.set(args)
    z.compute()
    return z


def close(a, b, rtol):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=rtol, atol=0)


# -- the module's face --------------------------------------------------------------------------------
def test_the_module_has_classys_face():
    assert zmp.CosmoComputationError is classy.CosmoComputationError
    assert zmp.CosmoSevereError is classy.CosmoSevereError
    assert zmp.__version__ == classy.__version__ == "v3.4.1"
    assert zmp.Class().state is True


def test_options_come_from_a_copy_and_errors_name_the_key():
    from zelos.montepython.options import split

    args = {"h": 0.7, "zelos_emulators": "a.tar.gz, b", "zelos_spot_check": 0.1, "zelos_log": "x"}
    before = dict(args)
    options, clean = split(args)
    assert args == before and clean == {"h": 0.7}
    assert options.emulators == ("a.tar.gz", "b") and options.spot_check == 0.1 and options.log == "x"
    with pytest.raises(zmp.CosmoSevereError, match=r"unknown zelos option `zelos_emulator` \(did you mean "
                                                   r"`zelos_emulators`\?\)"):
        split({"zelos_emulator": ["x"]})
    with pytest.raises(zmp.CosmoSevereError, match=r"`zelos_spot_check` = 2: expected a fraction in \[0, 1\]"):
        split({"zelos_spot_check": 2})
    with pytest.raises(zmp.CosmoSevereError, match=r"`zelos_out_of_range` = 'skip': expected one of 'compute', "
                                                   r"'error', 'reject'"):
        split({"zelos_out_of_range": "skip"})
    with pytest.raises(zmp.CosmoSevereError, match=r"zelos_emulators: 'nope.tar.gz'"):
        zelos_class({**REF, "zelos_emulators": ["nope.tar.gz"]})


# -- CLASS-trained: inside the region, emulated = classy at REF to round-off --------------------------
def test_in_region_every_accessor_equals_classy_at_the_emulated_point(ref):
    c, path = ref
    args = {**REF, **CMB, "zelos_emulators": [path]}
    before = dict(args)
    z = zelos_class(args)
    assert args == before  # never mutated
    assert z._point.mode == "emulated"
    assert "zelos_emulators" not in z._point.clean
    for lmax in (LMAX, 150, -1):
        zc, cc = z.lensed_cl(lmax), c.lensed_cl(lmax)
        np.testing.assert_array_equal(zc["ell"], cc["ell"])
        for s in ("tt", "te", "ee", "pp"):
            close(zc[s], cc[s], 1e-13)
    assert zc.missing == ("bb", "tp")  # no emulator provides them: left out, and said so
    with pytest.raises(KeyError, match="zelos_missing_cl"):
        zc["bb"]
    with pytest.raises(zmp.CosmoSevereError, match="Can only compute up to lmax=200"):
        z.lensed_cl(300)
    close(z.Hubble(Z_BG), c.Hubble(Z_BG), 1e-13)  # on the grid: exact
    between = np.array([0.3, 0.77, 1.5])  # between nodes: the cubic spline
    close(z.Hubble(between), c.Hubble(between), 1e-6)
    close(z.angular_distance(between), c.angular_distance(between), 1e-6)
    close(z.luminosity_distance(between), c.luminosity_distance(between), 1e-6)
    close(z.comoving_distance(between), c.comoving_distance(between), 1e-6)
    close(z.z_of_r(between)[0], c.z_of_r(between)[0], 1e-6)
    close(z.z_of_r(between)[1], c.z_of_r(between)[1], 1e-6)
    close(z.angular_distance(0.02), c.angular_distance(0.02), 1e-6)  # below the grid: D_M/z -> c/H0 at z = 0
    assert isinstance(z.Hubble(0.5), float) and z.Hubble(np.array([0.5])).shape == (1,)
    for k, zz in ((K[3], 0.0), (K[17], 0.5), (K[-1], 1.0)):  # P(k) on the grid
        close(z.pk_lin(k, zz), c.pk_lin(k, zz), 1e-12)
        close(z.pk(k, zz), c.pk(k, zz), 1e-12)  # linear run: pk is pk_lin
    for name in ("rs_drag", "Omega_m", "sigma8", "S8", "h", "n_s", "T_cmb", "Omega_b", "omega_b", "Omega_cdm"):
        close(getattr(z, name)(), getattr(c, name)(), 1e-12)
        assert getattr(z, name) == getattr(z, name)()  # properties, callable too
    close(z.Omega0_m(), c.Omega0_m(), 1e-12)
    names = ["rs_d", "z_d", "Omega_m", "sigma8", "h", "H0", "A_s", "n_s", "ln10^{10}A_s", "z_reio", "100*theta_s"]
    zd, cd = z.get_current_derived_parameters(names), c.get_current_derived_parameters(names)
    assert list(zd) == names
    for name in names:
        close(zd[name], cd[name], 1e-12)
    # z_reio, theta_s: classy, once; the point is then computed (in part) by classy, not emulated
    assert z.summary()["rest"] == 1 and z.summary()["emulated"] == 0 and z.summary()["fallback"] == 1
    assert z.summary()["fallbacks_by_reason"] == {"requirement_not_emulated: derived z_reio, 100*theta_s": 1}
    # what no emulator provides: classy at this point, as plain classy
    close(z.Neff(), c.Neff(), 1e-14)
    close(z.scale_independent_growth_factor(between), c.scale_independent_growth_factor(between), 1e-14)
    close(z.scale_independent_growth_factor_f(between), c.scale_independent_growth_factor_f(between), 1e-14)
    close(z.age(), c.age(), 1e-14)
    # the unlensed C_l and sigma(R, z): no emulator here has them, so classy at this point (one
    # run, to the harmonic module, which sigma's fourier precedes)
    for lmax in (LMAX, 150):
        zc, cc = z.raw_cl(lmax), c.raw_cl(lmax)
        assert list(zc) == list(cc)
        for key in cc:
            np.testing.assert_array_equal(zc[key], cc[key], err_msg=key)
    radii, zs = np.array([4.0, 8.0, 12.0]), np.array([0.0, 0.5, 1.0])
    np.testing.assert_array_equal(z.sigma(radii, zs, True), c.sigma(radii, zs, True))
    assert z.sigma(8 / REF["h"], 0.3) == c.sigma(8 / REF["h"], 0.3)


def test_in_region_an_unlensed_emulator_serves_raw_cl_as_classy(ref, unlensed):
    c, _ = ref
    z = zelos_class({**REF, **CMB, "zelos_emulators": [unlensed]})
    assert z._point.mode == "emulated"
    for lmax in (LMAX, 150):
        zc, cc = z.raw_cl(lmax), c.raw_cl(lmax)
        np.testing.assert_array_equal(zc["ell"], cc["ell"])
        for s in ("tt", "te", "ee", "pp"):
            close(zc[s], cc[s], 1e-13)
    assert zc.missing == ("bb", "tp")  # no emulator provides them: left out, and said so
    assert z.summary()["rest"] == 0
    # lensed_cl asks for what this emulator does not have, and with lensing CLASS's unlensed C_l
    # reach l_max_scalars + delta_l_max (266 here): classy at this point (one run, to lensing)
    for name, args in (("lensed_cl", ()), ("raw_cl", ()), ("raw_cl", (250,))):
        zc, cc = getattr(z, name)(*args), getattr(c, name)(*args)
        assert list(zc) == list(cc), name
        for key in cc:
            np.testing.assert_array_equal(zc[key], cc[key], err_msg=f"{name}{args}[{key}]")
    assert len(z.raw_cl()["ell"]) == 267 and z.summary()["rest"] == 1
    with pytest.raises(zmp.CosmoSevereError, match="Can only compute up to lmax=266"):
        z.raw_cl(300)


# -- CLASS-trained: outside the region, the plugin is a plain classy ------------------------------------
def test_out_of_region_every_accessor_equals_plain_classy(ref, tmp_path):
    _, path = ref
    c = plain_classy({**OUT, **CMB})
    z = zelos_class({**OUT, **CMB, "zelos_emulators": [path], "zelos_log": str(tmp_path)})
    assert z._point.mode == "fallback"
    assert z.summary()["fallbacks_by_reason"] == {"outside_every_region": 1}
    zs = np.array([0.0, 0.3, 1.0, 3.0])
    for name, args in [("lensed_cl", (LMAX,)), ("raw_cl", (150,)), ("Hubble", (zs,)), ("angular_distance", (zs,)),
                       ("luminosity_distance", (zs,)), ("comoving_distance", (zs,)), ("z_of_r", (zs,)),
                       ("scale_independent_growth_factor", (zs,)), ("scale_independent_growth_factor_f", (zs,)),
                       ("pk", (0.1, 0.5)), ("pk_lin", (0.05, 1.0)),
                       ("sigma", (np.array([4.0, 8.0]), np.array([0.0, 0.5, 1.0]), True)), ("sigma", (10.0, 0.3)),
                       ("Omega0_m", ()), ("get_current_derived_parameters",
                                          (["rs_d", "z_d", "100*theta_s", "sigma8", "z_reio", "age", "Neff"],))]:
        mine, theirs = getattr(z, name)(*args), getattr(c, name)(*args)
        if isinstance(theirs, dict):
            assert list(mine) == list(theirs), name
            for key in theirs:
                np.testing.assert_array_equal(mine[key], theirs[key], err_msg=f"{name}[{key}]")
        else:
            np.testing.assert_array_equal(mine, theirs, err_msg=name)
    for name in ("h", "n_s", "T_cmb", "Neff", "rs_drag", "Omega_m", "sigma8", "age", "z_reio", "tau_reio",
                 "theta_s_100", "Omega_Lambda"):
        assert getattr(z, name)() == getattr(c, name)(), name
    assert z.pk_tilt(0.1, 0.0) == c.pk_tilt(0.1, 0.0)  # any other classy accessor: classy's
    # the point log holds the point and classy's outputs on the emulator's grids
    z.close()
    (record,) = zelos.read_point_log(str(tmp_path))
    assert record["reason"] == "outside_every_region" and "`h` = 0.8 > 0.75" in record["detail"]
    assert record["parameters"]["h"] == 0.8
    close(record["outputs"]["H"], c.Hubble(Z_BG) * C, 1e-14)
    close(record["outputs"]["rdrag"], c.rs_drag(), 1e-14)
    ell = np.arange(2, LMAX + 1)
    dl_tt = c.lensed_cl(LMAX)["tt"][2:] * ell * (ell + 1) / (2 * np.pi) * (c.T_cmb() * 1e6) ** 2
    close(record["outputs"]["dl_tt"], dl_tt, 1e-13)


# -- MontePython's call pattern --------------------------------------------------------------------------
def test_montepython_call_pattern_repeated_compute_empty_and_reuse(ref):
    _, path = ref
    data = {**REF, "output": "", "zelos_emulators": [path]}  # background only: classy is cheap
    before = dict(data)
    cosmo = zmp.Class()
    modes = []
    for h in (0.67, 0.70, 0.80, 0.68, 0.80):  # in, in, out, in, out
        data["h"] = h
        snapshot = dict(data)
        cosmo.struct_cleanup()
        cosmo.set(data)
        cosmo.compute()
        cosmo.compute()  # classy's accessors call compute again: a no-op
        cosmo.compute(["thermodynamics"])
        assert data == snapshot
        modes.append(cosmo._point.mode)
        assert cosmo.h() == pytest.approx(h, rel=1e-15)
        if cosmo._point.mode == "fallback":
            assert cosmo.Hubble(0.0) == pytest.approx(h * 100 / C, rel=1e-12)
    assert modes == ["emulated", "emulated", "fallback", "emulated", "fallback"]
    assert cosmo.summary()["calls"] == 5
    # set() with what is already set keeps the point; a change recomputes
    assert cosmo.set(data) is None and cosmo._computed
    assert cosmo.set({"h": 0.69}) is True and not cosmo._computed
    # empty() and reuse, as MontePython's fiducial-writing likelihoods do
    cosmo.empty()
    assert cosmo.pars == {}
    cosmo.set(dict(before, h=0.80))
    cosmo.compute(["lensing"])
    assert cosmo._point.mode == "fallback"
    c = plain_classy(dict(REF, h=0.80, output=""))
    assert cosmo.angular_distance(1.0) == c.angular_distance(1.0)
    assert cosmo.summary()["calls"] == 6 and cosmo.summary()["emulated"] == 3


def test_out_of_range_policies_and_settings_that_set_an_emulator_aside(ref):
    _, path = ref
    base = {**REF, "output": "", "zelos_emulators": [path]}
    with pytest.raises(zmp.CosmoSevereError, match=r"zelos_out_of_range is 'error': outside every trust region.*`h`"):
        zelos_class(dict(base, h=0.8, zelos_out_of_range="error"))
    with pytest.raises(zmp.CosmoComputationError, match="rejected"):
        zelos_class(dict(base, h=0.8, zelos_out_of_range="reject"))
    # a CLASS precision parameter does not matter; a physical input the emulator was trained
    # without does (CLASS computed YHe from BBN), and is said
    assert zelos_class(dict(base, tol_background_integration=1e-3))._point.mode == "emulated"
    z = zelos_class(dict(base, YHe=0.25))
    assert z._point.mode == "fallback"
    assert "`YHe` = 0.25; `CLASS_const` was trained with 'bbn'" in z._point.plan.excluded["CLASS_const"]
    # an input zelos does not know sets the emulators aside (CLASS then decides about it)
    with pytest.raises(zmp.CosmoSevereError, match="Class did not read input parameter"):
        zelos_class(dict(base, not_a_class_input=1.0))


def test_spot_checks_point_log_and_end_of_run_summary(ref, tmp_path, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="zelos.montepython")
    _, path = ref
    cosmo = zmp.Class()
    data = {**REF, "output": "", "zelos_emulators": [path], "zelos_log": str(tmp_path), "zelos_spot_check": 1.0,
            "zelos_spot_check_seed": 3}
    for h in (REF["h"], 0.80):
        cosmo.struct_cleanup()
        cosmo.set(dict(data, h=h))
        cosmo.compute()
    s = cosmo.summary()
    assert s["spot_checks"] == 1 and s["fallback"] == 1
    assert set(s["spot_check_max_rel_diff"]) == {"H", "D_M", "rdrag", "omegam", "zdrag"}
    assert max(s["spot_check_max_rel_diff"].values()) < 1e-12  # the constants are classy's at REF
    cosmo.close()
    out = caplog.text
    assert "spot checks: 1 of the emulated points are also computed by classy" in out
    assert "2 points: 1 emulated" in out and "1 computed by classy" in out
    assert "fallbacks by reason: outside_every_region 1" in out and "1 spot checks" in out
    records = zelos.read_point_log(str(tmp_path))
    assert [r["reason"] for r in records] == ["spot_check", "outside_every_region"]
    assert records[0]["outputs"]["max_rel_diff.H"] < 1e-12
    assert records[1]["outputs"]["H"].shape == (40,) and "dl_tt" not in records[1]["outputs"]  # no C_l computed


def test_cmb_conversion_with_a_random_weight_camb_archive_and_camb_names(tmp_path):
    """A random-weight CAMB-trained TT emulator (parameters ombh2, omch2, cosmomc_theta, tau,
    logA, ns): a .param file may use CAMB's names when the code is CAMB; lensed_cl is D_l/T^2.
    CAMB lensed its C_l with HMcode 2020 (its default) and one 0.06 eV neutrino (its default):
    the run must say the same."""
    path = tmp_path / "random_tt.tar.gz"
    random_archive(path, n_out=199, seed=5)  # ell 2..200
    emu = zelos.load(path)
    point = {"ombh2": 0.0224, "omch2": 0.12, "cosmomc_theta": 0.010409, "tau": 0.055, "logA": 3.04, "ns": 0.965}
    # the archive states no nnu: it holds CAMB's default, 3.044 (N_ur = 2.0308 with one massive neutrino)
    run = {**point, **NU, "N_ur": 2.0308, "output": "tCl", "lensing": "yes", "l_max_scalars": 200,
           "zelos_emulators": [str(path)]}
    z = zelos_class(run)
    assert z._point.mode == "fallback"
    assert "non-linear model (CLASS `non_linear`" in z._point.plan.excluded["random_tt"]
    z = zelos_class(dict(run, non_linear="hmcode"))
    assert z._point.mode == "emulated"
    cl = z.lensed_cl()
    ell = np.arange(2, 201)
    expected = emu(point)["dl_tt"] * 2 * np.pi / (ell * (ell + 1)) / (2.7255e6) ** 2
    close(cl["tt"][2:], expected, 1e-12)
    assert cl["tt"][:2].tolist() == [0.0, 0.0] and list(cl) == ["tt", "ell"]


# -- the shipped CAMB-trained background emulator, from CLASS names -------------------------------------
def camb_background(**kw):
    pars = camb.set_params(WantCls=False, Want_CMB=False, **kw)
    return pars, camb.get_background(pars)


def test_shipped_camb_emulator_inside_its_region_within_its_accuracy():
    z = zelos_class(BG)
    assert z._point.mode == "emulated"
    pars, r = camb_background(ombh2=0.0224, omch2=0.119, H0=68.0, **CAMB_NU)
    zs = np.array([0.005, 0.1, 0.51, 1.0, 2.33])  # 0.005 is below the grid: answered through c/H0
    # docs/montepython.md: the emulator's 5.5e-5 (held-out maximum) plus the z spline
    close(z.Hubble(zs), r.hubble_parameter(zs) / C, 1e-4)
    close(z.angular_distance(zs), r.angular_diameter_distance(zs), 1e-4)
    close(z.luminosity_distance(zs), r.luminosity_distance(zs), 1e-4)
    close(z.comoving_distance(zs), r.comoving_radial_distance(zs), 1e-4)
    close(z.z_of_r(zs)[0], r.comoving_radial_distance(zs), 1e-4)
    close(z.z_of_r(zs)[1], r.hubble_parameter(zs) / C, 1e-4)
    close(z.rs_drag(), r.get_derived_params()["rdrag"], 1e-4)
    close(z.Omega_m(), pars.omegam, 1e-4)
    close(z.Omega0_m(), pars.omegam, 1e-4)
    d = z.get_current_derived_parameters(["z_d", "rs_d", "Omega_m", "h"])
    close(d["z_d"], r.get_derived_params()["zdrag"], 1e-4)
    close(d["rs_d"], r.get_derived_params()["rdrag"], 1e-4)
    close(d["Omega_m"], pars.omegam, 1e-4)
    assert d["h"] == 0.68 and z.summary()["rest"] == 0
    # what it does not emulate: CAMB at this point, as CAMB computes it
    assert z.age() == pytest.approx(r.get_derived_params()["age"], rel=1e-12)
    assert z.Neff() == pytest.approx(pars.N_eff, rel=1e-12)
    assert z.summary()["rest_by_reason"] == {"age: no emulator emulates `age`": 1}
    # no tau_reio given: CLASS's default z_reio = 7.6711, and CAMB's optical depth for it
    assert z.z_reio() == 7.6711
    pars, _ = camb_background(ombh2=0.0224, omch2=0.119, H0=68.0, zrei=7.6711, **CAMB_NU)
    assert camb.get_zre_from_tau(pars, z.tau_reio()) == pytest.approx(7.6711, rel=1e-10)
    close(z.tau_reio(), 0.05443, 2e-3)  # classy's 0.054426 here: a different reionization code
    assert z.get_current_derived_parameters(["tau_reio"])["tau_reio"] == z.tau_reio()


def test_shipped_camb_emulator_outside_is_camb_and_100_theta_s_is_not_h0(tmp_path):
    z = zelos_class(dict(BG, h=0.80, zelos_log=str(tmp_path)))
    assert z._point.mode == "fallback"
    pars, r = camb_background(ombh2=0.0224, omch2=0.119, H0=80.0, **CAMB_NU)
    zs = np.array([0.1, 1.0, 3.0])
    np.testing.assert_array_equal(z.Hubble(zs), r.hubble_parameter(zs) / C)
    np.testing.assert_array_equal(z.angular_distance(zs), r.angular_diameter_distance(zs))
    assert z.rs_drag() == r.get_derived_params()["rdrag"] and z.Omega_m() == pars.omegam
    z.close()
    (record,) = zelos.read_point_log(str(tmp_path))
    assert record["parameters"]["H0"] == 80.0 and record["parameters"]["nnu"] == 3.046
    assert set(record["outputs"]) == {"H", "D_M", "rdrag", "omegam", "zdrag"}  # ready for `zelos retrain`
    # CLASS's 100*theta_s: not routed to an H0 emulator; CAMB computes it with thetastar = theta_s / 100
    z = zelos_class({k: v for k, v in BG.items() if k != "h"} | {"100*theta_s": 1.0418})
    assert z._point.mode == "fallback"
    why = z._point.plan.excluded["CAMB_LCDM_background"]
    assert "`100*theta_s`, which is neither CAMB's H0 nor cosmomc_theta" in why
    # (no emulator holds nnu here: CLASS's N_ur + the massive share, unrounded)
    nnu = 2.0328 + (0.71611 / (4 / 11) ** (1 / 3)) ** 4
    pars, r = camb_background(ombh2=0.0224, omch2=0.119, thetastar=0.010418, **dict(CAMB_NU, nnu=nnu))
    assert z.h() == pars.H0 / 100 and z.rs_drag() == r.get_derived_params()["rdrag"]
    # CLASS's massless default is not the emulator's mnu = 0.06: CAMB computes it, massless
    z = zelos_class({k: v for k, v in BG.items() if k not in NU})
    assert z.summary()["fallbacks_by_reason"] == {"parameter_not_emulated": 1}
    pars, r = camb_background(ombh2=0.0224, omch2=0.119, H0=68.0, mnu=0.0, num_massive_neutrinos=0, nnu=3.044)
    assert z.Omega_m() == pars.omegam


def test_all_loads_every_shipped_emulator_and_settings_irrelevant_to_one_never_block_it(caplog):
    """`zelos_emulators: all` (as Cobaya's `emulators: all`): every shipped emulator. Their code
    settings are merged for CAMB's runs (CAMB_LCDM_linear_Pk's tau = 0.0543, CAMB_LCDM_CMB's
    lens_potential_accuracy, CAMB_extended_background's dark_energy_model: ppf), but a setting
    that cannot change an emulator's outputs is not compared at the points: the LCDM point is
    CAMB_LCDM_background's, as with that emulator alone."""
    import logging

    from zelos.montepython.options import split
    from zelos.shipped import shipped_names

    names = tuple(shipped_names())
    assert "CAMB_LCDM_background" in names and "CAMB_extended_background" in names
    assert split({"zelos_emulators": "all"})[0].emulators == names
    assert split({"zelos_emulators": ["ALL", "CAMB_LCDM_background"]})[0].emulators == names  # once each
    lcdm = {k: v for k, v in BG.items() if k != "zelos_emulators"}
    for value in ("all", ["all"]):
        z = zelos_class(dict(lcdm, zelos_emulators=value))
        p = z._point
        # every shipped emulator, loaded in the router's rank order (validated Δχ² first), as Cobaya's `all`
        assert sorted(p.plan.emulators) == sorted(names)
        assert list(p.plan.emulators) == zelos.routing.Router(p.plan.emulators).keys()
        assert p.mode == "emulated" and p.keys["H"] == p.keys["D_M"] == "CAMB_LCDM_background"
        pars, r = camb_background(ombh2=0.0224, omch2=0.119, H0=68.0, **CAMB_NU)
        zs = np.array([0.1, 0.51, 1.0, 2.33])
        close(z.Hubble(zs), r.hubble_parameter(zs) / C, 1e-4)
        close(z.angular_distance(zs), r.angular_diameter_distance(zs), 1e-4)
        assert z.summary()["fallbacks_by_reason"] == {}
    # a run's tau_reio that is not linear_Pk's 0.0543 does not move P(k): linear_Pk still serves it
    z = zelos_class(dict(lcdm, zelos_emulators="all", output="mPk", tau_reio=0.0544))
    assert z._point.mode == "emulated" and z._point.keys["pk_lin"] == "CAMB_LCDM_linear_Pk"
    assert "tau" not in z._point.plan.usable["CAMB_LCDM_linear_Pk"][1]
    # CLASS's massless default: no shipped emulator holds mnu = 0, so CAMB computes it, and says so
    caplog.set_level(logging.WARNING, logger="zelos.montepython")
    z = zelos_class({k: v for k, v in lcdm.items() if k not in NU} | {"zelos_emulators": "all"})
    assert z._point.mode == "fallback"
    assert z.summary()["fallbacks_by_reason"] == {"parameter_not_emulated": 1}
    assert "`mnu` = 0 in this run" in caplog.text and "computed by camb (parameter_not_emulated)" in caplog.text
    pars, r = camb_background(ombh2=0.0224, omch2=0.119, H0=68.0, mnu=0.0, num_massive_neutrinos=0, nnu=3.044)
    zs = np.array([0.1, 1.0])
    np.testing.assert_array_equal(z.Hubble(zs), r.hubble_parameter(zs) / C)
    assert z.Omega_m() == pars.omegam


def test_without_zelos_emulators_every_shipped_emulator_is_a_candidate_else_classy_alone(caplog):
    """A .param file that leaves `zelos_emulators` out (issue 17: switching without datafiles)
    gets `all`: the LCDM point is CAMB_LCDM_background's. A run that no shipped emulator can
    answer (CLASS's massless neutrinos: all of them hold one massive species) is a plain classy,
    as the file asked, and start-up says why; `none` (or an empty list) asks for no emulator."""
    import logging

    from zelos.shipped import shipped_names

    caplog.set_level(logging.INFO, logger="zelos.montepython")
    lcdm = {k: v for k, v in BG.items() if k != "zelos_emulators"}
    z = zelos_class(lcdm)
    p = z._point
    assert list(p.plan.emulators) == zelos.routing.Router(p.plan.emulators).keys()
    assert sorted(p.plan.emulators) == sorted(shipped_names()) and p.plan.code == "camb"
    assert p.mode == "emulated" and p.keys["H"] == "CAMB_LCDM_background"

    massless = {k: v for k, v in lcdm.items() if k not in NU}
    z = zelos_class(massless)
    assert z._point.plan.code == "classy" and not z._point.plan.emulators
    assert z.summary()["fallbacks_by_reason"] == {"no_emulators": 1}
    c = plain_classy(massless)
    zs = np.array([0.1, 1.0, 2.5])
    np.testing.assert_array_equal(z.Hubble(zs), [c.Hubble(x) for x in zs])
    assert (f"zelos_emulators not given: the {len(shipped_names())} shipped emulators were candidates, but each holds "
            "an input at another value than this run's (`CAMB_LCDM_" in caplog.text), caplog.text
    assert "holds mnu = 0.06, this run has 0); set zelos_emulators" in caplog.text

    for none in ("none", "None", []):
        z = zelos_class(dict(lcdm, zelos_emulators=none))
        assert z._point.plan.code == "classy" and not z._point.plan.emulators
        assert z.Hubble(1.0) == plain_classy(lcdm).Hubble(1.0)


def test_camb_computes_cmb_and_pk_accessors_as_camb():
    """The fallback of a CAMB CMB emulator: CambClass's C_l, P(k) and sigma8 are CAMB's own."""
    from zelos.montepython.camb_class import CambClass
    from zelos.montepython.class_inputs import read_request

    args = {**REF, **CMB, "non_linear": "halofit"}
    point, problems = to_camb(read_inputs(args).physics)
    assert not problems and point["halofit_version"] == "takahashi"
    cc = CambClass({"lens_potential_accuracy": 1})
    cc.run(point, read_request(args))
    pars = camb.set_params(ombh2=0.02237, omch2=0.12, H0=67.36, tau=0.0544, As=2.1e-9, ns=0.9649, mnu=0.0,
                           num_massive_neutrinos=0, nnu=3.044, lmax=200, lens_potential_accuracy=1,
                           halofit_version="takahashi", WantTransfer=True, kmax=1.2, silent=True,
                           redshifts=cc.pars.Transfer.PK_redshifts[:cc.pars.Transfer.PK_num_redshifts])
    pars.NonLinear = camb.model.NonLinear_both
    r = camb.get_results(pars)
    raw = r.get_cmb_power_spectra(lmax=200, CMB_unit=None, raw_cl=True)
    cl = cc.lensed_cl()
    assert list(cl) == ["tt", "ee", "te", "bb", "pp", "tp", "ell"]  # as classy's, for this output
    close(cl["tt"][2:], raw["total"][2:201, 0], 1e-10)
    close(cl["te"][2:], raw["total"][2:201, 3], 1e-10)
    close(cl["pp"][2:], raw["lens_potential"][2:201, 0], 1e-10)
    pk = r.get_matter_power_interpolator(nonlinear=True, hubble_units=False, k_hunit=False, silent=True)
    close(cc.pk(0.1, 0.5), pk.P(0.5, 0.1), 1e-10)
    close(cc.sigma8(), r.get_sigma8_0(), 1e-10)
    close(cc.sigma(8 / 0.6736, 0.0), r.get_sigmaR(8.0, z_indices=-1), 1e-10)  # CAMB's sigma_R
    close(cc.sigma(8 / 0.6736, 0.0), r.get_sigma8_0(), 2e-5)  # CAMB's two routines' quadratures: 8e-6


# -- the CAMB side behind Class: CAMB's own values ----------------------------------------------------
def test_outside_the_camb_emulator_every_background_accessor_is_cambs():
    z = zelos_class(dict(BG, h=0.80, tau_reio=0.0544, n_s=0.9649))
    assert z._point.mode == "fallback"
    pars, r = camb_background(ombh2=0.0224, omch2=0.119, H0=80.0, tau=0.0544, ns=0.9649, **CAMB_NU)
    zs = np.array([0.0, 0.3, 1.0, 3.0])
    comoving = r.comoving_radial_distance(zs, tol=1e-8)
    for name, mine, cambs in (("luminosity_distance", z.luminosity_distance(zs), r.luminosity_distance(zs)),
                              ("comoving_distance", z.comoving_distance(zs), comoving),
                              ("z_of_r r", z.z_of_r(zs)[0], comoving),
                              ("z_of_r dz/dr", z.z_of_r(zs)[1], r.hubble_parameter(zs) / C)):
        np.testing.assert_array_equal(mine, cambs, err_msg=name)
    assert isinstance(z.luminosity_distance(1.0), float)
    assert z.T_cmb() == pars.TCMB == 2.7255 and z.n_s() == pars.InitPower.ns == 0.9649
    assert z.tau_reio() == 0.0544 and z.z_reio() == camb.get_zre_from_tau(pars, 0.0544)
    d = z.get_current_derived_parameters(["tau_reio", "z_reio", "n_s"])
    assert d == {"tau_reio": 0.0544, "z_reio": z.z_reio(), "n_s": 0.9649}


def camb_growth(k, zs, **kw):
    """CAMB's own growth of CDM + baryons at wavenumber k [1/Mpc]: D(z)/D(0) from its
    perturbations' delta_cdm and delta_baryon, and its f = dln(delta)/dln(a) (`growth`). With
    WantTransfer, as for P(k): CAMB's evolution is then more accurate (without, its massive-neutrino
    D at z = 3 moves by 1.3e-5)."""
    pars = camb.set_params(WantCls=False, Want_CMB=False, WantTransfer=True, kmax=1.0, **kw)
    ev = camb.get_results(pars).get_redshift_evolution(k, zs, ["delta_cdm", "delta_baryon", "growth"])
    delta_cb = pars.omch2 * ev[:, 0] + pars.ombh2 * ev[:, 1]
    return delta_cb / delta_cb[0], ev[:, 2]


def test_camb_growth_factor_is_cambs_growth_of_cdm_and_baryons():
    """CLASS's scale_independent_growth_factor(_f) on the CAMB side (an ODE on CAMB's background)
    against CAMB's perturbations, at a k where their growth is scale independent. Massless
    neutrinos, k = 0.1/Mpc: what is left (radiation, the baryons' decaying mode) measures 7e-8:
    1e-6. One 0.06 eV neutrino, k = 1/Mpc: its free-streaming leaves 1e-6 in D and 2e-6 in f
    (7e-5 and 1e-4 at k = 0.1/Mpc, falling as 1/k^2): 1e-5."""
    zs = np.array([0.0, 0.5, 1.0, 2.0, 3.0])
    massless = {k: v for k, v in BG.items() if k not in NU}  # not the emulator's mnu = 0.06: CAMB computes it
    cases = [(dict(BG, h=0.80), CAMB_NU, 1.0, 1e-5),
             (massless, dict(mnu=0.0, num_massive_neutrinos=0, nnu=3.044), 0.1, 1e-6)]
    for args, nu, k, rtol in cases:
        z = zelos_class(args)
        assert z._point.mode == "fallback"
        growth, f = camb_growth(k, zs, ombh2=0.0224, omch2=0.119, H0=100 * args["h"], **nu)
        close(z.scale_independent_growth_factor(zs), growth, rtol)
        close(z.scale_independent_growth_factor_f(zs), f, rtol)
    assert isinstance(z.scale_independent_growth_factor(0.5), float)
    # at an emulated point: CAMB's background for this point, the same ODE
    z = zelos_class(BG)
    assert z._point.mode == "emulated"
    growth, f = camb_growth(1.0, zs, ombh2=0.0224, omch2=0.119, H0=68.0, **CAMB_NU)
    close(z.scale_independent_growth_factor(zs), growth, 1e-5)
    close(z.scale_independent_growth_factor_f(zs), f, 1e-5)


def top_hat_sigma(pk, r_mpc, z):
    """sigma(R) from CAMB's P(k, z) interpolator by a top-hat integral (a quadrature of our own)."""
    k = np.logspace(-5, math.log10(pk.kmax), 4000)
    x = k * r_mpc
    w = 3.0 * (np.sin(x) - x * np.cos(x)) / x**3
    f = k**3 * pk.P(z, k) * w**2 / (2 * np.pi**2)
    return math.sqrt(float(np.sum(0.5 * (f[1:] + f[:-1]) * np.diff(np.log(k)))))


def test_outside_the_camb_emulator_cl_pk_and_sigma_are_cambs():
    """A CMB + P(k) run with the shipped background emulator, outside its region: Class computes
    the point with CAMB, and every C_l, P(k) and sigma accessor is CAMB's own number."""
    z = zelos_class(dict(BG, h=0.80, tau_reio=0.0544, A_s=2.1e-9, n_s=0.9649, **CMB))
    assert z._point.mode == "fallback"
    transfer = z._backends["camb"].pars.Transfer  # the P(k) redshifts and kmax CAMB was asked for
    redshifts = transfer.PK_redshifts[:transfer.PK_num_redshifts]
    assert max(redshifts) == 1.0 and min(redshifts) == 0.0 and transfer.kmax >= 1.0
    pars = camb.set_params(ombh2=0.0224, omch2=0.119, H0=80.0, tau=0.0544, As=2.1e-9, ns=0.9649, **CAMB_NU,
                           lmax=200, WantTransfer=True, kmax=transfer.kmax, redshifts=redshifts, silent=True)
    pars.NonLinear = camb.model.NonLinear_none  # CLASS's linear run (CAMB lenses non-linearly by default)
    r = camb.get_results(pars)
    powers = r.get_cmb_power_spectra(lmax=200, CMB_unit=None, raw_cl=True)
    columns = {"tt": ("", 0), "ee": ("", 1), "te": ("", 3), "bb": ("", 2), "pp": ("lens_potential", 0),
               "tp": ("lens_potential", 1)}
    for name, table in (("lensed_cl", "total"), ("raw_cl", "unlensed_total")):
        cl = getattr(z, name)()
        assert list(cl) == ["tt", "ee", "te", "bb", "pp", "tp", "ell"]  # as classy's, for this output
        for key, (other, col) in columns.items():
            np.testing.assert_array_equal(cl[key][2:], powers[other or table][2:201, col], err_msg=f"{name}[{key}]")
    pk = r.get_matter_power_interpolator(nonlinear=False, hubble_units=False, k_hunit=False, silent=True)
    for k, zz in ((0.02, 0.0), (0.1, 0.5), (0.3, 1.0)):
        assert z.pk(k, zz) == z.pk_lin(k, zz) == float(pk.P(zz, k))  # linear run: pk is pk_lin
    assert z.sigma8() == r.get_sigma8_0()
    # sigma(R, z): CAMB's sigma_R at its P(k) redshifts; a spline of ln sigma in z between them
    radii = np.array([2.0, 8.0, 20.0])
    np.testing.assert_array_equal(z.sigma(radii, np.array([1.0, 0.0]), True),
                                  r.get_sigmaR(radii, z_indices=[0, -1], hubble_units=True))
    close(z.sigma(8.0, 0.0, True), z.sigma8(), 2e-5)  # CAMB's sigma_R and sigma8 routines
    # between the nodes: against a quadrature of our own of CAMB's P(k, z), which differs from
    # CAMB's sigma_R by 5.3e-5 at every z (to 2e-9): that offset is the same between them
    offset = z.sigma(10.0, 0.0) / top_hat_sigma(pk, 10.0, 0.0)
    close(offset, 1.0, 1e-4)
    for zz in (0.5, 0.83):
        close(z.sigma(10.0, zz) / top_hat_sigma(pk, 10.0, zz), offset, 1e-7)
    with pytest.raises(zmp.CosmoSevereError, match=r"sigma\(R, z\) is known for z in \[0, 1\]"):
        z.sigma(8.0, 1.5, True)


def test_class_to_camb_translation():
    physics = read_inputs({"omega_b": 0.0224, "Omega_cdm": 0.26, "H0": 68.0, "ln10^{10}A_s": 3.05, "n_s": 0.965,
                           "tau_reio": 0.05, "N_ur": 2.0308, "N_ncdm": 1, "m_ncdm": "0.06",
                           "output": "tCl", "sBBN file": "x/sBBN.dat"}).physics
    point, problems = to_camb(physics)
    assert not problems
    assert point["H0"] == 68.0 and point["ombh2"] == 0.0224 and point["omch2"] == pytest.approx(0.26 * 0.68**2)
    assert point["As"] == pytest.approx(math.exp(3.05) * 1e-10) and point["tau"] == 0.05
    assert point["mnu"] == 0.06 and point["num_massive_neutrinos"] == 1
    assert point["nnu"] == pytest.approx(3.044, abs=1e-4) and point["halofit_version"] == "none"
    point, problems = to_camb(read_inputs({"w0_fld": -0.9}).physics)
    assert "Omega_Lambda" in problems["w0_fld"]
    point, problems = to_camb(read_inputs({"w0_fld": -0.9, "Omega_Lambda": 0}).physics)
    assert not problems and point["w"] == -0.9 and point["dark_energy_model"] == "ppf"
    point, problems = to_camb(read_inputs({"h": 0.7}).physics, {"cosmomc_theta": 0.0104})
    assert "both given" in problems["cosmomc_theta"]


# -- the launcher and the stand-in CLASS folder ----------------------------------------------------------
STAND_IN = textwrap.dedent("""\
    # A stand-in for MontePython.py: imports classy as MontePython 3.6 does, after putting a CLASS
    # build folder on sys.path, and runs MontePython's per-point call pattern.
    import os, sys
    args = sys.argv[1:]
    assert args[0] == "run"
    param, out = args[args.index("-p") + 1], args[args.index("-o") + 1]
    sys.path.insert(1, os.path.join(os.path.dirname(__file__), "python", "build"))
    from classy import Class
    from classy import CosmoSevereError, CosmoComputationError
    import classy

    class Data:
        cosmo_arguments = {}
    data = Data()
    exec(open(param).read())
    cosmo = Class()
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "chain.txt"), "w") as f:
        for h in (0.68, 0.70, 0.90):
            data.cosmo_arguments["h"] = h
            if cosmo.state:
                cosmo.struct_cleanup()
            cosmo.set(data.cosmo_arguments)
            try:
                cosmo.compute()
            except CosmoComputationError:
                continue
            d = cosmo.get_current_derived_parameters(["rs_d"])
            f.write("%r %r %r\\n" % (h, float(cosmo.angular_distance(0.5)), float(d["rs_d"])))
    print("stand-in: zelos" if getattr(classy, "__zelos__", False) else "stand-in: real classy")
    sys.exit(0)
""")


def test_the_launcher_runs_a_montepython_like_script_with_zelos_as_classy(tmp_path):
    mp = tmp_path / "montepython_public"
    (mp / "montepython").mkdir(parents=True)
    (mp / "montepython" / "MontePython.py").write_text(STAND_IN)
    param = tmp_path / "bao.param"
    param.write_text(textwrap.dedent(f"""\
        data.cosmo_arguments.update({{'omega_b': 0.0224, 'omega_cdm': 0.119, 'N_ur': 2.0328, 'N_ncdm': 1,
                                      'm_ncdm': 0.06, 'output': ''}})
        data.cosmo_arguments['zelos_emulators'] = ['CAMB_LCDM_background']
        data.cosmo_arguments['zelos_log'] = {str(tmp_path / 'points')!r}
        """))
    proc = subprocess.run([sys.executable, "-m", "zelos.montepython", str(mp), "run", "-p", str(param), "-o",
                           str(tmp_path / "chains")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "stand-in: zelos" in proc.stdout
    assert "[zelos] 3 points: 2 emulated" in proc.stdout and "1 computed by camb" in proc.stdout
    rows = [list(map(float, line.split())) for line in (tmp_path / "chains" / "chain.txt").read_text().splitlines()]
    assert [r[0] for r in rows] == [0.68, 0.70, 0.90]
    _, r = camb_background(ombh2=0.0224, omch2=0.119, H0=90.0, **CAMB_NU)
    assert rows[2][1] == r.angular_diameter_distance(0.5)  # outside: CAMB's own value
    (record,) = zelos.read_point_log(str(tmp_path / "points"))
    assert record["parameters"]["H0"] == 90.0
    bad = subprocess.run([sys.executable, "-m", "zelos.montepython", str(tmp_path), "run"], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "no MontePython.py there" in bad.stderr


def test_prepare_class_makes_the_folder_montepython_checks_for(tmp_path):
    d = tmp_path / "zelos_class"
    proc = subprocess.run([sys.executable, "-m", "zelos.montepython", "prepare-class", str(d)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert (d / "main" / "class.c").is_file() and (d / "python" / "build").is_dir()
    assert '#define _VERSION_ "v3.4.1"' in (d / "include" / "common.h").read_text()
    real = os.path.join(os.path.dirname(classy.__file__), "external", "bbn", "sBBN.dat")
    assert (d / "external" / "bbn" / "sBBN.dat").read_bytes() == open(real, "rb").read()
    assert f"path['cosmo'] = '{d}'" in proc.stdout


def test_the_launcher_with_classy_computing_and_montepythons_bbn_path(tmp_path):
    """No emulator: every point is the real classy's, under the launcher too (where `classy` is
    zelos, so the real classy must still find its data files), with the absolute `sBBN file`
    MontePython writes into the prepared folder."""
    d = tmp_path / "zelos_class"
    from zelos.montepython.launcher import prepare_class_folder

    prepare_class_folder(d)
    mp = tmp_path / "montepython_public"
    (mp / "montepython").mkdir(parents=True)
    (mp / "montepython" / "MontePython.py").write_text(STAND_IN)
    param = tmp_path / "bao.param"
    param.write_text(f"data.cosmo_arguments.update({{'omega_b': 0.0224, 'omega_cdm': 0.119, 'output': '', "
                     f"'sBBN file': {str(d / 'external' / 'bbn' / 'sBBN.dat')!r}}})\n")
    proc = subprocess.run([sys.executable, "-m", "zelos.montepython", str(mp), "run", "-p", str(param), "-o",
                           str(tmp_path / "chains")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "[zelos] 3 points: 0 emulated, 3 computed by classy" in proc.stdout
    rows = [list(map(float, line.split())) for line in (tmp_path / "chains" / "chain.txt").read_text().splitlines()]
    c = plain_classy({"omega_b": 0.0224, "omega_cdm": 0.119, "h": 0.90, "sBBN file": "/external/bbn/sBBN.dat"})
    assert rows[2] == [0.90, c.angular_distance(0.5), c.rs_drag()]
