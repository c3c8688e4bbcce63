"""Output and input transforms fitted to a training set, and written as model.json steps.

A network learns standardised targets; what it predicts is mapped back to physical outputs by
the steps of docs/model.md. For one network with features `f = log(Y)` (or `Y`):

    standardise:  s = (f - mu) / sigma
    PCA:          c = s V^T  (V: [n_comp, n_feat], orthonormal rows), then t = (c - mu_c) / sigma_c
                  with one sigma_c for all coefficients (the leading coefficient's spread)
    target:       t (PCA) or s (no PCA)

and back, as model.json steps: `affine(sigma_c, mu_c)`, `linear(V * sigma, mu)` (PCA and
un-standardising folded into one matrix), then `pow10` / `exp` to undo the log.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class OutputTransform:
    """The fitted transform of one network's outputs."""

    network: str
    log: str  # "none" | "ln" | "log10"
    mu: np.ndarray
    sigma: np.ndarray
    components: np.ndarray | None = None  # [n_comp, n_feat]
    mu_c: np.ndarray | None = None
    sigma_c: np.ndarray | None = None
    explained: float | None = None  # fraction of the standardised variance the PCA keeps
    info: dict = field(default_factory=dict)

    @property
    def n_targets(self) -> int:
        return len(self.mu_c) if self.components is not None else len(self.mu)

    def features(self, y: np.ndarray) -> np.ndarray:
        if self.log == "none":
            return y
        if np.any(y <= 0):
            bad = np.argwhere(y <= 0)[0]
            raise ValueError(f"network `{self.network}`: a log transform needs positive outputs; "
                             f"found {y[tuple(bad)]!r} (use `log: none` in the spec's transforms)")
        return np.log10(y) if self.log == "log10" else np.log(y)

    def encode(self, y: np.ndarray) -> np.ndarray:
        """Physical outputs `[n, n_feat]` -> network targets `[n, n_targets]`."""
        s = (self.features(y) - self.mu) / self.sigma
        if self.components is None:
            return s
        return (s @ self.components.T - self.mu_c) / self.sigma_c

    def decode(self, t: np.ndarray) -> np.ndarray:
        """Network outputs -> physical outputs (numpy; the Rust core does the same from the steps)."""
        if self.components is not None:
            s = (t * self.sigma_c + self.mu_c) @ self.components
        else:
            s = t
        f = s * self.sigma + self.mu
        return {"none": f, "log10": 10.0**f, "ln": np.exp(f)}[self.log]

    def steps(self, dtype=np.float32) -> tuple[list, dict]:
        """The model.json steps and the tensors they name."""
        p = self.network
        tensors = {}
        if self.components is not None:
            steps = [
                {"op": "affine", "scale": f"{p}.out.scale", "shift": f"{p}.out.shift"},
                {"op": "linear", "matrix": f"{p}.pca.matrix", "bias": f"{p}.pca.mean"},
            ]
            tensors[f"{p}.out.scale"] = self.sigma_c.astype(dtype)
            tensors[f"{p}.out.shift"] = self.mu_c.astype(dtype)
            tensors[f"{p}.pca.matrix"] = (self.components * self.sigma[None, :]).astype(dtype)
            tensors[f"{p}.pca.mean"] = self.mu.astype(dtype)
        else:
            steps = [{"op": "affine", "scale": f"{p}.out.scale", "shift": f"{p}.out.shift"}]
            tensors[f"{p}.out.scale"] = self.sigma.astype(dtype)
            tensors[f"{p}.out.shift"] = self.mu.astype(dtype)
        if self.log == "log10":
            steps.append({"op": "pow10"})
        elif self.log == "ln":
            steps.append({"op": "exp"})
        return steps, tensors


