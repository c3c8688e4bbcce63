"""The `zelos` command line: `zelos build`, `zelos info`, `zelos spec`, `zelos hub`, `zelos import`."""

from __future__ import annotations

import argparse
import json
import os
import sys

from . import ZelosError


def _build(args) -> int:
    from .build import BuildOptions, build
    from .drivers import VersionMismatch

    options = BuildOptions(out_dir=args.out, workdir=args.workdir, processes=args.processes, scheduler=args.scheduler,
                           allow_version_mismatch=args.allow_version_mismatch, progress=not args.quiet,
                           plots=not args.no_plots)
    try:
        build(_spec_path(args.spec), options)
    except KeyboardInterrupt:
        print("\nzelos build: interrupted; every finished point is kept, run the same command to resume",
              file=sys.stderr)
        return 130
    except Exception as e:  # one line naming the problem; the traceback with --debug
        if args.debug:
            raise
        print(f"zelos build: {_problem(e)}", file=sys.stderr)
        return 2 if isinstance(e, VersionMismatch) else 1
    return 0


def _problem(e: BaseException) -> str:
    """An exception as the line `zelos build` ends with: zelos's own errors as they are (a spec
    error gives one line per problem), anything else on one line with its type and a pointer to
    --debug."""
    if isinstance(e, ZelosError):
        return str(e)
    text = " ".join(str(e).split()) or "(no message)"
    if len(text) > 500:
        text = text[:497] + "..."
    return f"{type(e).__name__}: {text} (zelos build --debug ... shows the traceback)"


def _info(args) -> int:
    from .emulator import get_emulator

    if args.archive.startswith("hub:"):
        _log_hub()
    emu = get_emulator(args.archive, hub=args.hub)
    if args.json:
        print(json.dumps({"name": emu.name, "sha256": emu.sha256, "parameters": emu.parameters,
                          "outputs": {k: list(v.shape) for k, v in emu.outputs.items()}, "report": emu.report}, indent=1))
        return 0
    print(f"{emu.name}  ({emu.path}, sha256 {emu.sha256[:16]}...)")
    print(f"  emulates   {emu.spec['code']['name']} {emu.spec['code']['version']}")
    for p, lo, hi in zip(emu.parameters, emu.lower, emu.upper):
        print(f"  parameter  {p:<16} [{lo:g}, {hi:g}]")
    for c in emu.spec.get("constraints") or []:
        print(f"  constraint {_describe_constraint(c, emu.parameters)}")
    for o in emu.outputs.values():
        print(f"  output     {o.name:<16} shape {o.shape} on {', '.join(o.axes) or '-'}")
    for axis, values in emu.grids.items():
        print(f"  grid       {axis:<16} {_describe_grid(values)}")
    print()
    print(emu.report_markdown)
    return 0


def _describe_constraint(c: dict, parameters) -> str:
    """`{terms: {w: 1, wa: 1}, max: -0.7}` -> "w + wa <= -0.7" (terms in parameter order)."""
    text = ""
    for p in parameters:
        if p not in c["terms"]:
            continue
        v = float(c["terms"][p])
        sign = "-" if v < 0 else "+"
        text += (f" {sign} " if text else ("-" if v < 0 else "")) + (f"{abs(v):g} " if abs(v) != 1 else "") + p
    bounds = [f"{c['min']:g} <= " if "min" in c else "", text, f" <= {c['max']:g}" if "max" in c else ""]
    return "".join(bounds)


def _describe_grid(values) -> str:
    """A grid in one line: its size and range, and every node when there are few (z grids)."""
    import numpy as np

    values = np.asarray(values, float)
    if values.size == 0:
        return "empty"
    if values.size <= 12:
        return f"{values.size} nodes: " + ", ".join(f"{v:g}" for v in values)
    lo, hi = values[0], values[-1]
    spacing = ""
    if np.all(values > 0) and np.allclose(np.diff(np.log(values)), np.log(hi / lo) / (values.size - 1), rtol=1e-6):
        spacing = ", log-spaced"
    elif np.allclose(np.diff(values), (hi - lo) / (values.size - 1), rtol=1e-6):
        spacing = ", evenly spaced"
    return f"{values.size} nodes from {lo:g} to {hi:g}{spacing}"


def _validated(emu) -> dict | None:
    """The worst likelihood of ``zelos validate --likelihoods`` (largest p99 |delta chi2|, as the
    router ranks: src/router/accuracy.rs), or None."""
    worst = emu._core.worst_validated_likelihood
    if worst is None:
        return None
    return {"likelihood": worst[0], "abs_delta_chi2_p99": worst[1],
            "points": (emu.report.get("likelihood_accuracy") or {}).get("points")}


