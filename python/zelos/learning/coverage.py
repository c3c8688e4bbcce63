"""How much of an MCMC chain an emulator's trust region holds, before the chain is run.

A chain's emulated fraction is the fraction of its likelihood calls inside the trust region, and
a Metropolis chain calls the likelihood at every proposal, most of them rejected. Cobaya proposes
a step along a random direction of the proposal covariance's whitened basis, of length 2.4 r,
with r drawn from an exponential a third of the time and as the radius of a 2-D Gaussian
otherwise (``cobaya/samplers/mcmc/proposal.py``): a long tail, so that in 7 dimensions a region
must reach about 9.5 posterior standard deviations from the posterior's mean to hold 99% of the
proposals (5 σ holds 78%, 7 σ 95%), though 5 σ holds all but 1e-3 of the posterior itself.

:func:`proposal_coverage` draws chain positions from a Gaussian posterior, Cobaya's proposals from
them (those outside the prior's bounds are rejected by Cobaya before any theory call, and not
counted), and counts what the trust region holds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

#: Cobaya's default ``proposal_scale``.
PROPOSAL_SCALE = 2.4
#: Cobaya's radial proposal: exponential with this probability, else a 2-D Gaussian's radius.
EXPONENTIAL_FRACTION = 0.33

#: Chain columns (Cobaya's, as the examples name them) -> (emulator name, factor); covariance
#: files go through the spec reader's own table (src/spec/covmat.rs).
CHAIN_NAMES = {"theta_MC_100": ("cosmomc_theta", 0.01), "omegabh2": ("ombh2", 1.0), "omegach2": ("omch2", 1.0)}


@dataclass(frozen=True)
class Coverage:
    """What the trust region holds of a chain's positions and of its proposals."""

    #: fraction of the posterior's draws inside (where the accepted points lie)
    posterior: float
    #: fraction of the proposals inside: the emulated fraction of the chain's calls to expect
    proposals: float
    #: ``{parameter: mean offset}`` of the proposals left outside from the posterior's mean, in
    #: posterior standard deviations: the directions in which the region is too short
    leaving: dict
    draws: int


def radial_steps(n: int, rng) -> np.ndarray:
    """``n`` step lengths in units of the proposal's standard deviations, before the scale."""
    exponential = rng.uniform(size=n) < EXPONENTIAL_FRACTION
    return np.where(exponential, rng.standard_exponential(n), np.sqrt(rng.chisquare(2, n)))


def proposal_coverage(region, names, mean, covariance, *, proposal_covariance=None, bounds=None,
                      scale: float = PROPOSAL_SCALE, draws: int = 20000, seed: int = 0,
                      accept=None) -> Coverage:
    """``region``: a :class:`zelos.routing.TrustRegion`; ``accept``: a further filter of points
    in the region's parameter order (a spec's ``constraints``); ``names``: the parameters of ``mean``
    and ``covariance`` (the region's, in any order; a parameter of the region not among them must
    not vary: it is an error); ``proposal_covariance``: the proposal's (default: the posterior's,
    as Cobaya learns it); ``bounds``: ``{name: (low, high)}`` of the prior (a proposal beyond them
    never reaches the theory)."""
    names = list(names)
    missing = [p for p in region.parameters if p not in names]
    if missing:
        raise ValueError(f"the posterior does not give the region's parameters {missing}")
    mean = np.asarray(mean, float)
    covariance = np.asarray(covariance, float)
    proposal = covariance if proposal_covariance is None else np.asarray(proposal_covariance, float)
    rng = np.random.default_rng(seed)
    positions = rng.multivariate_normal(mean, covariance, size=draws)
    positions = positions[_within(positions, names, bounds)]
    directions = rng.standard_normal(positions.shape)
    directions /= np.linalg.norm(directions, axis=1)[:, None]
    steps = scale * radial_steps(len(positions), rng)[:, None] * directions
    proposals = positions + steps @ np.linalg.cholesky(proposal).T
    proposals = proposals[_within(proposals, names, bounds)]

    order = [names.index(p) for p in region.parameters]
    held_positions, _ = region.decide_batch(positions[:, order])
    held, _ = region.decide_batch(proposals[:, order])
    if accept is not None:
        held_positions &= accept(positions[:, order])
        held &= accept(proposals[:, order])
    sigma = np.sqrt(np.diag(covariance))
    leaving = {}
    if (~held).any():
        offsets = ((proposals[~held] - mean) / sigma).mean(axis=0)
        leaving = {p: float(offsets[names.index(p)]) for p in region.parameters}
    return Coverage(float(held_positions.mean()), float(held.mean()), leaving, len(proposals))


