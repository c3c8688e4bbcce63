"""The `zelos` command line: `zelos build`, `zelos info`, `zelos spec`."""

from __future__ import annotations

import argparse
import json
import sys

from . import ZelosError


def _build(args) -> int:
    from .build import BuildOptions, build
    from .drivers import VersionMismatch

    options = BuildOptions(out_dir=args.out, workdir=args.workdir, processes=args.processes, scheduler=args.scheduler,
                           allow_version_mismatch=args.allow_version_mismatch, progress=not args.quiet,
                           plots=not args.no_plots)
    try:
        build(args.spec, options)
    except VersionMismatch as e:
        print(f"\nzelos build: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nzelos build: interrupted; every finished point is kept, run the same command to resume",
              file=sys.stderr)
        return 130
    return 0


def _info(args) -> int:
    from .emulator import get_emulator

    emu = get_emulator(args.archive)
    if args.json:
        print(json.dumps({"name": emu.name, "sha256": emu.sha256, "parameters": emu.parameters,
                          "outputs": {k: list(v.shape) for k, v in emu.outputs.items()}, "report": emu.report}, indent=1))
        return 0
    print(f"{emu.name}  ({emu.path}, sha256 {emu.sha256[:16]}...)")
    print(f"  emulates   {emu.spec['code']['name']} {emu.spec['code']['version']}")
    for p, lo, hi in zip(emu.parameters, emu.lower, emu.upper):
        print(f"  parameter  {p:<16} [{lo:g}, {hi:g}]")
    for o in emu.outputs.values():
        print(f"  output     {o.name:<16} shape {o.shape} on {', '.join(o.axes) or '-'}")
    print()
    print(emu.report_markdown)
    return 0


def _spec(args) -> int:
    from .spec import canonical_yaml

    text = canonical_yaml(args.spec)
    print(text if args.canonical else f"{args.spec}: valid")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zelos", description="Emulators of cosmological Boltzmann codes.")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="run the code over the spec's region, train, validate, export NAME.tar.gz")
    _build_arguments(b)

    i = sub.add_parser("info", help="an emulator's spec summary and accuracy report")
    i.add_argument("archive", help="NAME.tar.gz, or the name of a shipped emulator")
    i.add_argument("--json", action="store_true", help="machine-readable output")
    i.set_defaults(func=_info)

    s = sub.add_parser("spec", help="validate a spec (and print its canonical form)")
    s.add_argument("spec")
    s.add_argument("--canonical", action="store_true", help="print the canonical, self-contained YAML")
    s.set_defaults(func=_spec)
    return p


def _build_arguments(b: argparse.ArgumentParser) -> None:
    b.add_argument("spec", help="the emulator spec (YAML)")
    b.add_argument("--out", default=".", help="folder for NAME.tar.gz (default: here)")
    b.add_argument("--workdir", help="folder for the training sets (default: OUT/NAME.build); kept for resume and retrains")
    b.add_argument("--processes", type=int, help="worker processes for the code (default: every core)")
    b.add_argument("--scheduler", help="run the code on a Dask distributed scheduler at ADDRESS instead")
    b.add_argument("--allow-version-mismatch", action="store_true",
                   help="build with an installed code version other than the spec's (recorded in the report)")
    b.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    b.add_argument("--quiet", action="store_true", help="no progress bars")
    b.set_defaults(func=_build)


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ZelosError as e:
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
        print(f"zelos: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
