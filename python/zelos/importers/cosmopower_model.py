"""CosmoPower networks as a zelos model: ``model.json`` and its tensors (docs/model.md).

The function is CosmoPower's, exactly; only its form changes (docs/cosmopower.md):

- the per-ell factor from CosmoPower's C_ell to zelos's D_ell (muK^2) or dl_pp goes into the last
  `affine` step: into its shift as log10(factor) for log10 networks (10^(y + log10 f) = f 10^y),
  into its scale and shift for TE;
- every network standardises the parameters with its own mean and std, an archive with one: the
  first layer of every other network absorbs the difference;
- a k grid that is not log-spaced (a spec's k grid must be) is resampled by a `linear` step on
  log10 P: a cubic spline in log10 k onto a log-spaced grid at least as fine everywhere, exact at
  every CosmoPower k the new grid shares;
- `pk_nonlin` = P_lin x boost is one network holding both side by side, whose last layer adds
  their log10 outputs.
"""

from __future__ import annotations

import numpy as np

from ..physics import T_CMB  # CLASS's default CMB temperature [K]; `T_cmb` in the code settings overrides it
from .cosmopower import CMB_KINDS, CosmoPowerError, Network
#: zelos's network (and P(k) output) name for each kind, in the order a spec lists them.
NETWORK = {"tt": "tt", "te": "te", "ee": "ee", "bb": "bb", "pp": "pp", "pk_lin": "pk_lin", "pk_boost": "pk_nonlin"}


def build_model(networks: list, parameters: list, dtype, t_cmb: float = T_CMB) -> tuple:
    """``(model.json dict, tensors, conversions)``: the networks in the format of docs/model.md."""
    shift, scale = _shared_standardisation(networks, parameters)
    tensors = {"input.shift": shift, "input.scale": scale}
    described, grids, conversions = [], {}, {}
    by_kind = {n.kind: n for n in networks}
    for net in networks:
        name = NETWORK[net.kind]
        if net.kind == "pk_boost":
            layers, steps = _merged_boost(by_kind["pk_lin"], net, parameters, shift, scale)
        else:
            layers, steps = _layers(net, parameters, shift, scale), _output_steps(net)
        if net.kind in CMB_KINDS:
            factor, what = _cmb_factor(net.kind, net.modes, t_cmb)
            _fold_factor(steps, factor, log10=net.log10)
            conversions[name] = what
            grids["ell"] = net.modes
            outputs = [{"name": f"dl_{net.kind}", "shape": [len(net.modes)], "axes": ["ell"]}]
        else:
            k_grid, resample = resampling(net.modes)
            if resample is not None:
                steps.append({"op": "linear", "matrix": resample.T})
                conversions["k_resampling"] = (f"log10 P resampled from CosmoPower's {len(net.modes)} k values "
                                               f"onto {len(k_grid)} log-spaced ones (cubic spline in log10 k)")
            grids["k"], grids["z_pk"] = k_grid, np.array([0.0])
            outputs = [{"name": name, "shape": [1, len(k_grid)], "axes": ["z_pk", "k"]}]
        if net.log10:
            steps.append({"op": "pow10"})
        described.append(_describe(name, layers, steps, outputs, tensors, dtype))
    model = {"model_format": 1, "parameters": parameters, "input": {"shift": "input.shift", "scale": "input.scale"},
             "networks": described, "grids": {}}
    for axis, values in grids.items():
        tensors[f"grid.{axis}"] = np.asarray(values, float)
        model["grids"][axis] = f"grid.{axis}"
    return model, tensors, conversions


def _shared_standardisation(networks: list, parameters: list) -> tuple:
    """Each parameter standardised as the first network taking it does."""
    shift, scale = np.empty(len(parameters)), np.empty(len(parameters))
    for j, p in enumerate(parameters):
        net = next(n for n in networks if p in n.parameters)
        i = net.parameters.index(p)
        shift[j], scale[j] = net.param_mean[i], net.param_std[i]
    return shift, scale