def _list(args) -> int:
    """The emulators shipped with zelos (found by name, no download)."""
    from .emulator import load
    from .shipped import shipped_archive, shipped_names

    rows = []
    for name in shipped_names():
        emu = load(shipped_archive(name))
        summary = (emu.report.get("summary") or {}).get("max_relative_error")
        rows.append({"name": name, "version": str(emu.spec.get("version", "")),
                     "code": f"{emu.spec['code']['name']} {emu.spec['code']['version']}",
                     "parameters": list(emu.parameters), "outputs": list(emu.outputs),
                     "max_relative_error": summary,
                     "worst_output": (emu.report.get("summary") or {}).get("worst_output"),
                     "validated": _validated(emu)})
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    if not rows:
        print("no emulator ships with this installation of zelos")
        return 0
    print("Shipped with zelos (use the name in get_emulator, Cobaya's `emulators:` or `zelos info NAME`):")
    for r in rows:
        v = r["validated"]
        if v:  # what the router ranks by, and what a chain feels
            points = f", {v['points']} points" if v["points"] else ""
            err = f"validated p99 |delta chi2| {v['abs_delta_chi2_p99']:.2g} ({v['likelihood']}{points})"
        else:
            err = "held-out max rel. error " + ("-" if r["max_relative_error"] is None
                                                 else f"{r['max_relative_error']:.2g}")
            if r["worst_output"]:
                err += f" in {r['worst_output']}"
        print(f"  {r['name']}  {r['version']}  ({r['code']}; {err})")
        print(f"      parameters  {', '.join(r['parameters'])}")
        print(f"      outputs     {', '.join(r['outputs'])}")
    print("More from a hub: `zelos hub list` (set ZELOS_HUB).")
    return 0


def _hub_publish(args) -> int:
    from .hub import publish

    out = publish(args.archive, args.hub_dir)
    what = f"{out['name']}@{out['version']}"
    if out["added"]:
        print(f"published {what} as {out['path']} (sha256 {out['entry']['sha256']}); index {out['index']}")
    else:
        print(f"{what} is already published with the same contents; nothing changed ({out['index']})")
    return 0


