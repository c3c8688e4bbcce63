"""`make demo`: a real Cobaya MCMC on real data with `theory: zelos` and an emulator that ships
with zelos.

By default Planck 2018 plik-lite TTTEEE (a tau prior standing in for low-ell EE) + DESI DR2 BAO +
Union3 supernovae, flat LCDM (examples/cobaya_planck_bao_sn.yaml), on the shipped
`CAMB_LCDM_CMB`; with `--w0wa`, the same with Planck 2018 lensing in flat w0waCDM
(examples/cobaya_planck_w0wa.yaml) on `CAMB_w0wa_CMB`; with `--mnu`, the same in flat LCDM + Sum m_nu
(examples/cobaya_planck_mnu.yaml) on `CAMB_mnu_CMB`; with `--nnu` and `--omk`, the same in
ΛCDM + N_eff and + Ω_k (on `CAMB_nnu_CMB`, `CAMB_omk_CMB`); with `--bao-sn`, DESI DR2 + Union3 alone
(examples/cobaya_bao_sn.yaml) on `CAMB_LCDM_background`; with `--rsd`, SDSS BAO + f sigma8 (MGS,
DR16 LRG, QSO, Lyman-alpha) (examples/cobaya_bao_rsd.yaml) on `CAMB_LCDM_background` and
`CAMB_LCDM_growth`. CAMB answers the points outside the trust region. Runs to the Gelman-Rubin
R-1 of its YAML (0.01; 0.02 for w0wa and mnu), prints the parameter table and zelos's summary, measures
one evaluation with zelos and with camb side by side (and so what the chain would have cost with
camb), and saves a getdist triangle plot.
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import sys
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(ROOT, "demo-out")
CAMB_CMB = {"lens_potential_accuracy": 1, "mnu": 0.06, "num_massive_neutrinos": 1, "nnu": 3.046, "omk": 0.0}

# name -> (example YAML, shipped emulators, output root, parameters shown, camb's extra_args, title)
DEMOS = {
    "planck": ("cobaya_planck_bao_sn.yaml", ["CAMB_LCDM_CMB"], "planck_lite_desi_union3",
               ["ombh2", "omch2", "theta_MC_100", "tau", "logA", "ns", "H0", "omegam", "sigma8", "S8", "rdrag"],
               CAMB_CMB, "Planck 2018 plik-lite TTTEEE + tau prior + DESI DR2 BAO + Union3, flat LCDM"),
    "bao-sn": ("cobaya_bao_sn.yaml", ["CAMB_LCDM_background"], "desi_dr2_union3",
               ["ombh2", "omch2", "H0", "omegam", "rdrag"],
               {"mnu": 0.06, "num_massive_neutrinos": 1, "nnu": 3.046}, "DESI DR2 BAO + Union3, flat LCDM"),
    "w0wa": ("cobaya_planck_w0wa.yaml", ["CAMB_w0wa_CMB"], "planck_lite_lensing_desi_union3_w0wa",
             ["w", "wa", "omch2", "theta_MC_100", "ns", "H0", "omegam", "sigma8", "S8", "rdrag"],
             {**CAMB_CMB, "dark_energy_model": "ppf"},
             "Planck 2018 plik-lite TTTEEE + tau prior + Planck lensing + DESI DR2 BAO + Union3, flat w0waCDM"),
    "mnu": ("cobaya_planck_mnu.yaml", ["CAMB_mnu_CMB"], "planck_lite_lensing_desi_union3_mnu",
            ["mnu", "omch2", "theta_MC_100", "ns", "H0", "omegam", "sigma8", "S8", "rdrag"],
            {"lens_potential_accuracy": 1, "num_massive_neutrinos": 3, "neutrino_hierarchy": "degenerate",
             "nnu": 3.046, "omk": 0.0},
            "Planck 2018 plik-lite TTTEEE + tau prior + Planck lensing + DESI DR2 BAO + Union3, flat LCDM + Sum m_nu"),
    "nnu": ("cobaya_planck_nnu.yaml", ["CAMB_nnu_CMB"], "planck_lite_lensing_desi_union3_nnu",
            ["nnu", "omch2", "theta_MC_100", "ns", "H0", "omegam", "sigma8", "S8", "rdrag"],
            {"lens_potential_accuracy": 1, "mnu": 0.06, "num_massive_neutrinos": 1, "omk": 0.0},
            "Planck 2018 plik-lite TTTEEE + tau prior + Planck lensing + DESI DR2 BAO + Union3, flat LCDM + N_eff"),
    "omk": ("cobaya_planck_omk.yaml", ["CAMB_omk_CMB"], "planck_lite_lensing_desi_union3_omk",
            ["omk", "omch2", "theta_MC_100", "ns", "H0", "omegam", "sigma8", "S8", "rdrag"],
            {"lens_potential_accuracy": 1, "mnu": 0.06, "num_massive_neutrinos": 1, "nnu": 3.046,
             "Accuracy.IntkAccuracyBoost": 3},
            "Planck 2018 plik-lite TTTEEE + tau prior + Planck lensing + DESI DR2 BAO + Union3, LCDM + Omega_k"),
    "rsd": ("cobaya_bao_rsd.yaml", ["CAMB_LCDM_background", "CAMB_LCDM_growth"], "sdss_dr16_bao_rsd",
            ["omch2", "H0", "logA", "omegam", "sigma8", "S8", "rdrag"],
            {"mnu": 0.06, "num_massive_neutrinos": 1, "nnu": 3.046},
            "SDSS BAO + f sigma8 (MGS, DR16 LRG, QSO, Lyman-alpha) + BBN, flat LCDM"),
}


#: The likelihoods every demo uses, as Cobaya installs them.
INSTALL_DATA = ("cobaya-install planck_2018_highl_plik.TTTEEE_lite_native planck_2018_lensing.native bao.desi_dr2 "
                "sn.union3 bao.sdss_dr16_baoplus_lrg bao.sdss_dr16_baoplus_qso -p ~/cobaya_packages")


def packages_path() -> str:
    path = os.environ.get("COBAYA_PACKAGES_PATH") or os.path.join(ROOT, "..", "shared", "data", "cobaya_packages")
    if not os.path.isdir(os.path.join(path, "data")):
        sys.exit(f"demo: no Cobaya packages folder with Planck plik-lite, DESI DR2 and Union3 data at {path} "
                 "(the demo looks in $COBAYA_PACKAGES_PATH, else in ../shared/data/cobaya_packages beside this "
                 "repository). Download the data once with Cobaya:\n"
                 f"    {INSTALL_DATA}\n"
                 "then: COBAYA_PACKAGES_PATH=~/cobaya_packages make demo")
    return os.path.abspath(path)


def demo_info(demo: str) -> dict:
    yaml_name, emulators, output = DEMOS[demo][:3]
    with open(os.path.join(HERE, yaml_name)) as f:
        info = yaml.safe_load(f)
    info["theory"]["zelos"]["emulators"] = list(emulators)  # shipped inside zelos
    info["theory"]["zelos"]["log"] = os.path.join(OUT, "chains", f"{output}_points")
    info["output"] = os.path.join(OUT, "chains", output)
    info["packages_path"] = packages_path()
    mcmc = info["sampler"]["mcmc"]
    if "covmat" in mcmc:
        mcmc["covmat"] = os.path.join(ROOT, mcmc["covmat"])
    info["force"] = True
    return info


def cost_per_evaluation(info: dict, theory: dict, n: int, warm_up: int = 2) -> float:
    """Seconds per full evaluation (theory + likelihoods) at points drawn from the reference."""
    from cobaya.model import get_model

    trial = copy.deepcopy({k: info[k] for k in ("likelihood", "params", "packages_path")})
    trial["theory"] = theory
    if "camb" in theory:
        trial["params"].pop("S8", None)  # Cobaya's camb has no S8 (zelos emulates it)
    model = get_model(trial)
    points = [model.prior.reference() for _ in range(n + warm_up)]
    for p in points[:warm_up]:  # the first CAMB call sets up its tables
        model.logposterior(p)
    t0 = time.perf_counter()
    for p in points[warm_up:]:
        model.logposterior(p)
    return (time.perf_counter() - t0) / n


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bao-sn", action="store_true", help="DESI DR2 + Union3 only, on CAMB_LCDM_background")
    ap.add_argument("--w0wa", action="store_true", help="Planck-lite + lensing + DESI DR2 + Union3 in flat "
                    "w0waCDM, on CAMB_w0wa_CMB")
    ap.add_argument("--mnu", action="store_true", help="Planck-lite + lensing + DESI DR2 + Union3 in flat "
                    "LCDM + Sum m_nu, on CAMB_mnu_CMB")
    ap.add_argument("--nnu", action="store_true", help="Planck-lite + lensing + DESI DR2 + Union3 in flat "
                    "LCDM + N_eff, on CAMB_nnu_CMB")
    ap.add_argument("--omk", action="store_true", help="Planck-lite + lensing + DESI DR2 + Union3 in "
                    "LCDM + Omega_k, on CAMB_omk_CMB")
    ap.add_argument("--rsd", action="store_true", help="SDSS BAO + f sigma8 (DR16), on CAMB_LCDM_background "
                    "and CAMB_LCDM_growth")
    args = ap.parse_args(argv)
    demo = ("rsd" if args.rsd else "bao-sn" if args.bao_sn else "w0wa" if args.w0wa else "mnu" if args.mnu
            else "nnu" if args.nnu else "omk" if args.omk else "planck")
    _, emulators, _, shown, camb_args, title = DEMOS[demo]

    from cobaya.run import run
    from getdist import loadMCSamples, plots

    os.makedirs(os.path.join(OUT, "chains"), exist_ok=True)
    info = demo_info(demo)
    # The chain is overwritten (force: true); its point log would otherwise keep earlier runs' points.
    shutil.rmtree(info["theory"]["zelos"]["log"], ignore_errors=True)
    t0 = time.perf_counter()
    _, sampler = run(info)
    wall = time.perf_counter() - t0
    summary = sampler.model.theory["zelos"].summary()

    samples = loadMCSamples(info["output"], settings={"ignore_rows": 0.3})
    print(f"\n{title}, theory zelos ({', '.join(emulators)}): converged "
          f"(R-1 < {info['sampler']['mcmc']['Rminus1_stop']}) in {wall:.0f} s")
    stats = samples.getMargeStats()
    print(f"{'parameter':<14} {'mean':>12} {'sigma':>10}")
    for p in shown:
        par = stats.parWithName(p)
        print(f"{p:<14} {par.mean:>12.6g} {par.err:>10.3g}")

    calls = summary["calls"]
    print(f"\nzelos: {calls} calls, {summary['emulated']} emulated ({100 * summary['emulated'] / max(calls, 1):.2f}%), "
          f"{summary['fallback']} computed by CAMB {summary['fallbacks_by_reason'] or ''}, "
          f"{summary['spot_checks']} spot checks (max |delta log p| "
          f"{max(summary['spot_check_max_abs_delta_logp'].values(), default=float('nan')):.3f}).")
    zelos_cost = cost_per_evaluation(info, {"zelos": {"emulators": list(emulators)}}, n=200)
    cmb = demo in ("planck", "w0wa", "mnu", "nnu", "omk")  # a CAMB run with C_l: seconds, so fewer
    camb_cost = cost_per_evaluation(info, {"camb": {"extra_args": camb_args}}, n=6 if cmb else 60)
    print(f"One evaluation (theory + likelihoods), side by side: zelos {zelos_cost * 1e3:.2f} ms, "
          f"camb {camb_cost * 1e3:.0f} ms ({camb_cost / zelos_cost:.0f}x).")
    print(f"The same {calls} evaluations with camb: about {calls * camb_cost / 3600:.1f} hours on this machine "
          f"(this chain: {wall / 60:.1f} minutes).")

    from zelos.learning.point_report import report

    logdir = info["theory"]["zelos"]["log"]
    where = report(logdir, log=lambda *a: None)
    print(f"Where the chain left the emulator (`zelos report {os.path.relpath(logdir, ROOT)}`): "
          f"{os.path.relpath(os.path.join(logdir, 'report', 'report.md'), ROOT)}, {len(where['plots'])} plots; "
          f"`zelos retrain` learns from the same folder (docs/active-learning.md).")

    g = plots.get_subplot_plotter()
    g.triangle_plot(samples, shown[:8] if cmb else shown, filled=True, title_limit=1)
    path = os.path.join(OUT, f"triangle_{demo}.png")
    g.export(path)
    print(f"Triangle plot: {os.path.relpath(path, ROOT)}; chains: {os.path.relpath(info['output'], ROOT)}.*")


if __name__ == "__main__":
    main()