def fit_output_transform(network: str, y: np.ndarray, log: str = "none", standardise: bool = True,
                         pca: int | None = None) -> OutputTransform:
    """Fits the transform of one network to its training outputs `y` `[n, n_feat]`."""
    y = np.asarray(y, dtype=np.float64)
    t = OutputTransform(network, log, np.zeros(y.shape[1]), np.ones(y.shape[1]))
    f = t.features(y)
    if standardise:
        t.mu = f.mean(axis=0)
        sigma = f.std(axis=0)
        # A feature constant over the training set (e.g. D_M at z = 0) is kept, unscaled.
        t.sigma = np.where(sigma > 1e-12 * np.maximum(np.abs(t.mu), 1e-300), sigma, 1.0)
    elif pca:
        # PCA needs centred features (the components span the deviations from the mean, not the
        # mean itself); unscaled, so the loss stays in the features' own units (ln P: relative)
        t.mu = f.mean(axis=0)
    if pca:
        s = (f - t.mu) / t.sigma
        n_comp = min(pca, s.shape[0], s.shape[1])
        _, sv, vt = np.linalg.svd(s - s.mean(axis=0), full_matrices=False)
        t.components = vt[:n_comp]
        t.explained = float((sv[:n_comp] ** 2).sum() / max((sv**2).sum(), 1e-300))
        c = s @ t.components.T
        t.mu_c = c.mean(axis=0)
        # One scale for every coefficient (the leading one's spread), not one per coefficient:
        # then the training loss is the reconstruction error of the standardised features, and
        # the trailing, noise-like components do not weigh as much as the leading ones.
        lead = float(c[:, 0].std()) if len(c) > 1 else 1.0
        t.sigma_c = np.full(n_comp, lead if lead > 0 else 1.0)
    return t


@dataclass
class LinearBaseline:
    """The part of a network's targets `t` that is linear in the scaled inputs `x_n`:
    `t ~ x_n S^T + c`. The network learns the residual divided by one scale (its spread); the
    archive keeps `S` as a linear skip connection and folds `c` and the scale into the last
    layer (docs/model.md), so that evaluation is `layers(x_n) + S x_n`."""

    weight: np.ndarray  # S, [n_targets, n_params]
    intercept: np.ndarray  # c, [n_targets]
    scale: float
    explained: float  # fraction of the targets' variance the linear fit carries

    def residual(self, x: np.ndarray, t: np.ndarray) -> np.ndarray:
        """What the network learns: `(t - x S^T - c) / scale`."""
        return (t - x @ self.weight.T - self.intercept) / self.scale

    def fold(self, weights: dict) -> dict:
        """Weights trained on the residual -> weights of the network that, with the skip `S`,
        predicts the targets: the last layer scaled by `scale`, its bias shifted by `c`."""
        last = max(int(k.split(".")[0]) for k in weights if k.endswith(".weight"))
        out = dict(weights)
        w, b = np.asarray(weights[f"{last}.weight"], float), np.asarray(weights[f"{last}.bias"], float)
        out[f"{last}.weight"] = w * self.scale
        out[f"{last}.bias"] = b * self.scale + self.intercept
        return out


def fit_linear_baseline(x: np.ndarray, t: np.ndarray) -> LinearBaseline:
    """Least-squares fit of the targets `t` `[n, n_targets]` on `[x_n, 1]`."""
    x, t = np.asarray(x, float), np.asarray(t, float)
    design = np.hstack([x, np.ones((len(x), 1))])
    coef, *_ = np.linalg.lstsq(design, t, rcond=None)
    weight, intercept = coef[:-1].T, coef[-1]
    residual = t - design @ coef
    spread = float(residual.std())
    total = float(((t - t.mean(axis=0)) ** 2).sum())
    explained = 1.0 - float((residual**2).sum()) / total if total > 0 else 1.0
    return LinearBaseline(weight, intercept, spread if spread > 0 else 1.0, explained)


def fit_input_scaling(x: np.ndarray, lower: np.ndarray, upper: np.ndarray, method: str = "standardise"):
    """`(shift, scale)` with `x_n = (x - shift) / scale`: training mean and std, or the box to [-1, 1]."""
    if method == "minmax":
        return (lower + upper) / 2.0, (upper - lower) / 2.0
    shift = x.mean(axis=0)
    scale = x.std(axis=0)
    return shift, np.where(scale > 0, scale, (upper - lower) / 2.0)
