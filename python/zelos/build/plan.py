"""What a spec asks for, in the terms the rest of the build uses: the driver's output request,
the networks and the outputs each one predicts, the grids."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..drivers import OutputRequest

SPECTRA = ("tt", "te", "ee", "bb", "pp")


def grid_values(grid) -> np.ndarray:
    """A spec grid: an explicit list, or `{min, max, n}` linearly spaced (ends exact)."""
    if isinstance(grid, list):
        return np.asarray(grid, dtype=float)
    values = np.linspace(grid["min"], grid["max"], grid["n"])
    values[-1] = grid["max"]
    return values


def k_values(grid) -> np.ndarray:
    """The k grid [1/Mpc]: `{min, max, n}` log-spaced, or a list of such segments end to end
    (the node two segments share once); every segment's ends exactly as written."""
    if isinstance(grid, list):
        pieces = [k_values(segment) for segment in grid]
        return np.concatenate([pieces[0]] + [piece[1:] for piece in pieces[1:]])
    values = np.exp(np.linspace(np.log(grid["min"]), np.log(grid["max"]), grid["n"]))
    values[0], values[-1] = grid["min"], grid["max"]
    return values


def parameter_range(entry) -> tuple:
    """`(min, max)` of a spec parameter, in its short (`[min, max]`) or long (`{range: ...}`) form."""
    lo, hi = entry["range"] if isinstance(entry, dict) else entry
    return float(lo), float(hi)


@dataclass
class Network:
    name: str
    outputs: list  # [(output name, shape, axes)]
    hidden_layers: int
    width: int
    activation: str
    log: str
    standardise: bool
    pca: int | None
    baseline: str = "none"  # "linear": the network learns the residual of a linear fit

    @property
    def n_features(self) -> int:
        return int(sum(np.prod(shape, dtype=int) for _, shape, _ in self.outputs))


@dataclass
class Plan:
    spec: dict
    request: OutputRequest
    networks: list
    grids: dict  # axis -> values

    @property
    def parameters(self) -> list:
        return list(self.spec["parameters"])

    @property
    def lower(self) -> np.ndarray:
        return np.array([parameter_range(r)[0] for r in self.spec["parameters"].values()])

    @property
    def upper(self) -> np.ndarray:
        return np.array([parameter_range(r)[1] for r in self.spec["parameters"].values()])


def background_only(request: OutputRequest) -> OutputRequest:
    """What a point of ``sampling.background_points`` computes: the request's background
    functions alone (the code's background, no perturbations: CAMB's in about 0.04 s)."""
    return dataclasses.replace(request, spectra=(), pk_linear=False, pk_nonlinear=False, k=None, z_pk=None,
                               derived=())


def plan(spec: dict) -> Plan:
    """Reads a validated spec (as from `zelos.load_spec`)."""
    out = spec["outputs"]
    grids, groups = {}, []
    spectra, lmin, lmax, lensed = (), 2, 0, True
    if "cmb" in out:
        cmb = out["cmb"]
        spectra = tuple(s for s in SPECTRA if s in cmb["spectra"])
        lmin, lmax, lensed = cmb.get("lmin", 2), cmb["lmax"], cmb.get("lensed", True)
        grids["ell"] = np.arange(lmin, lmax + 1, dtype=float)
        groups += [(s, [(f"dl_{s}", (lmax - lmin + 1,), ("ell",))]) for s in spectra]
    pk_lin = pk_nonlin = False
    k = z_pk = None
    if "matter_power" in out:
        mp = out["matter_power"]
        k, z_pk = k_values(mp["k"]), grid_values(mp["z"])
        grids["k"], grids["z_pk"] = k, z_pk
        pk_lin, pk_nonlin = mp.get("linear", True), mp.get("nonlinear", False)
        shape = (len(z_pk), len(k))
        if pk_lin:
            groups.append(("pk_lin", [("pk_lin", shape, ("z_pk", "k"))]))
        if pk_nonlin:
            groups.append(("pk_nonlin", [("pk_nonlin", shape, ("z_pk", "k"))]))
    functions, z_bg = (), None
    if "background" in out:
        bg = out["background"]
        functions, z_bg = tuple(bg["functions"]), grid_values(bg["z"])
        grids["z_bg"] = z_bg
        groups.append(("background", [(f, (len(z_bg),), ("z_bg",)) for f in functions]))
    derived = tuple(out.get("derived", []))
    if derived:
        groups.append(("derived", [(d, (), ()) for d in derived]))
    request = OutputRequest(spectra=spectra, lmin=lmin, lmax=lmax, lensed=lensed, pk_linear=pk_lin,
                            pk_nonlinear=pk_nonlin, k=k, z_pk=z_pk, background=functions, z_bg=z_bg,
                            derived=derived)
    emulator = spec["emulator"]
    overrides = emulator.get("networks") or {}
    transforms = spec["transforms"]["outputs"]
    networks = []
    for name, outputs in groups:
        o = overrides.get(name, {})
        t = transforms.get(name, {})
        networks.append(Network(
            name=name, outputs=outputs,
            hidden_layers=o.get("hidden_layers", emulator["hidden_layers"]),
            width=o.get("width", emulator["width"]),
            activation=o.get("activation", emulator["activation"]),
            log=t.get("log", "none"), standardise=t.get("standardise", True), pca=t.get("pca"),
            baseline=t.get("baseline", "none"),
        ))
    return Plan(spec=spec, request=request, networks=networks, grids=grids)