def _within(x, names, bounds) -> np.ndarray:
    keep = np.ones(len(x), bool)
    for name, (low, high) in (bounds or {}).items():
        if name in names:
            column = x[:, names.index(name)]
            keep &= (column >= low) & (column <= high)
    return keep


def spec_region(path: str) -> tuple:
    """``(TrustRegion, accept, parameters, centre)`` that building the spec at ``path`` would give: its
    design's training points (drawn as `zelos build` draws them, no code run) and its `trust`
    section; ``accept``: its `constraints` (or None); ``centre``: the training points' mean. For
    weighing a design before its CAMB hours."""
    from ..build.design import draw
    from ..build.plan import plan as make_plan
    from ..routing import TrustRegion
    from ..spec import constraint_filter, load_spec

    spec = load_spec(path)
    plan = make_plan(spec)
    train, _ = draw(plan, os.path.dirname(os.path.abspath(path)))
    trust = spec["trust"]  # load_spec fills in the defaults
    region = TrustRegion(plan.parameters, trust["method"], lower=plan.lower, upper=plan.upper, points=train,
                         pico=trust["threshold"].get("pico"), chi2_quantile=trust["threshold"].get("chi2_quantile"))
    accept = constraint_filter(plan.parameters, spec.get("constraints") or [])
    return region, accept, list(plan.parameters), train.mean(axis=0)


def read_covmat(path: str, parameters) -> tuple:
    """``(names, covariance)`` of those of ``parameters`` (emulator names) a CosmoMC/Cobaya
    covariance file holds (a ``#`` header of names; the spec reader's translations: ``theta`` and
    ``theta_MC_100`` are 100 θ_MC, converted to ``cosmomc_theta``)."""
    from .. import _zelos

    names, matrix = _zelos.read_covmat(os.fspath(path), list(parameters))
    return list(names), np.array(matrix, dtype=float).reshape(len(names), len(names))


def read_chain(root: str, parameters, burn_in: float = 0.3) -> tuple:
    """``(names, mean, covariance)`` of ``parameters`` from a chain getdist reads (``root``: the
    chain's output prefix), its first ``burn_in`` dropped."""
    from getdist import loadMCSamples

    samples = loadMCSamples(root, settings={"ignore_rows": burn_in})
    columns = [p.name for p in samples.getParamNames().names]
    found = {}
    for column in columns:
        name, factor = CHAIN_NAMES.get(column, (column, 1.0))
        if name in parameters and name not in found:
            found[name] = (column, factor)
    names = [p for p in parameters if p in found]
    x = np.column_stack([samples[found[p][0]] * found[p][1] for p in names])
    return names, np.average(x, axis=0, weights=samples.weights), np.cov(x, rowvar=False, aweights=samples.weights)


def _parse_values(items, what: str) -> dict:
    out = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"{what} `{item}`: expected NAME=VALUE")
        out[name.strip()] = value.strip()
    return out


