"""An emulator's accuracy where it matters: on real likelihoods.

At held-out points (the build's test set, computed by the code and never trained on) the same
Cobaya model is evaluated twice, with ``theory: zelos`` on the archive and with the code itself
(Cobaya's camb, with the spec's settings); the differences of each likelihood's log p and of the
derived parameters are summarised. ``zelos validate ARCHIVE --likelihoods FILE`` writes the
result into the archive's report (``report.json`` key ``likelihood_accuracy`` and a section of
``report.md``); docs/accuracy.md shows it for the shipped emulators.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager

import numpy as np

from .. import _zelos
from ..emulator import load
from ..reference import read_safetensors

__all__ = ["held_out_points", "likelihood_accuracy", "write_into_archive"]

#: Derived parameters compared when the emulator provides them (Cobaya camb's names).
DERIVED = ("H0", "sigma8", "S8", "rdrag", "thetastar", "zdrag", "zstar", "age", "omegam")
PERCENTILES = (50, 95, 99)


def held_out_points(archive: str, n: int | None = None, workdir: str | None = None) -> np.ndarray:
    """The first ``n`` successful test points of the archive's build (its ``workdir``/test store).
    Where that store is gone (a build made on another machine), the spec's design draws them
    again: the same points to round-off, the build's failed ones included (a warning says so);
    a design read from a file cannot be drawn again, and raises."""
    from .store import load_training_set

    emulator = load(archive)
    workdir = workdir or emulator.report.get("data", {}).get("workdir")
    store = os.path.join(workdir or "", "test")
    if workdir and os.path.isfile(os.path.join(store, "layout.json")):
        points = load_training_set(store).params
    elif emulator.spec["sampling"]["design"] != "file":
        from .design import draw
        from .plan import plan

        _, points = draw(plan(emulator.spec), os.getcwd())
        warnings.warn(f"{archive}: its held-out test set is not at {store!r}; drew the spec's {len(points)} test "
                      "points again from its design (the same points, but those where the code failed in the "
                      "build are included)", RuntimeWarning, stacklevel=2)
    else:
        raise FileNotFoundError(f"{archive}: its held-out test set is not at {store!r}, and its design is a file "
                                "of points; pass the build's workdir (--workdir)")
    return points if n is None else points[:n]


def cobaya_params(emulator, fixed: dict | None = None, derived=()) -> dict:
    """A Cobaya `params` block that samples the emulator's parameters (logA as Cobaya's Planck
    files do: sampled and dropped, As computed from it), fixes ``fixed`` and asks ``derived``."""
    params = {}
    for name, lo, hi in zip(emulator.parameters, emulator.lower, emulator.upper):
        params[name] = {"prior": {"min": float(lo), "max": float(hi)}}
    if "logA" in params:
        params["logA"]["drop"] = True
        params["As"] = {"value": "lambda logA: 1e-10 * np.exp(logA)"}
    for name, value in (fixed or {}).items():
        params[name] = {"value": value}
    for name in derived:
        params[name] = None
    return params


def _routed_away(theory) -> int:
    """Points the router sent to the code. Not those where the code computed only what this
    archive does not emulate (``requirement_not_emulated``: a growth emulator alone leaves the
    BAO distances to CAMB); there the emulated part is still what is being validated."""
    reasons = theory.summary()["fallbacks_by_reason"]
    return sum(n for reason, n in reasons.items() if not reason.startswith("requirement_not_emulated"))


def likelihood_accuracy(archive: str, likelihoods: dict, points, packages_path: str | None = None,
                        fixed: dict | None = None, progress: bool = True, processes: int | None = 1) -> dict:
    """Compares ``theory: zelos`` on ``archive`` with the code it emulates, at ``points`` (rows in
    the emulator's parameter order), on the Cobaya ``likelihoods`` block; ``fixed`` gives the
    likelihoods' nuisance parameters. Points outside the trust region are skipped and counted.
    The code runs in ``processes`` worker processes (None: every core), each with its own Cobaya
    model."""
    from cobaya.model import get_model

    emulator = load(archive)
    code = emulator.spec["code"]
    if code["name"] != "camb":
        raise NotImplementedError(f"{archive}: likelihood validation runs camb; this emulator emulates {code['name']}")
    from ..serving.names import CAMB_COMPOSED as COMPOSED

    derived = [d for d in DERIVED if d in emulator.outputs]
    # What Cobaya's CAMB cannot give (S8) it is asked the ingredients of, combined below.
    code_derived = list(dict.fromkeys(n for d in derived for n in (COMPOSED[d][0] if d in COMPOSED else [d])))
    base = {"likelihood": likelihoods, "packages_path": packages_path, "debug": False}
    zelos_model = get_model({**base, "params": cobaya_params(emulator, fixed, derived),
                             "theory": {"zelos": {"emulators": [os.path.abspath(archive)], "report_every": None}}})
    code_info = {**base, "params": cobaya_params(emulator, fixed, code_derived),
                 "theory": {"camb": {"extra_args": dict(code.get("settings") or {})}}}
    theory = zelos_model.theory["zelos"]
    names = list(emulator.parameters)
    points = np.atleast_2d(np.asarray(points, dtype=float))

    emulated, skipped, seconds = [], 0, {"zelos": 0.0, "code": 0.0}
    for x in points:
        point = dict(zip(names, map(float, x)))
        before = _routed_away(theory)
        t0 = time.perf_counter()
        lz, dz = zelos_model.loglikes(point, as_dict=True, return_derived=True)
        seconds["zelos"] += time.perf_counter() - t0
        if _routed_away(theory) != before:  # outside the trust region: CAMB answered
            skipped += 1
            continue
        emulated.append((point, dict(lz), dict(dz)))  # Cobaya may reuse its dicts
    zelos_model.close()
    if not emulated:
        raise RuntimeError(f"{archive}: every validation point fell outside the trust region")

    rows = []
    bar = progress_bar(len(emulated), "validate", progress)
    with _code_runs(code_info, processes) as run:
        for (point, lz, dz), (lc, dc, spent) in zip(emulated, run([p for p, _, _ in emulated])):
            for name in set(derived) & set(COMPOSED):
                inputs, combine = COMPOSED[name]
                dc[name] = float(combine(*(dc[p] for p in inputs)))
            seconds["code"] += spent
            rows.append((point, lz, lc, dz, dc))
            bar.update(1)
    bar.close()
    from .design import shell_split

    split = shell_split(emulator.spec, [[r[0][n] for n in names] for r in rows])
    return _summarise(rows, skipped, seconds, code, likelihoods, core=split)


_CODE_MODEL = {}  # per worker process: the Cobaya model with the code


def _start_code_model(info):
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core per worker
    from cobaya.model import get_model

    _CODE_MODEL["model"] = get_model(info)


def _code_loglikes(point):
    t0 = time.perf_counter()
    lc, dc = _CODE_MODEL["model"].loglikes(point, as_dict=True, return_derived=True)
    return dict(lc), dict(dc), time.perf_counter() - t0


@contextmanager
def _code_runs(info, processes):
    """Gives ``run(points)``: the code's log-likelihoods and derived parameters at each point, in
    order, with the seconds each took; in this process, or in ``processes`` worker processes."""
    processes = processes or os.cpu_count() or 1
    if processes == 1:
        _start_code_model(info)
        try:
            yield lambda points: map(_code_loglikes, points)
        finally:
            _CODE_MODEL.pop("model").close()
        return
    # spawned, not forked: a fork of a process holding Cobaya's and the core's threads can hang
    pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_code_model, initargs=(info,))
    try:
        yield lambda points: pool.map(_code_loglikes, points)
    finally:
        pool.shutdown(cancel_futures=True)  # an error midway leaves no point queued


def _summarise(rows, skipped, seconds, code, likelihoods, core=None) -> dict:
    """``core``: ``(in_core, sigmas)`` over ``rows`` for a design with a sparse outer shell
    (``design.shell_split``): the errors of the core's points are then stated apart too."""
    import cobaya

    # A point where a likelihood is not finite on either side (the code failed there) has no
    # difference to state; counted, left out (a NaN would make report.json unreadable).
    keep = np.array([all(np.isfinite(v) for side in (r[1], r[2]) for v in side.values()) for r in rows])
    failed, rows = len(rows) - int(keep.sum()), [r for r, k in zip(rows, keep) if k]
    in_core = None if core is None else np.asarray(core[0], dtype=bool)[keep]
    if not rows:
        raise ValueError(f"no held-out point with finite log-likelihoods on both sides ({failed} failed)")
    out = {"points": len(rows), "outside_trust_region": skipped, "not_finite": failed,
           "reference": f"{code['name']} {code['version']} with the spec's settings, through Cobaya {cobaya.__version__}",
           "seconds_per_point": {k: v / len(rows) for k, v in seconds.items()},
           "likelihoods": {}, "derived": {}}
    for name in rows[0][1]:
        delta = np.array([lz[name] - lc[name] for _, lz, lc, _, _ in rows])
        entry = _stats(np.abs(delta), "abs_delta_logp")
        entry.update(_stats(np.abs(2 * delta), "abs_delta_chi2"))
        entry["mean_delta_logp"] = float(delta.mean())
        entry.update(_near_best(np.array([-2 * lc[name] for _, _, lc, _, _ in rows]), 2 * delta))
        if in_core is not None and in_core.any():
            entry.update({"core_sigmas": core[1], "core_points": int(in_core.sum()),
                          **_stats(np.abs(2 * delta[in_core]), "core_abs_delta_chi2")})
        out["likelihoods"][name] = entry
    for name in rows[0][3]:
        if name not in rows[0][4] or name.startswith("chi2") or name in rows[0][0] or name == "As":
            continue  # inputs (As is computed from logA on both sides) are not outputs
        rel = np.array([dz[name] / dc[name] - 1.0 for _, _, _, dz, dc in rows])
        out["derived"][name] = _stats(np.abs(rel), "abs_rel")
    out["likelihood_block"] = {k: v for k, v in likelihoods.items()}
    return out


#: "Near the best held-out point" for a likelihood: chi2 within this of the smallest held-out chi2.
NEAR_BEST_DELTA_CHI2 = 25.0


def _near_best(chi2: np.ndarray, delta_chi2: np.ndarray) -> dict:
    """The errors at the held-out points a chain on this likelihood could visit: where the code's
    chi2 is within :data:`NEAR_BEST_DELTA_CHI2` of the best held-out point's. Far from it a
    likelihood's chi2 is steep, so the same relative error of the theory gives a larger
    |delta chi2| (measured on DESI DR2: |delta chi2| grows with chi2), at points a chain with
    that likelihood rejects whatever that error."""
    near = chi2 - chi2.min() <= NEAR_BEST_DELTA_CHI2
    return {"near_best_within_delta_chi2": NEAR_BEST_DELTA_CHI2, "near_best_points": int(near.sum()),
            **_stats(np.abs(delta_chi2[near]), "near_best_abs_delta_chi2")}


def _stats(values: np.ndarray, prefix: str) -> dict:
    out = {f"{prefix}_p{q}": float(np.percentile(values, q)) for q in PERCENTILES}
    out[f"{prefix}_max"] = float(values.max())
    return out


def _failed_note(section: dict) -> str:
    n = section.get("not_finite") or 0
    return f", {n} where a likelihood was not finite left out" if n else ""


def markdown(section: dict) -> str:
    """The report.md section for :func:`likelihood_accuracy`'s result."""
    core = next((e["core_sigmas"] for e in section["likelihoods"].values() if "core_sigmas" in e), None)
    lines = ["## Accuracy on real likelihoods", "",
             f"{section['points']} held-out points ({section['outside_trust_region']} outside the trust region "
             f"skipped{_failed_note(section)}); reference: {section['reference']}.", "",
             "| likelihood | median abs. delta chi2 | p99 | max | mean delta log p | near its best: points, p99, max |"
             + (" core: points, median, p99 |" if core else ""),
             "|---|---|---|---|---|---|" + ("---|" if core else "")]
    for name, e in section["likelihoods"].items():
        near_cell = (f"{e['near_best_points']}, {e['near_best_abs_delta_chi2_p99']:.3g}, "
                     f"{e['near_best_abs_delta_chi2_max']:.3g}" if "near_best_points" in e else "-")  # older reports
        core_cell = (f" {e['core_points']}, {e['core_abs_delta_chi2_p50']:.3g}, {e['core_abs_delta_chi2_p99']:.3g} |"
                     if "core_points" in e else " - |" if core else "")
        lines.append(f"| `{name}` | {e['abs_delta_chi2_p50']:.3g} | {e['abs_delta_chi2_p99']:.3g} | "
                     f"{e['abs_delta_chi2_max']:.3g} | {e['mean_delta_logp']:+.3g} | {near_cell} |{core_cell}")
    lines += ["", f"Near its best: the held-out points whose chi2 (the code's) is within {NEAR_BEST_DELTA_CHI2:g} "
              "of the smallest held-out chi2 of that likelihood, where a chain on it can go."]
    if core:
        lines += [f"Core: the held-out points within {core:g} sigma of the reference covariance, where all but the "
                  "design's sparse outer shell lies (drawn for a chain's far proposals; its errors are larger)."]
    if section["derived"]:
        lines += ["", "| derived | median rel. error | p99 | max |", "|---|---|---|---|"]
        for name, e in section["derived"].items():
            lines.append(f"| `{name}` | {e['abs_rel_p50']:.2e} | {e['abs_rel_p99']:.2e} | {e['abs_rel_max']:.2e} |")
    if section.get("command"):
        lines += ["", f"Reproduce: `{section['command']}`"]
    return "\n".join(lines) + "\n"


def write_into_archive(archive: str, section: dict, out: str | None = None, *, key: str = "likelihood_accuracy",
                       text: str | None = None) -> str:
    """Rewrites ``archive`` (or writes ``out``) with ``section`` as the report's ``key`` (by default
    ``likelihood_accuracy``) and ``text`` (by default its :func:`markdown` table) in report.md,
    replacing an earlier section of the same heading; weights, region and spec unchanged.
    Returns the new sha256 (the report is part of the archive, so the hash changes)."""
    members = dict(_zelos.read_archive_members(archive))
    report = json.loads(members["report.json"])
    report[key] = section
    text = markdown(section) if text is None else text
    md = _replace_section(members["report.md"].decode(), text)
    known = {"manifest.json", "model.json", "weights.safetensors", "region.safetensors", "report.json",
             "report.md", "spec.yaml"}
    extra = {k: bytes(v) for k, v in members.items() if k not in known}
    return _zelos.write_emulator_archive(
        out or archive, members["spec.yaml"].decode(), members["model.json"].decode(),
        read_safetensors(members["weights.safetensors"]), read_safetensors(members["region.safetensors"]),
        json.dumps(report, indent=1, sort_keys=True), md, extra)


def _replace_section(md: str, text: str) -> str:
    """``md`` with the ``## `` section that ``text`` starts with replaced by ``text`` (appended if new)."""
    heading = text.splitlines()[0]
    lines = md.rstrip().splitlines()
    if heading in lines:
        start = lines.index(heading)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        lines = lines[:start] + lines[end:]
    return "\n".join(lines).rstrip() + "\n\n" + text


def progress_bar(total: int, desc: str, enabled: bool):
    """A tqdm bar of ``total`` points (a silent stand-in without tqdm or when not ``enabled``)."""
    try:
        from tqdm import tqdm
    except ImportError:
        enabled = False
    if enabled:
        return tqdm(total=total, desc=desc, unit="pt")

    class _Silent:
        def update(self, n):
            pass

        def close(self):
            pass

    return _Silent()