def _first_layer(net: Network, parameters: list, shift, scale) -> tuple:
    """The network's first layer on the archive's standardised inputs ``(x - shift) / scale``.

    The network wants u = (x - m) / s = x_n (scale / s) + (shift - m) / s, so its weights take the
    factor and its bias the offset; parameters it does not take get zero columns."""
    w = np.zeros((net.weights[0].shape[0], len(parameters)))
    b = net.biases[0].copy()
    for i, p in enumerate(net.parameters):
        j = parameters.index(p)
        w[:, j] = net.weights[0][:, i] * (scale[j] / net.param_std[i])
        b += net.weights[0][:, i] * ((shift[j] - net.param_mean[i]) / net.param_std[i])
    return w, b


def _layers(net: Network, parameters: list, shift, scale) -> list:
    """``[(W, b, alpha, beta)]``, alpha and beta None on the linear last layer."""
    w0, b0 = _first_layer(net, parameters, shift, scale)
    weights, biases = [w0] + net.weights[1:], [b0] + net.biases[1:]
    n = len(weights)
    return [(weights[i], biases[i], net.alphas[i] if i < n - 1 else None, net.betas[i] if i < n - 1 else None)
            for i in range(n)]


def _output_steps(net: Network) -> list:
    """Un-standardise the network's output, then reconstruct from the PCA (if any)."""
    steps = [{"op": "affine", "scale": net.feature_std, "shift": net.feature_mean}]
    if net.pca is not None:
        matrix, mean, std = net.pca
        steps += [{"op": "linear", "matrix": matrix}, {"op": "affine", "scale": std, "shift": mean}]
    return steps


def _merged_boost(lin: Network, boost: Network, parameters: list, shift, scale) -> tuple:
    """``pk_nonlin`` = P_lin x boost as one network: both side by side (block-diagonal hidden
    layers), the last layer summing their un-standardised log10 outputs. Exact: no retraining."""
    if lin.pca is not None or boost.pca is not None:
        raise CosmoPowerError(f"{boost.path}: merging PCA P(k) networks into pk_nonlin is not supported; expected "
                              "log10 networks (as CosmoPower's mpk_lin and mpk_boost)")
    if len(lin.weights) != len(boost.weights):
        raise CosmoPowerError(f"{boost.path}: {len(boost.weights)} layers, but {lin.path} has {len(lin.weights)}; "
                              "expected networks of the same depth to merge into pk_nonlin")
    a, b = _layers(lin, parameters, shift, scale), _layers(boost, parameters, shift, scale)
    merged = [(np.vstack([a[0][0], b[0][0]]), np.concatenate([a[0][1], b[0][1]]),
               np.concatenate([a[0][2], b[0][2]]), np.concatenate([a[0][3], b[0][3]]))]
    for (wa, ba, aa, be_a), (wb, bb, ab, be_b) in zip(a[1:-1], b[1:-1]):
        w = np.zeros((wa.shape[0] + wb.shape[0], wa.shape[1] + wb.shape[1]))
        w[: wa.shape[0], : wa.shape[1]], w[wa.shape[0]:, wa.shape[1]:] = wa, wb
        merged.append((w, np.concatenate([ba, bb]), np.concatenate([aa, ab]), np.concatenate([be_a, be_b])))
    (wa, ba, _, _), (wb, bb, _, _) = a[-1], b[-1]
    # log10 P_nl = (Wa h_a + ba) std_a + mean_a + (Wb h_b + bb) std_b + mean_b
    w_last = np.hstack([wa * lin.feature_std[:, None], wb * boost.feature_std[:, None]])
    b_last = ba * lin.feature_std + lin.feature_mean + bb * boost.feature_std + boost.feature_mean
    merged.append((w_last, b_last, None, None))
    return merged, []