def arguments(c) -> None:
    """The ``zelos coverage`` command line."""
    c.add_argument("emulator", help="shipped name, archive path or hub:NAME; or a spec (SPEC.yaml): the region "
                   "its build would have, before any code runs")
    where = c.add_mutually_exclusive_group(required=True)
    where.add_argument("--chain", help="a chain's output prefix (getdist reads it; 30%% burn-in dropped)")
    where.add_argument("--covmat", help="a CosmoMC/Cobaya covariance file (theta = 100 theta_MC)")
    c.add_argument("--mean", nargs="*", metavar="NAME=VALUE", help="the posterior's mean (emulator names; "
                   "default: the training points' mean)")
    c.add_argument("--bound", nargs="*", metavar="NAME=LOW:HIGH", help="prior bounds (proposals beyond them are "
                   "rejected before the theory, e.g. mnu=0:5)")
    c.add_argument("--draws", type=int, default=20000)
    c.add_argument("--seed", type=int, default=0)
    c.set_defaults(func=command)


def command(args) -> int:
    """``zelos coverage``: what an emulator's trust region holds of a chain (see the module doc).
    Bad input (a file that cannot be read, a name the emulator does not take) is a
    :class:`zelos.ParameterError` naming it."""
    from .. import ParameterError

    try:
        return _command(args)
    except (OSError, ValueError, KeyError) as e:
        raise ParameterError(f"coverage: {e}") from e


def _region(target: str) -> tuple:
    """``(region, accept, parameters, label, centre)`` of an emulator, or of a spec's design."""
    from ..emulator import get_emulator
    from ..routing import TrustRegion

    if target.endswith((".yaml", ".yml")):  # a spec: the region its build would have
        region, accept, parameters, mean_of_points = spec_region(target)
        return region, accept, parameters, target, dict(zip(parameters, mean_of_points))
    emu = get_emulator(target, out_of_range="ignore")
    centre = dict(zip(emu.parameters, emu.region["mean"])) if "mean" in emu.region else {}
    return TrustRegion.from_emulator(emu), None, list(emu.parameters), emu.name, centre


def _posterior(args, parameters: list, label: str, centre: dict) -> tuple:
    """``(names, mean, covariance, source)`` from ``--chain``, or ``--covmat`` and ``--mean``."""
    if args.chain:
        return (*read_chain(args.chain, parameters), f"the chain {args.chain}")
    names, covariance = read_covmat(args.covmat, parameters)
    given = {k: float(v) for k, v in _parse_values(args.mean, "--mean").items()}
    unknown = set(given) - set(parameters)
    if unknown:
        raise ValueError(f"--mean: {sorted(unknown)} are not parameters of {label} ({', '.join(parameters)})")
    mean = np.array([given.get(p, centre.get(p, np.nan)) for p in names])
    defaulted = [p for p in names if p not in given]
    source = f"the covariance {args.covmat}, mean " + (
        "as given" if not defaulted else f"the training points' for {', '.join(defaulted)}")
    return names, mean, covariance, source


def _command(args) -> int:
    region, accept, parameters, label, centre = _region(args.emulator)
    names, mean, covariance, source = _posterior(args, parameters, label, centre)
    absent = [p for p in parameters if p not in names]
    if absent:
        raise ValueError(f"{args.chain or args.covmat} does not give {', '.join(absent)}, which {label} takes")
    bounds = {}
    for name, value in _parse_values(args.bound, "--bound").items():
        low, sep, high = value.partition(":")
        if not sep:
            raise ValueError(f"--bound {name}={value}: expected NAME=LOW:HIGH")
        bounds[name] = (float(low), float(high))
    result = proposal_coverage(region, names, mean, covariance, bounds=bounds, draws=args.draws, seed=args.seed,
                               accept=accept)
    print(f"{label}, posterior from {source}:")
    print(f"  posterior draws inside the trust region: {100 * result.posterior:.1f}%")
    print(f"  Cobaya's proposals from them (scale {PROPOSAL_SCALE}) inside: {100 * result.proposals:.1f}% "
          f"of {result.draws}: the emulated fraction to expect")
    if result.leaving:
        far = sorted(result.leaving.items(), key=lambda kv: -abs(kv[1]))
        print("  the proposals outside lie, on average, at (posterior sigma from its mean): "
              + ", ".join(f"{p} {v:+.2f}" for p, v in far))
    return 0
