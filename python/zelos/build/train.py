"""Training every network of a plan: fitted transforms in numpy, the optimisation in Rust."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .. import _zelos
from .design import shell_split
from .fit import LinearBaseline, OutputTransform, fit_input_scaling, fit_linear_baseline, fit_output_transform
from .plan import Network, Plan


@dataclass
class TrainedNetwork:
    network: Network
    transform: OutputTransform
    weights: dict  # "{i}.weight" -> array, as the Rust trainer returns them (baseline folded in)
    summary: dict
    skip: np.ndarray | None = None  # the linear skip S [n_targets, n_params] of a linear baseline


def network_targets(network: Network, outputs: dict) -> np.ndarray:
    """The network's outputs from a training set, flattened side by side: `[n, n_features]`."""
    return np.concatenate([outputs[name].reshape(len(outputs[name]), -1) for name, _, _ in network.outputs], axis=1)


def validation_split(n: int, fraction: float, seed: int, eligible: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """`(train_idx, val_idx)`: `fraction` of the `n` points held back, drawn among the `eligible`
    ones (a boolean mask; all when None or when fewer than two are). Every other point trains."""
    n_val = max(1, int(round(fraction * n)))
    if eligible is None or eligible.sum() < 2:  # (a tiny design with no core to speak of: all)
        order = np.random.default_rng(seed).permutation(n)
        return np.sort(order[n_val:]), np.sort(order[:n_val])
    pool = np.flatnonzero(eligible)
    val = np.sort(pool[np.random.default_rng(seed).permutation(len(pool))[:min(n_val, len(pool) - 1)]])
    return np.setdiff1d(np.arange(n), val), val


def validation_pool(spec: dict, params: np.ndarray) -> np.ndarray | None:
    """Which points may validate: in a design with a sparse outer shell, the core's only.

    The validation loss picks the best epoch and stops training. Drawn over the whole design, it
    is ruled by the few shell points, far out, whose errors are many times the core's and grow as
    the network refines the core: training then stopped within 70-130 epochs of a cosine schedule
    of 1000 (CAMB_w0wa_CMB 1.1.0, CAMB_omk_CMB 1.1.0). Validated on the core, where chains
    spend their time, it runs to the end, and C_l^TT's held-out core error fell 4.5-fold (max
    relative error, median point); the shell's points all train."""
    split = shell_split(spec, params)
    return None if split is None else split[0]


def train_all(plan: Plan, params: np.ndarray, outputs: dict, *, progress: bool = True, log=print,
              extra: dict | None = None):
    """Fits the input scaling and every network. Returns `(shift, scale, [TrainedNetwork], split)`.

    `extra`: `{network name: (params, outputs)}`, more points that only that network trains on
    (`sampling.background_points` for the `background` network): they fit its transforms and
    baseline and all train; validation stays on the design's own points."""
    t = plan.spec["training"]
    shift, scale = fit_input_scaling(params, plan.lower, plan.upper, plan.spec["transforms"].get("inputs", "standardise"))
    x = ((params - shift) / scale).astype(np.float32)
    pool = validation_pool(plan.spec, params)
    train_idx, val_idx = validation_split(len(params), t.get("validation_fraction", 0.1), t.get("seed", 1), pool)
    if pool is not None:
        log(f"    validation: {len(val_idx)} points of the design's core ({int(pool.sum())} of {len(params)}); "
            f"the {len(params) - int(pool.sum())} shell points all train")
    trained = []
    for i, net in enumerate(plan.networks):
        x_net, y_all, fit_idx = x, network_targets(net, outputs), train_idx
        more = (extra or {}).get(net.name)
        if more is not None:  # appended after the design's points: every one of them trains
            x_net = np.vstack([x, ((more[0] - shift) / scale).astype(np.float32)])
            y_all = np.vstack([y_all, network_targets(net, more[1])])
            fit_idx = np.concatenate([train_idx, np.arange(len(x), len(x_net))])
        # Transforms are fitted on the training split only: validation stays unseen.
        transform = fit_output_transform(net.name, y_all[fit_idx], net.log, net.standardise, net.pca)
        y = transform.encode(y_all)
        baseline = None
        if net.baseline == "linear":
            baseline = fit_linear_baseline(x_net[fit_idx], y[fit_idx])
            y = baseline.residual(x_net, y)
        y = y.astype(np.float32)
        config = {
            "widths": [net.width] * net.hidden_layers,
            "activation": net.activation,
            "epochs": t["epochs"],
            "batch_size": t["batch_size"],
            "lr_initial": t["learning_rate"]["initial"],
            "lr_final": t["learning_rate"].get("final", t["learning_rate"]["initial"]),
            "schedule": t["learning_rate"].get("schedule", "cosine"),
            "patience": t.get("patience"),
            "seed": int(t.get("seed", 1)) + i,
            "threads": 0,
        }
        callback, close = _progress(net.name, t["epochs"], progress)
        started = time.perf_counter()
        try:
            result = _zelos.train_mlp(x_net[fit_idx], y[fit_idx], x_net[val_idx], y[val_idx], config, callback)
        finally:
            close()
        summary = {
            "architecture": f"{x.shape[1]} -> {net.hidden_layers}x{net.width} -> {y.shape[1]} ({net.activation})",
            "targets": int(y.shape[1]),
            "train_points": int(len(fit_idx)),
            "pca_components": None if transform.components is None else int(len(transform.components)),
            "pca_explained_variance": transform.explained,
            "log": net.log,
            "epochs_run": len(result["history"]),
            "best_epoch": result["best_epoch"],
            # In units of the targets (a baseline's residual is learned scaled by its spread).
            "best_val_loss": result["best_val_loss"] * (baseline.scale**2 if baseline else 1.0),
            "stop": result["stop"],
            "samples_per_second": result["samples_per_second"],
            "baseline": None if baseline is None else {"kind": "linear", "explained_variance": baseline.explained,
                                                       "residual_scale": baseline.scale},
            "seconds": time.perf_counter() - started,
            "config": config,
        }
        if result["stop"] == "non_finite":
            log(f"    network `{net.name}`: the loss became non-finite; kept the best weights "
                f"(epoch {result['best_epoch']}). Lower training.learning_rate.initial.")
        if result["stop"] == "cancelled":
            raise KeyboardInterrupt
        weights, skip = result["weights"], None
        if baseline is not None:
            weights, skip = baseline.fold(weights), baseline.weight
        trained.append(TrainedNetwork(net, transform, weights, summary, skip))
    return shift, scale, trained, {"train": len(train_idx), "validation": len(val_idx),
                                   "validation_from": "all" if pool is None else "core"}


def _progress(name: str, epochs: int, enabled: bool):
    """A tqdm bar with the losses, or nothing."""
    if not enabled:
        return None, lambda: None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None, lambda: None
    bar = tqdm(total=epochs, desc=f"    {name}", unit="epoch", leave=False)

    def callback(epoch, train_loss, val_loss, lr):
        bar.update(1)
        bar.set_postfix(train=f"{train_loss:.2e}", val=f"{val_loss:.2e}", lr=f"{lr:.1e}", refresh=False)
        return True

    return callback, bar.close