def _cmb_factor(kind: str, ell: np.ndarray, t_cmb: float) -> tuple:
    """Per-ell factor from CosmoPower's C_ell to zelos's D_ell (muK^2) or dl_pp, and its words."""
    if kind == "pp":
        return (ell * (ell + 1)) ** 2 / (2 * np.pi), "C_ell^phiphi -> [ell(ell+1)]^2 C_ell / 2 pi"
    return (ell * (ell + 1) / (2 * np.pi) * (t_cmb * 1e6) ** 2,
            f"C_ell (dimensionless) -> ell(ell+1) C_ell / 2 pi x (T_cmb = {t_cmb} K in muK)^2 [muK^2]")


def _fold_factor(steps: list, factor: np.ndarray, log10: bool) -> None:
    """Multiplies the transformed output by ``factor`` through the last affine step."""
    last = next(s for s in reversed(steps) if s["op"] == "affine")
    if log10:
        last["shift"] = last["shift"] + np.log10(factor)
    else:
        last["scale"], last["shift"] = last["scale"] * factor, last["shift"] * factor


def resampling(k: np.ndarray) -> tuple:
    """``(k_grid, matrix)``: a log-spaced grid over CosmoPower's k range, no coarser anywhere than
    its grid, and the ``[n_new, n_old]`` cubic-spline matrix (in log10 k) taking values on ``k`` to
    values on it; matrix None when ``k`` already is that grid."""
    lk = np.log10(k)
    span, step = lk[-1] - lk[0], np.min(np.diff(lk))
    n = int(np.ceil(span / step - 1e-6)) + 1
    grid = logspace(k[0], k[-1], n)
    if n == len(k) and np.allclose(grid, k, rtol=1e-12, atol=0):
        return grid, None
    from scipy.interpolate import CubicSpline

    matrix = CubicSpline(lk, np.eye(len(k)), axis=0)(np.log10(grid))
    # Where the new grid meets a CosmoPower k, take that value itself (the spline does, to rounding).
    for i, j in _shared_nodes(grid, k):
        matrix[i] = 0.0
        matrix[i, j] = 1.0
    return grid, matrix


def _shared_nodes(grid: np.ndarray, k: np.ndarray):
    """``(i, j)`` for each ``grid[i]`` equal to some ``k[j]`` (to 1e-9, their rounding)."""
    j = np.clip(np.searchsorted(k, grid), 0, len(k) - 1)
    for i, g in enumerate(grid):
        for c in (j[i] - 1, j[i]):
            if 0 <= c < len(k) and abs(k[c] - g) <= 1e-9 * g:
                yield i, c
                break


def logspace(kmin: float, kmax: float, n: int) -> np.ndarray:
    """The spec's k grid, computed as the Rust core does (`Grid::logspace`)."""
    a, b = np.log(kmin), np.log(kmax)
    step = (b - a) / (n - 1)
    out = np.exp(a + step * np.arange(n))
    out[0], out[-1] = kmin, kmax
    return out


def _describe(name: str, layers: list, steps: list, outputs: list, tensors: dict, dtype) -> dict:
    """Names the network's tensors into ``tensors`` and returns its model.json entry."""
    for i, (w, b, alpha, beta) in enumerate(layers):
        tensors[f"{name}.{i}.weight"] = np.ascontiguousarray(w, dtype=dtype)
        tensors[f"{name}.{i}.bias"] = np.asarray(b, dtype=dtype)
        if alpha is not None:
            tensors[f"{name}.{i}.alpha"] = np.asarray(alpha, dtype=dtype)
            tensors[f"{name}.{i}.beta"] = np.asarray(beta, dtype=dtype)
    described = []
    for i, step in enumerate(steps):
        entry = {"op": step["op"]}
        for key, value in step.items():
            if key != "op":
                tensors[f"{name}.out{i}.{key}"] = np.ascontiguousarray(value, dtype=dtype)
                entry[key] = f"{name}.out{i}.{key}"
        described.append(entry)
    return {"name": name, "activation": "cosmopower", "layers": len(layers), "output_transform": described,
            "outputs": outputs}