def _hub_list(args) -> int:
    from . import hub

    if args.cached:
        rows = hub.cached()
        if args.json:
            print(json.dumps([{**r, "path": str(r["path"])} for r in rows], indent=1))
            return 0
        cache = hub.config()["cache"]
        if not rows:
            print(f"the cache {cache} holds no hub archive")
            return 0
        print(f"cache {cache}")
        for r in rows:
            print(f"  {r['name']}@{r['version']}  {_size(r['size'])}  from {r['hub']}")
        return 0
    data = hub.index(args.hub)
    rows = hub.listing(data=data)
    if args.json:
        print(json.dumps({"hub": data["location"], "emulators": rows}, indent=1))
        return 0
    note = " (cached copy of its index)" if data["from_cache"] else ""
    if not rows:
        print(f"hub {data['location']}{note} offers no emulator")
        return 0
    print(f"hub {data['location']}{note}")
    header = ("name", "version", "code", "parameters", "trust region", "max rel. error", "size")
    table = [header] + [
        (
            r["name"],
            r["version"] + (" *" if r["newest"] else ""),
            f"{r['code']} {r['code_version']}",
            ", ".join(r["parameters"]),
            "+".join(r["trust_region"]["methods"]) if r["trust_region"] else "-",
            "-" if r["max_relative_error"] is None else f"{r['max_relative_error']:.2g}",
            _size(r["size"]),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    print("  (* the version hub:NAME gives)")
    return 0


def _hub_refresh(args) -> int:
    from . import hub

    data = hub.refresh(args.hub)
    n = sum(len(e["versions"]) for e in data["emulators"].values())
    print(f"hub {data['location']}: index fetched afresh and cached ({len(data['emulators'])} emulator(s), "
          f"{n} version(s))")
    return 0


def _hub_fetch(args) -> int:
    from . import hub

    _log_hub()
    for reference in args.reference:
        r = hub.fetch(reference, args.hub)
        how = "already cached" if r.source == "cache" else "downloaded and verified"
        print(f"{r.name}@{r.version}: {how}: {r.path}")
    return 0


def _log_hub() -> None:
    """Shows the hub's choices (which version, downloads, warnings) on stderr."""
    import logging

    log = logging.getLogger("zelos.hub")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("zelos: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _spec_path(name: str) -> str:
    """A spec file, or the spec of a shipped emulator written to a temporary file (``zelos spec
    NAME``, ``zelos build NAME``): an archive carries the exact spec it was built from."""
    import os
    import tempfile

    from .shipped import shipped_archive, unknown_name_message

    if os.path.exists(name):
        return name
    archive = shipped_archive(name)
    if archive is None:
        raise ZelosError(unknown_name_message(name).replace("no such archive file", "no such spec file"))
    from .emulator import load

    emu = load(archive)
    folder = tempfile.mkdtemp(prefix="zelos-spec-")
    path = os.path.join(folder, f"{emu.name}.yaml")
    with open(path, "w") as f:
        f.write(emu.spec_yaml)
    return path


def _spec(args) -> int:
    from .spec import canonical_yaml

    if not __import__("os").path.exists(args.spec):  # a shipped emulator's name: print its spec
        with open(_spec_path(args.spec)) as f:
            print(f.read(), end="")
        return 0
    text = canonical_yaml(args.spec)
    print(text if args.canonical else f"{args.spec}: valid")
    return 0


def parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="zelos", description="Emulators of cosmological Boltzmann codes.")
    p.add_argument("--version", action="version", version=f"zelos {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    ls = sub.add_parser("list", help="the emulators shipped with zelos (found by name, no download)")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=_list)

    b = sub.add_parser("build", help="run the code over the spec's region, train, validate, export NAME.tar.gz")
    _build_arguments(b)

    i = sub.add_parser("info", help="an emulator's spec summary and accuracy report")
    i.add_argument("archive", help="NAME.tar.gz, hub:NAME[@VERSION], or the name of a shipped emulator")
    i.add_argument("--json", action="store_true", help="machine-readable output")
    i.add_argument("--hub", help="the hub for hub:NAME (default: $ZELOS_HUB)")
    i.set_defaults(func=_info)

    h = sub.add_parser("hub", help="publish to a hub folder, list what a hub offers, fetch into the cache")
    hub_sub = h.add_subparsers(dest="hub_command", required=True)
    hp = hub_sub.add_parser("publish", help="add an archive to a static hub folder and rewrite its index.json")
    hp.add_argument("archive", help="NAME.tar.gz")
    hp.add_argument("hub_dir", help="the hub folder (created if missing)")
    hp.set_defaults(func=_hub_publish)
    hl = hub_sub.add_parser("list", help="what a hub offers (or, with --cached, what the cache holds)")
    hl.add_argument("hub", nargs="?", help="a URL or folder (default: $ZELOS_HUB)")
    hl.add_argument("--cached", action="store_true", help="list the local cache instead")
    hl.add_argument("--json", action="store_true", help="machine-readable output")
    hl.set_defaults(func=_hub_list)
    hr = hub_sub.add_parser("refresh", help="fetch a hub's index afresh into the cache (as ZELOS_HUB_TTL=0 does once)")
    hr.add_argument("hub", nargs="?", help="a URL or folder (default: $ZELOS_HUB)")
    hr.set_defaults(func=_hub_refresh)
    hf = hub_sub.add_parser("fetch", help="download hub:NAME[@VERSION] into the cache (e.g. on a login node)")
    hf.add_argument("reference", nargs="+", help="hub:NAME or hub:NAME@VERSION (the hub: prefix may be left out)")
    hf.add_argument("--hub", help="the hub (default: $ZELOS_HUB)")
    hf.set_defaults(func=_hub_fetch)

    s = sub.add_parser("spec", help="validate a spec (and print its canonical form), or print a shipped "
                                    "emulator's spec")
    s.add_argument("spec", help="a spec file, or the name of a shipped emulator")
    s.add_argument("--canonical", action="store_true", help="print the canonical, self-contained YAML")
    s.set_defaults(func=_spec)

    r = sub.add_parser("report", help="summarise point logs: calls, emulated fraction, fallbacks, which parameters "
                                      "left the trust region, spot checks, plots")
    r.add_argument("logdir", nargs="+", help="point-log folders (or points.*.jsonl files)")
    r.add_argument("--archive", help="the emulator: an archive path or a shipped name (its trust region and training "
                                     "points, for attribution and plots; default: the emulator the log names)")
    r.add_argument("--out", help="folder for report.md, report.json, plots/ (default: LOGDIR/report)")
    r.set_defaults(func=_report)

    m = sub.add_parser("import", help="write pre-trained networks of another package as a zelos archive")
    import_sub = m.add_subparsers(dest="import_command", required=True)
    _import_cosmopower_arguments(import_sub.add_parser(
        "cosmopower", help="CosmoPower networks (.pkl or .npz; CMB TT/TE/EE/PP, or P(k) linear and boost)"))

    t = sub.add_parser("retrain", help="retrain an archive with the points its point logs hold")
    t.add_argument("archive")
    t.add_argument("--points", nargs="+", required=True, metavar="LOGDIR", help="point-log folders")
    t.add_argument("--extra", type=int, default=0, help="N new points around the logged ones (default 0)")
    t.add_argument("--sigmas", type=float, default=3.0, help="size of the ellipsoid for --extra (default 3)")
    t.add_argument("--keep-box", action="store_true",
                   help="leave out logged and extra points outside the spec's box and constraints: the region "
                        "grows only inside the box (default: the box widens to hold them)")
    t.add_argument("--out", default="retrained", help="folder for the new archive (default: ./retrained)")
    t.add_argument("--workdir", help="the build folder holding the archive's training set (default: the one its "
                                     "report records, else NAME.build beside the archive)")
    t.add_argument("--processes", type=int, help="worker processes for the code (default: every core)")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.set_defaults(func=_retrain)

    from .build import store_pack
    from .learning import coverage

    coverage.arguments(sub.add_parser("coverage", help="the fraction of a chain's proposals an emulator's trust "
                                      "region holds (the emulated fraction to expect)"))
    store_pack.arguments(sub.add_parser("store", help="pack a build's training-set stores small enough to commit, "
                                        "or unpack them to resume the build on another machine"))
    v = sub.add_parser("validate", help="accuracy on real likelihoods: zelos against the code at held-out points, "
                                        "written into the archive's report")
    v.add_argument("archive")
    v.add_argument("--likelihoods", metavar="FILE",
                   help="YAML with a Cobaya `likelihood:` block and `params:` fixing its nuisance parameters")
    v.add_argument("--dense-pk", action="store_true",
                   help="instead: P(k, z) against the code on a grid dense in k and z (between the emulator's "
                        "nodes), where users evaluate it")
    v.add_argument("--nonlinear", action="store_true", help="with --dense-pk: check pk_nonlin rather than pk_lin")
    v.add_argument("--processes", type=int, help="worker processes for the code (default: every core)")
    v.add_argument("-p", "--packages-path", help="Cobaya packages folder holding the likelihoods' data")
    v.add_argument("--points", type=int, default=200, help="held-out points to use (default 200)")
    v.add_argument("--workdir", help="the build's workdir, if not the one its report names")
    v.add_argument("--dry-run", action="store_true", help="print the result, leave the archive as it is")
    v.set_defaults(func=_validate)
    return p


def _validate(args) -> int:
    if args.dense_pk == bool(args.likelihoods):
        raise SystemExit("zelos validate: give either --likelihoods FILE or --dense-pk")
    command = " ".join(["zelos validate", *sys.argv[2:]]) if sys.argv[1:2] == ["validate"] else None
    if args.dense_pk:
        return _validate_dense_pk(args, command)
    import yaml

    from .build.validate import held_out_points, likelihood_accuracy, markdown, write_into_archive

    with open(args.likelihoods) as f:
        info = yaml.safe_load(f) or {}
    if not isinstance(info.get("likelihood"), dict):
        raise SystemExit(f"zelos validate: {args.likelihoods}: key `likelihood` must map Cobaya likelihood names "
                         f"to their options, found {type(info.get('likelihood')).__name__}")
    fixed = info.get("params") or {}
    points = held_out_points(args.archive, args.points, args.workdir)
    section = likelihood_accuracy(args.archive, info["likelihood"], points, args.packages_path, fixed,
                                  processes=args.processes)
    section["command"] = command
    print(markdown(section))
    if not args.dry_run:
        sha = write_into_archive(args.archive, section)
        print(f"wrote the result into {args.archive} (sha256 {sha})")
    return 0


def _validate_dense_pk(args, command) -> int:
    from .build import dense_pk
    from .build.validate import held_out_points, write_into_archive

    try:
        points = held_out_points(args.archive, args.points, args.workdir)
        origin = "the build's held-out test points"
    except (FileNotFoundError, ZelosError):  # a shipped or downloaded archive: no build store at hand
        points = dense_pk.box_points(args.archive, args.points)
        origin = "points uniform in the box (seed 0): the build's held-out set is not at hand"
    section = dense_pk.dense_pk_accuracy(args.archive, points, nonlinear=args.nonlinear,
                                         processes=args.processes)
    section["points_from"], section["command"] = origin, command
    text = dense_pk.markdown(section)
    print(text)
    if not os.path.isfile(args.archive):
        print(f"{args.archive} is not an archive file (a shipped or hub name): nothing written")
    elif not args.dry_run:
        key = "dense_pk_nonlin_accuracy" if args.nonlinear else "dense_pk_accuracy"
        sha = write_into_archive(args.archive, section, key=key, text=text)
        print(f"wrote the result into {args.archive} (sha256 {sha})")
    return 0


def _report(args) -> int:
    from .learning.point_report import report

    report(args.logdir, archive=args.archive, out_dir=args.out)
    return 0


def _retrain(args) -> int:
    from .learning.retrain import RetrainError, TrainingSetNotFound, retrain
    from .learning.verdict import judge_retrain

    try:
        result = retrain(args.archive, args.points, extra=args.extra, out_dir=args.out, sigmas=args.sigmas,
                         processes=args.processes, progress=not args.quiet, workdir=args.workdir,
                         keep_box=args.keep_box)
    except (RetrainError, TrainingSetNotFound) as e:  # what the user can fix: said without a traceback
        print(f"zelos retrain: {e}", file=sys.stderr)
        return 1
    verdict = judge_retrain(args.archive, result.path)  # the rule online retraining swaps by
    print(f"Against the parent: {'better' if verdict.accept else 'not better'}: {verdict.reason}")
    return 0


def _import_cosmopower(args) -> int:
    from .importers.cosmopower_archive import import_cosmopower

    result = import_cosmopower(args.files, args.out, args.ranges, pca_dir=args.pca_dir, dtype=args.dtype,
                               class_version=args.class_version, settings=args.settings, author=args.author,
                               version=args.version, lensed=not args.unlensed)
    print(f"wrote {result.path} (sha256 {result.sha256}): {', '.join(result.outputs)} "
          f"of ({', '.join(result.parameters)})")
    return 0


def _import_cosmopower_arguments(c: argparse.ArgumentParser) -> None:
    c.add_argument("files", nargs="+", metavar="[KIND=]FILE",
                   help="CosmoPower networks (.pkl or .npz), one per output; KIND (tt, te, ee, bb, pp, pk_lin, "
                        "pk_boost) defaults to what the file name says (cmb_tt.pkl, PKLIN_NN.pkl, mpk_boost.pkl)")
    c.add_argument("--ranges", required=True, metavar="FILE",
                   help="YAML `param: [min, max]` for every parameter: the training box (spec ranges, trust box)")
    c.add_argument("--out", required=True, metavar="NAME.tar.gz", help="the archive to write")
    c.add_argument("--pca-dir", metavar="DIR",
                   help="where cosmopower-jax PCA files ({stem}_pca_transform_matrix.npy, ...) lie (default: "
                        "beside each file)")
    c.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="precision the archive computes in (default float32, as CosmoPower trained them)")
    c.add_argument("--class-version", help="CLASS version the networks were trained with (CosmoPower records "
                                           "none; default: the installed classy's)")
    c.add_argument("--settings", metavar="FILE", help="YAML of the CLASS settings used in training (the spec's "
                                                      "code settings)")
    c.add_argument("--author", default="CosmoPower (imported)", help="the spec's author")
    c.add_argument("--version", default="1.0.0", help="the emulator's version (default 1.0.0)")
    c.add_argument("--unlensed", action="store_true", help="the CMB networks emulate unlensed spectra")
    c.set_defaults(func=_import_cosmopower)


def _build_arguments(b: argparse.ArgumentParser) -> None:
    b.add_argument("spec", help="the emulator spec (YAML), or the name of a shipped emulator to rebuild it")
    b.add_argument("--out", default=".", help="folder for NAME.tar.gz (default: here)")
    b.add_argument("--workdir", help="folder for the training sets (default: OUT/NAME.build); kept for resume and retrains")
    b.add_argument("--processes", type=int, help="worker processes for the code (default: every core)")
    b.add_argument("--scheduler", help="run the code on a Dask distributed scheduler at ADDRESS instead")
    b.add_argument("--allow-version-mismatch", action="store_true",
                   help="build with an installed code version other than the spec's (recorded in the report)")
    b.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    b.add_argument("--quiet", action="store_true", help="no progress bars")
    b.add_argument("--debug", action="store_true", help="on failure, the full Python traceback instead of one line")
    b.set_defaults(func=_build)


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ZelosError as e:
        if getattr(args, "debug", False):
            raise
        print(f"zelos: {e}", file=sys.stderr)
        return 1


def build_main(argv=None) -> int:
    """`zelos_build SPEC.yaml` (the founding notes' spelling of `zelos build`)."""
    b = argparse.ArgumentParser(prog="zelos_build", description="Build an emulator from its spec.")
    _build_arguments(b)
    args = b.parse_args(argv)
    try:
        return args.func(args)
    except ZelosError as e:
        if args.debug:
            raise
        print(f"zelos: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
