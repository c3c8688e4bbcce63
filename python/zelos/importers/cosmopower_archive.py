"""CosmoPower networks -> one zelos archive (`zelos import cosmopower`, docs/cosmopower.md).

This module checks what the user gives (files, kinds, the training box, CLASS version and
settings), and writes the spec, the report and the archive; :mod:`.cosmopower` reads the files,
:mod:`.cosmopower_model` turns the networks into a zelos model. The networks are copied, not
retrained. P(k) networks take the redshift `z` as an input: it stays an emulator parameter, and
`pk_lin` has one row (the spec's `z_pk` grid holds a placeholder 0).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np
import yaml

from .. import _zelos
from ..build.assemble import dumps  # the build's JSON writer (numpy scalars and arrays)
from .cosmopower import CMB_KINDS, KINDS, CosmoPowerError, read_network
from .cosmopower_model import NETWORK, T_CMB, build_model

DTYPES = {"float32": np.float32, "float64": np.float64}


@dataclass
class ImportResult:
    path: str
    sha256: str
    name: str
    parameters: list
    outputs: list


def import_cosmopower(files, out: str, ranges, *, pca_dir: str | None = None, dtype: str = "float32",
                      class_version: str | None = None, settings=None, author: str = "CosmoPower (imported)",
                      version: str = "1.0.0", lensed: bool = True) -> ImportResult:
    """Writes the CosmoPower networks ``files`` as one zelos archive ``out`` (``NAME.tar.gz``).

    ``files``: paths, ``KIND=PATH`` strings or ``(kind, path)`` pairs (kinds: ``tt te ee bb pp
    pk_lin pk_boost``; default from each file's name). ``ranges``: the training box, a YAML file
    of ``param: [min, max]`` or a dict; it becomes the spec's parameter ranges and the trust box.
    ``dtype``: the precision the archive computes in. ``class_version``: the CLASS version the
    networks were trained with (CosmoPower does not record it; default: the installed classy's).
    ``settings``: CLASS settings (a YAML file or a dict) recorded as the spec's code settings.
    """
    if dtype not in DTYPES:
        raise CosmoPowerError(f"dtype {dtype!r}: expected one of {', '.join(DTYPES)}")
    name = _archive_name(out)
    if not files:
        raise CosmoPowerError(f"{out}: no network files given; expected at least one CosmoPower .pkl or .npz")
    networks = [read_network(path, kind, pca_dir) for kind, path in map(_kind_and_path, files)]
    networks = _ordered(networks)
    parameters = _union_parameters(networks)
    box = _check_ranges(ranges, parameters)
    settings = _settings(settings)
    class_version, version_source = _class_version(class_version)
    model, tensors, conversions = build_model(networks, parameters, DTYPES[dtype],
                                              t_cmb=float(settings.get("T_cmb", T_CMB)))
    spec = build_spec(name, networks, parameters, box, model, class_version=class_version, settings=settings,
                      author=author, version=version, lensed=lensed, k_grid=tensors.get("grid.k"))
    report = build_report(name, version, networks, conversions, dtype, version_source)
    lower = np.array([box[p][0] for p in parameters], float)
    upper = np.array([box[p][1] for p in parameters], float)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    sha = _zelos.write_emulator_archive(
        os.fspath(out), yaml.safe_dump(spec, sort_keys=False, width=100), dumps(model), tensors,
        {"lower": lower, "upper": upper}, dumps(report), report_markdown(report))
    outputs = [o["name"] for n in model["networks"] for o in n["outputs"]]
    return ImportResult(path=os.fspath(out), sha256=sha, name=name, parameters=parameters, outputs=outputs)


# -- inputs ---------------------------------------------------------------------------------------

def _kind_and_path(item) -> tuple:
    if isinstance(item, (tuple, list)):
        return item[0], os.fspath(item[1])
    text = os.fspath(item)
    kind, sep, path = text.partition("=")
    if sep and kind in KINDS:
        return kind, path
    if sep and not os.path.exists(text):
        raise CosmoPowerError(f"{text}: `{kind}` is not a kind of network; expected KIND=FILE with KIND one of "
                              f"{', '.join(KINDS)}")
    return None, text


def _archive_name(out: str) -> str:
    base = os.path.basename(os.fspath(out))
    if not base.endswith(".tar.gz"):
        raise CosmoPowerError(f"{out}: the archive's name must end in .tar.gz (NAME.tar.gz)")
    name = base[: -len(".tar.gz")]
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise CosmoPowerError(f"{out}: `{name}` is not a valid emulator name; expected letters, digits, `_`, `.`, "
                              "`-`, starting with a letter or digit")
    return name


def _ordered(networks: list) -> list:
    """Networks in spec order (tt, te, ee, bb, pp, pk_lin, pk_boost), one of each kind, one family."""
    seen = {}
    for net in networks:
        if net.kind in seen:
            raise CosmoPowerError(f"{net.path}: a second `{net.kind}` network (the first is {seen[net.kind].path}); "
                                  "an archive holds one network per output")
        seen[net.kind] = net
    cmb = [k for k in seen if k in CMB_KINDS]
    pk = [k for k in seen if k not in CMB_KINDS]
    if cmb and pk:
        raise CosmoPowerError(f"{seen[pk[0]].path} and {seen[cmb[0]].path}: CMB and P(k) networks take different "
                              "parameters; import them into separate archives")
    if "pk_boost" in seen and "pk_lin" not in seen:
        raise CosmoPowerError(f"{seen['pk_boost'].path}: the boost multiplies the linear P(k); import it together "
                              "with the pk_lin network (pk_lin=FILE)")
    ells = {(net.modes[0], net.modes[-1]) for net in seen.values() if net.kind in CMB_KINDS}
    if len(ells) > 1:
        raise CosmoPowerError("the CMB networks cover different multipoles ("
                              + "; ".join(f"{n.path}: {n.modes[0]:g}..{n.modes[-1]:g}" for n in seen.values())
                              + "); one archive has one ell range")
    if "pk_boost" in seen and not np.array_equal(seen["pk_lin"].modes, seen["pk_boost"].modes):
        raise CosmoPowerError(f"{seen['pk_boost'].path}: its k grid differs from {seen['pk_lin'].path}'s; "
                              "expected the same wavenumbers")
    return [seen[k] for k in KINDS if k in seen]


def _union_parameters(networks: list) -> list:
    """Every network's parameters, in the first network's order, then new ones as they come."""
    out = []
    for net in networks:
        out += [p for p in net.parameters if p not in out]
    return out


def _check_ranges(ranges, parameters: list) -> dict:
    """The training box, checked to name exactly the networks' parameters with min < max."""
    if isinstance(ranges, (str, os.PathLike)):
        origin = os.fspath(ranges)
        box = _read_yaml(ranges, "a mapping `param: [min, max]`")
    else:
        origin, box = "ranges", ranges
    if not isinstance(box, dict):
        raise CosmoPowerError(f"{origin}: found {type(box).__name__}; expected a mapping `param: [min, max]`")
    missing = [p for p in parameters if p not in box]
    extra = [p for p in box if p not in parameters]
    if missing or extra:
        parts = ([f"missing {', '.join(map(repr, missing))}"] if missing else []) + (
            [f"unknown {', '.join(map(repr, extra))}"] if extra else [])
        raise CosmoPowerError(f"{origin}: {'; '.join(parts)}; expected exactly the networks' parameters "
                              f"{', '.join(parameters)}")
    out = {}
    for p in parameters:
        v = box[p]
        ok = (isinstance(v, (list, tuple)) and len(v) == 2
              and all(isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x) for x in v)
              and v[0] < v[1])
        if not ok:
            raise CosmoPowerError(f"{origin}: `{p}`: found {v!r}; expected [min, max], finite numbers with min < max")
        out[p] = (float(v[0]), float(v[1]))
    return out


def _settings(settings) -> dict:
    if settings is None:
        return {}
    if isinstance(settings, (str, os.PathLike)):
        value = _read_yaml(settings, "a mapping of CLASS settings")
    else:
        value = settings
    if not isinstance(value, dict):
        raise CosmoPowerError(f"{settings}: found {type(value).__name__}; expected a mapping of CLASS settings")
    return dict(value)


def _class_version(version: str | None) -> tuple:
    if version:
        return version, "given at import"
    try:
        import classy
    except ImportError:
        raise CosmoPowerError("CosmoPower does not record which CLASS version trained its networks, and classy is "
                              "not installed: pass --class-version VERSION") from None
    return str(classy.__version__).lstrip("v"), "the classy installed at import (CosmoPower records none)"


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key written twice (YAML would keep the last silently)."""


def _construct_mapping(loader, node):
    keys = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in keys:
            raise CosmoPowerError(f"{loader.name}: `{key}` appears twice (line {key_node.start_mark.line + 1}); "
                                  "expected each key once")
        keys.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(path, expected: str):
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise CosmoPowerError(f"{path}: cannot read ({e.strerror}); expected {expected}") from None
    try:
        loader = _UniqueKeyLoader(text)
        loader.name = os.fspath(path)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as e:
        raise CosmoPowerError(f"{path}: invalid YAML ({e}); expected {expected}") from None


# -- spec and report ------------------------------------------------------------------------------

def build_spec(name, networks, parameters, box, model, *, class_version, settings, author, version, lensed,
               k_grid=None) -> dict:
    """The archive's spec: what is emulated, the training box, and where the networks came from."""
    files = "; ".join(f"{os.path.basename(n.path)} ({n.kind}, sha256 {n.sha256})" for n in networks)
    pca = "; ".join(f"{os.path.basename(p)} (sha256 {s})" for n in networks for p, s in n.extra_files.items())
    description = (f"CosmoPower networks trained on CLASS, imported by `zelos import cosmopower` (not retrained): "
                   f"{files}." + (f" PCA files: {pca}." if pca else "")
                   + " The parameter ranges are the training box given at import; the training and sampling "
                   "sections are defaults, not CosmoPower's.")
    kinds = [n.kind for n in networks]
    outputs = {}
    cmb = [k for k in CMB_KINDS if k in kinds]
    if cmb:
        ell = networks[0].modes
        outputs["cmb"] = {"spectra": cmb, "lmin": int(ell[0]), "lmax": int(ell[-1]), "lensed": bool(lensed)}
    else:
        k = k_grid
        outputs["matter_power"] = {"linear": True, "nonlinear": "pk_boost" in kinds,
                                   "k": {"min": float(k[0]), "max": float(k[-1]), "n": len(k)}, "z": [0.0]}
        description += (" P(k) networks take the redshift as the parameter `z`: pk_lin (and pk_nonlin) hold one "
                        "row, P(k) at that z; the z_pk grid's single value 0 is a placeholder.")
    shapes = {NETWORK[n.kind]: n for n in networks}
    first = model["networks"][0]
    widths = {d["name"]: _widths(d, shapes) for d in model["networks"]}
    base_hidden, base_width = widths[first["name"]]
    emulator = {"type": "mlp", "hidden_layers": base_hidden, "width": base_width, "activation": "cosmopower"}
    overrides = {n: {"hidden_layers": h, "width": w} for n, (h, w) in widths.items()
                 if (h, w) != (base_hidden, base_width)}
    if overrides:
        emulator["networks"] = overrides
    transforms = {"inputs": "standardise", "outputs": {}}
    for net in networks:
        transforms["outputs"][NETWORK[net.kind]] = {
            "log": "log10" if net.log10 else "none", "standardise": True,
            "pca": None if net.pca is None else int(net.pca[0].shape[0])}
    return {
        "name": name, "author": author, "version": version, "description": description,
        "code": {"name": "classy", "version": class_version, "settings": settings},
        "parameters": {p: [box[p][0], box[p][1]] for p in parameters},
        "outputs": outputs, "emulator": emulator, "transforms": transforms, "trust": {"method": "box"},
    }


def _widths(described: dict, shapes: dict) -> tuple:
    net = shapes.get(described["name"])
    hidden = described["layers"] - 1
    if described["name"] == "pk_nonlin":
        lin = shapes["pk_lin"]
        return hidden, lin.hidden_width[0] + net.hidden_width[0]
    return hidden, net.hidden_width[0]


def build_report(name, version, networks, conversions, dtype, version_source) -> dict:
    """report.json: provenance of every file read, conversions, precision; no accuracy of its own."""
    files = [{"file": os.path.basename(n.path), "sha256": n.sha256, "kind": n.kind, "network": NETWORK[n.kind],
              "layout": n.layout, "parameters": n.parameters,
              "architecture": [n.weights[0].shape[1]] + [w.shape[0] for w in n.weights],
              "log10": n.log10, "pca_components": None if n.pca is None else int(n.pca[0].shape[0]),
              "pca_files": {os.path.basename(p): s for p, s in n.extra_files.items()}, "notes": n.notes}
             for n in networks]
    return {
        "zelos_report": 1, "name": name, "version": version,
        "imported": {"from": "CosmoPower", "tool": "zelos import cosmopower", "zelos_version": _zelos.__version__,
                     "files": files, "conversions": conversions, "dtype": dtype,
                     "class_version_source": version_source},
        "accuracy": {},
        "summary": {"max_relative_error": None, "worst_output": None,
                    "note": "imported networks: accuracy against CLASS was measured by CosmoPower, not by this import"},
    }


def report_markdown(report: dict) -> str:
    imp = report["imported"]
    lines = [f"# {report['name']} {report['version']}", "",
             "CosmoPower networks imported by `zelos import cosmopower` (copied, not retrained). Accuracy against "
             "CLASS was measured by CosmoPower, not here.", "",
             "| network | file | sha256 | layout | architecture | output |", "|---|---|---|---|---|---|"]
    for f in imp["files"]:
        out = ("log10" if f["log10"] else "linear") + (f", PCA {f['pca_components']}" if f["pca_components"] else "")
        lines.append(f"| {f['network']} | {f['file']} | `{f['sha256'][:16]}...` | {f['layout']} | "
                     f"{' -> '.join(map(str, f['architecture']))} | {out} |")
    lines += ["", f"Computed in {imp['dtype']}. CLASS version: {imp['class_version_source']}.", ""]
    for key, what in imp["conversions"].items():
        lines.append(f"- `{key}`: {what}")
    for f in imp["files"]:
        for note in f["notes"]:
            lines.append(f"- {f['file']}: {note}")
    return "\n".join(lines) + "\n"


