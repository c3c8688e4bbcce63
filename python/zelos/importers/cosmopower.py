"""CosmoPower's saved networks, read into one normalised form.

Four layouts exist in the wild (all read with :mod:`zelos.importers.safe_pickle`, never with
``pickle.load``):

``cosmopower-jax``
    The pickles shipped in the ``cosmopower-jax`` package (``trained_models/*.pkl``): a list of
    13: ``[[(W, b)...], [(alpha, beta)...], param mean, param std, feature mean, feature std,
    n_parameters, parameters, n_modes, modes, n_hidden, n_layers, architecture]``, with ``W`` of
    shape ``[n_out, n_in]``. PCA networks keep their PCA in separate ``.npy`` files
    (``pca_utils/{stem}_pca_transform_matrix.npy``, ``_training_mean.npy``, ``_training_std.npy``).
``cosmopower``
    CosmoPower's own ``cosmopower_NN`` pickle, a list of 15: ``[W list, b list, alphas, betas,
    param mean, param std, feature mean, feature std, n_parameters, parameters, n_modes, modes,
    n_hidden, n_layers, architecture]``, ``W`` of shape ``[n_in, n_out]`` (TensorFlow's order).
``cosmopower-pca``
    CosmoPower's ``cosmopower_PCAplusNN`` pickle, a list of 19: ``[W, b, alphas, betas, param
    mean, param std, pca mean, pca std, feature mean, feature std, parameters, n_parameters,
    modes, n_modes, n_pcas, pca matrix, n_hidden, n_layers, architecture]``.
``npz``
    The dictionary ``convert_tf214.py`` (cosmopower-jax) writes for TensorFlow >= 2.14, with the
    keys cosmopower-jax accepts (``weights_`` or ``W_i``, ``biases_`` or ``b_i``, ...).

Every layout becomes a :class:`Network`: ``hidden = cosmopower_activation(W h + b)`` for each
hidden layer, a linear last layer, then ``y * feature_std + feature_mean``, then (PCA networks)
``(y @ pca_matrix) * pca_std + pca_mean``. Whether the result is log10 of the spectrum is a
property of what it emulates (see :data:`LOG10_KINDS`), not of the file.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from dataclasses import dataclass, field

import numpy as np

from .._zelos import ZelosError
from . import safe_pickle

#: What a network can emulate: CMB spectra, the linear matter power spectrum, its non-linear boost.
KINDS = ("tt", "te", "ee", "bb", "pp", "pk_lin", "pk_boost")
#: Kinds whose networks emulate log10 of the quantity (as cosmopower-jax assumes: everything but TE,
#: which changes sign).
LOG10_KINDS = {"tt", "ee", "bb", "pp", "pk_lin", "pk_boost"}
CMB_KINDS = ("tt", "te", "ee", "bb", "pp")


class CosmoPowerError(ZelosError):
    """A CosmoPower file that cannot be imported: the message names the file, the key and what was
    expected."""


@dataclass
class Network:
    """One CosmoPower network in the form zelos evaluates (``W`` as ``[n_out, n_in]``)."""

    path: str
    sha256: str
    layout: str
    kind: str
    parameters: list
    weights: list
    biases: list
    alphas: list
    betas: list
    param_mean: np.ndarray
    param_std: np.ndarray
    feature_mean: np.ndarray
    feature_std: np.ndarray
    #: ell values (CMB) or k [1/Mpc] (P(k)) of the outputs.
    modes: np.ndarray
    #: ``(matrix [n_pca, n_modes], mean [n_modes], std [n_modes])`` for PCA networks.
    pca: tuple | None = None
    #: Files read besides ``path`` (the PCA ``.npy`` files), with their sha256.
    extra_files: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    @property
    def log10(self) -> bool:
        return self.kind in LOG10_KINDS

    @property
    def hidden_width(self) -> list:
        return [w.shape[0] for w in self.weights[:-1]]


def kind_from_name(path: str) -> str | None:
    """The kind a file's name announces (``cmb_tt.pkl``, ``cmb_TE_PCAplusNN.pkl``,
    ``PKLIN_NN.pkl``, ``mpk_boost.pkl`` ...), or None."""
    stem = os.path.basename(path).lower()
    if "boost" in stem:
        return "pk_boost"
    if re.search(r"(^|[^a-z])m?pk_?lin", stem):
        return "pk_lin"
    match = re.search(r"(?:^|[^a-z])(tt|te|ee|bb|pp)(?:[^a-z]|$)", stem)
    return match.group(1) if match else None


def read_network(path: str, kind: str | None = None, pca_dir: str | None = None) -> Network:
    """Reads one CosmoPower network file (``.pkl`` or ``.npz``) and checks it completely.

    ``kind``: what it emulates (one of :data:`KINDS`); default: from the file's name.
    ``pca_dir``: where the PCA files of a cosmopower-jax PCA network lie (default: beside it).
    """
    path = os.fspath(path)
    kind = kind or kind_from_name(path)
    if kind not in KINDS:
        raise CosmoPowerError(
            f"{path}: cannot tell what this network emulates from its name; expected one of "
            f"{', '.join(KINDS)}: write KIND=FILE (e.g. tt={os.path.basename(path)})")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise CosmoPowerError(f"{path}: cannot read ({e.strerror})") from None
    sha = hashlib.sha256(data).hexdigest()
    if data[:4] == b"PK\x03\x04":
        raw = safe_pickle.load_npz(data, path)
        if set(raw) == {"arr_0"} and isinstance(raw["arr_0"], dict):
            raw = raw["arr_0"]
        net = _from_dict(raw, path)
    else:
        raw = safe_pickle.loads(data, path)
        net = _from_list(raw, path)
    net.update(path=path, sha256=sha, kind=kind)
    if net["pca"] is None and net["layout"] == "cosmopower-jax":
        net["pca"], net["extra_files"] = _pca_files(path, pca_dir, kind)
        if net["pca"] is not None and kind in CMB_KINDS:
            # Its PCA pickles list the coefficients' indices as `modes`; the spectra run from
            # ell = 2 (cosmopower-jax itself uses np.arange(2, 2 + n)).
            net["modes"] = np.arange(2, 2 + net["pca"][0].shape[1], dtype=float)
    network = Network(**net)
    _check(network)
    return network


# -- the four layouts ------------------------------------------------------------------------------

_KEYS_15 = ["weights", "biases", "alphas", "betas", "param_mean", "param_std", "feature_mean", "feature_std",
            "n_parameters", "parameters", "n_modes", "modes", "n_hidden", "n_layers", "architecture"]
# In PCAplusNN files `feature_*` standardise the network's outputs (the PCA coefficients) and
# `pca_*` (CosmoPower's `features_mean`, `features_std`) the spectra the PCA reconstructs.
_KEYS_19 = ["weights", "biases", "alphas", "betas", "param_mean", "param_std", "feature_mean", "feature_std",
            "pca_mean", "pca_std", "parameters", "n_parameters", "modes", "n_modes", "n_pcas", "pca_matrix",
            "n_hidden", "n_layers", "architecture"]


def _from_list(raw, path: str) -> dict:
    if not isinstance(raw, (list, tuple)) or len(raw) not in (13, 15, 19):
        found = f"a list of {len(raw)}" if isinstance(raw, (list, tuple)) else f"a {type(raw).__name__}"
        raise CosmoPowerError(f"{path}: found {found}; expected CosmoPower's saved list of 13 "
                              "(cosmopower-jax), 15 (cosmopower_NN) or 19 (cosmopower_PCAplusNN) entries")
    if len(raw) == 13:
        return _cosmopower_jax(raw, path)
    keys = _KEYS_15 if len(raw) == 15 else _KEYS_19
    d = dict(zip(keys, raw))
    layers = _list(d, "weights", path)
    net = _base(d, path, "cosmopower" if len(raw) == 15 else "cosmopower-pca",
                weights=[_matrix(w, f"weights[{i}]", path).T for i, w in enumerate(layers)],
                biases=[_vector(b, f"biases[{i}]", path) for i, b in enumerate(_list(d, "biases", path))])
    return _finish(net, d, path)


def _cosmopower_jax(raw, path: str) -> dict:
    d = dict(zip(["layers", "hyper", "param_mean", "param_std", "feature_mean", "feature_std", "n_parameters",
                  "parameters", "n_modes", "modes", "n_hidden", "n_layers", "architecture"], raw))
    layers, hyper = _list(d, "layers", path), _list(d, "hyper", path)
    pairs = [_pair(x, f"[0][{i}] (W, b)", path) for i, x in enumerate(layers)]
    hyper = [_pair(x, f"[1][{i}] (alpha, beta)", path) for i, x in enumerate(hyper)]
    weights = [_matrix(w, f"[0][{i}] W", path) for i, (w, _) in enumerate(pairs)]
    biases = [_vector(b, f"[0][{i}] b", path) for i, (_, b) in enumerate(pairs)]
    notes = []
    last = biases[-1]
    if last.size > 1 and not np.any(last[:-1]):
        # cosmopower-jax stores the last layer's bias as one number, in the vector's last entry,
        # and adds it to every output (`+ b[-1]`): do the same.
        biases[-1] = np.full_like(last, last[-1])
        notes.append("last-layer bias: one value added to every output, as cosmopower-jax does (`b[-1]`)")
    net = {"weights": weights, "biases": biases,
           "alphas": [_vector(a, f"[1][{i}] alpha", path) for i, (a, _) in enumerate(hyper)],
           "betas": [_vector(b, f"[1][{i}] beta", path) for i, (_, b) in enumerate(hyper)],
           "layout": "cosmopower-jax", "notes": notes}
    for key, index in (("param_mean", 2), ("param_std", 3), ("feature_mean", 4), ("feature_std", 5)):
        net[key] = _vector(d[key], f"[{index}] {key}", path)
    net["parameters"] = _names(d["parameters"], "[7] parameters", path)
    net["modes"] = _vector(d["modes"], "[9] modes", path)
    net["pca"] = None
    return net


class _Keys:
    """A ``.npz`` dictionary read by any of the key spellings cosmopower-jax accepts."""

    def __init__(self, d: dict, path: str):
        self.d, self.path = d, path

    def __contains__(self, key) -> bool:
        return key in self.d

    def get(self, *spellings):
        for key in spellings:
            if key in self.d:
                return self.d[key]
        nor = f" (nor `{'`, `'.join(spellings[1:])}`)" if spellings[1:] else ""
        raise CosmoPowerError(f"{self.path}: no `{spellings[0]}`{nor}; the file has "
                              f"{', '.join(map(str, self.d)) or 'no keys'}")

    def layers(self, listed: str, single: str, n: int) -> list:
        """``listed`` (a list) or ``single_0 .. single_{n-1}``."""
        return self.d[listed] if listed in self.d else [self.get(f"{single}_{i}") for i in range(n)]


def _from_dict(d: dict, path: str) -> dict:
    """The ``.npz`` dictionary (``convert_tf214.py``'s), with the key spellings cosmopower-jax reads."""
    k = _Keys(d, path)
    param_mean, param_std = k.get("parameters_mean", "param_train_mean"), k.get("parameters_std", "param_train_std")
    if "weights" in k and "hyper_params" in k:  # the cosmopower-jax layout, as a dict
        return _cosmopower_jax([k.get("weights"), k.get("hyper_params"), param_mean, param_std,
                                k.get("features_mean", "feature_train_mean"),
                                k.get("features_std", "feature_train_std"),
                                None, k.get("parameters"), None, k.get("modes"), None, None, None], path)
    n = _int(k.get("n_layers"), "n_layers", path)
    net = {
        "layout": "npz", "notes": [],
        "weights": [_matrix(w, f"weights_[{i}]", path).T for i, w in enumerate(k.layers("weights_", "W", n))],
        "biases": [_vector(b, f"biases_[{i}]", path) for i, b in enumerate(k.layers("biases_", "b", n))],
        "alphas": [_vector(a, f"alphas_[{i}]", path) for i, a in enumerate(k.layers("alphas_", "alphas", n - 1))],
        "betas": [_vector(b, f"betas_[{i}]", path) for i, b in enumerate(k.layers("betas_", "betas", n - 1))],
        "param_mean": _vector(param_mean, "parameters_mean", path),
        "param_std": _vector(param_std, "parameters_std", path),
        "parameters": _names(k.get("parameters"), "parameters", path),
        "modes": _vector(k.get("modes"), "modes", path),
        "pca": None,
    }
    if "pca_matrix" not in k and "pca_transform_matrix" not in k:
        net["feature_mean"] = _vector(k.get("features_mean", "feature_train_mean"), "features_mean", path)
        net["feature_std"] = _vector(k.get("features_std", "feature_train_std"), "features_std", path)
        return net
    # The three namings cosmopower-jax knows for a PCA network's two standardisations: of the
    # spectra (`spectra`) and of the PCA coefficients the network outputs (`coefficients`).
    if "pca_mean" in k:
        coefficients = ("pca_mean", "pca_std")
        spectra = ("feature_train_mean", "feature_train_std") if "feature_train_mean" in k else \
            ("features_mean", "features_std")
    else:
        spectra, coefficients = ("training_mean", "training_std"), ("feature_train_mean", "feature_train_std")
    net["feature_mean"] = _vector(k.get(coefficients[0]), coefficients[0], path)
    net["feature_std"] = _vector(k.get(coefficients[1]), coefficients[1], path)
    net["pca"] = (_matrix(k.get("pca_matrix", "pca_transform_matrix"), "pca_matrix", path),
                  _vector(k.get(spectra[0]), spectra[0], path), _vector(k.get(spectra[1]), spectra[1], path))
    return net


def _base(d: dict, path: str, layout: str, weights, biases) -> dict:
    net = {"layout": layout, "weights": weights, "biases": biases, "notes": [],
           "alphas": [_vector(a, f"alphas[{i}]", path) for i, a in enumerate(_list(d, "alphas", path))],
           "betas": [_vector(b, f"betas[{i}]", path) for i, b in enumerate(_list(d, "betas", path))],
           "parameters": _names(d["parameters"], "parameters", path),
           "modes": _vector(d["modes"], "modes", path)}
    for key in ("param_mean", "param_std", "feature_mean", "feature_std", "pca_mean", "pca_std"):
        if key in d:
            net[key] = _vector(d[key], key, path)
    return net


def _finish(net: dict, d: dict, path: str) -> dict:
    if "pca_matrix" in d:
        net["pca"] = (_matrix(d["pca_matrix"], "pca_matrix", path), net.pop("pca_mean"), net.pop("pca_std"))
    else:
        net["pca"] = None
    return net


def _pca_files(path: str, pca_dir: str | None, kind: str):
    """The PCA of a cosmopower-jax network, from ``{stem}_pca_transform_matrix.npy`` and
    ``{stem}_training_{mean,std}.npy`` (None when there are none and the network is a log one)."""
    folder = pca_dir or os.path.dirname(os.path.abspath(path))
    stem = os.path.splitext(os.path.basename(path))[0]
    names = {part: os.path.join(folder, f"{stem}_{part}.npy")
             for part in ("pca_transform_matrix", "training_mean", "training_std")}
    present = [os.path.exists(p) for p in names.values()]
    if not any(present):
        if kind == "te":
            raise CosmoPowerError(
                f"{path}: a TE network needs its PCA (TE changes sign, so CosmoPower emulates PCA coefficients): "
                f"expected {names['pca_transform_matrix']} and the {stem}_training_mean.npy, "
                f"{stem}_training_std.npy beside it; pass --pca-dir DIR")
        return None, {}
    if not all(present):
        missing = [p for p, ok in zip(names.values(), present) if not ok]
        raise CosmoPowerError(f"{path}: PCA files incomplete: missing {', '.join(missing)}")
    arrays, extra = {}, {}
    for part, p in names.items():
        with open(p, "rb") as f:
            data = f.read()
        extra[p] = hashlib.sha256(data).hexdigest()
        arrays[part] = safe_pickle.read_npy(io.BytesIO(data), p)
    matrix = _matrix(arrays["pca_transform_matrix"], "(the PCA matrix)", names["pca_transform_matrix"])
    return (matrix, _vector(arrays["training_mean"], "(the mean)", names["training_mean"]),
            _vector(arrays["training_std"], "(the std)", names["training_std"])), extra


# -- checks ---------------------------------------------------------------------------------------

def _check(net: Network) -> None:
    """Every shape agrees with every other and every number is finite, or the error says where."""
    p = net.path
    n_params = len(net.parameters)
    expect = lambda cond, key, found, wanted: cond or _fail(p, key, found, wanted)  # noqa: E731
    n_layers = len(net.weights)
    expect(n_layers >= 2, "weights", f"{n_layers} layer(s)", "at least 2 (a hidden and an output layer)")
    expect(len(net.biases) == n_layers, "biases", f"{len(net.biases)} vectors", f"{n_layers}, one per layer")
    for name in ("alphas", "betas"):
        got = len(getattr(net, name))
        expect(got == n_layers - 1, name, f"{got} vectors", f"{n_layers - 1}, one per hidden layer")
    n_in = n_params
    for i, (w, b) in enumerate(zip(net.weights, net.biases)):
        expect(w.shape[1] == n_in, f"weights[{i}]", f"shape (out, in) = {w.shape}", f"{n_in} inputs")
        expect(b.shape == (w.shape[0],), f"biases[{i}]", f"shape {b.shape}", f"({w.shape[0]},)")
        if i < len(net.alphas):
            for name, v in (("alphas", net.alphas[i]), ("betas", net.betas[i])):
                expect(v.shape == (w.shape[0],), f"{name}[{i}]", f"shape {v.shape}", f"({w.shape[0]},)")
        n_in = w.shape[0]
    for name in ("param_mean", "param_std"):
        v = getattr(net, name)
        expect(v.shape == (n_params,), name, f"shape {v.shape}", f"({n_params},), one per parameter")
    expect(bool(np.all(net.param_std > 0)), "param_std", "a value <= 0", "positive standard deviations")
    for name in ("feature_mean", "feature_std"):
        v = getattr(net, name)
        expect(v.shape == (n_in,), name, f"shape {v.shape}", f"({n_in},), one per network output")
    n_modes = n_in
    if net.pca is not None:
        matrix, mean, std = net.pca
        expect(matrix.shape[0] == n_in, "pca_matrix", f"shape {matrix.shape}", f"{n_in} rows, one per PCA coefficient")
        n_modes = matrix.shape[1]
        expect(mean.shape == std.shape == (n_modes,), "training_mean/std", f"shapes {mean.shape}, {std.shape}",
               f"({n_modes},)")
    expect(net.modes.shape == (n_modes,), "modes", f"{net.modes.size} values", f"{n_modes}, one per output")
    if net.kind in CMB_KINDS:
        ell = net.modes
        expect(bool(np.all(ell == np.round(ell)) and np.all(np.diff(ell) == 1) and ell[0] >= 2), "modes",
               f"ell = {ell[0]:g}..{ell[-1]:g} (not consecutive integers from >= 2)", "consecutive multipoles")
    else:
        expect(bool(np.all(net.modes > 0) and np.all(np.diff(net.modes) > 0)), "modes",
               "k values not > 0 and ascending", "ascending wavenumbers [1/Mpc]")
    arrays = [*net.weights, *net.biases, *net.alphas, *net.betas, net.param_mean, net.param_std, net.feature_mean,
              net.feature_std, *(net.pca or ())]
    expect(all(np.all(np.isfinite(a)) for a in arrays), "(arrays)", "NaN or infinite values", "finite numbers")


def _fail(path, key, found, wanted):
    raise CosmoPowerError(f"{path}: `{key}`: found {found}; expected {wanted}")


def _list(d, key, path):
    v = d[key]
    if not isinstance(v, (list, tuple)):
        _fail(path, key, f"a {type(v).__name__}", "a list")
    return v


def _pair(x, key, path):
    if not isinstance(x, (list, tuple)) or len(x) != 2:
        _fail(path, key, repr(type(x).__name__), "a pair")
    return x


def _array(x, key, path, ndim):
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "fiu":
        _fail(path, key, f"a {type(x).__name__}" + (f" of {x.dtype}" if isinstance(x, np.ndarray) else ""),
              "a numeric numpy array")
    if x.ndim != ndim:
        _fail(path, key, f"shape {x.shape}", f"a {ndim}-D array")
    return np.asarray(x, dtype=np.float64)


def _matrix(x, key, path):
    return _array(x, key, path, 2)


def _vector(x, key, path):
    if isinstance(x, np.ndarray) and x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)  # TF keeps some vectors as [1, n]
    return _array(x, key, path, 1)


def _names(x, key, path):
    if isinstance(x, np.ndarray):
        x = x.tolist()
    if not isinstance(x, (list, tuple)) or not all(isinstance(n, str) for n in x) or len(set(x)) != len(x):
        _fail(path, key, repr(x)[:80], "a list of distinct parameter names")
    return list(x)


def _int(x, key, path):
    if isinstance(x, np.ndarray) and x.shape == ():
        x = x.item()
    if not isinstance(x, (int, np.integer)) or isinstance(x, bool):
        _fail(path, key, repr(x)[:40], "an integer")
    return int(x)
