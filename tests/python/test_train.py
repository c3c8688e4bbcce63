"""The Rust trainer through Python: `zelos._zelos.train_mlp`."""

import numpy as np
import pytest

import zelos
from zelos import _zelos


def smooth_problem(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    y = np.stack([np.sin(2 * x[:, 0]) * np.cos(x[:, 1]), x[:, 0] * x[:, 1], np.cos(x[:, 0] + x[:, 1])], axis=1)
    return x, y.astype(np.float32)


CONFIG = {"widths": [32, 32], "activation": "tanh", "epochs": 150, "batch_size": 32, "lr_initial": 3e-3,
          "lr_final": 1e-4, "schedule": "cosine", "patience": None, "seed": 3, "threads": 1}


def test_training_fits_and_returns_archive_ready_weights():
    x, y = smooth_problem(512, 0)
    xv, yv = smooth_problem(128, 1)
    seen = []
    out = _zelos.train_mlp(x, y, xv, yv, CONFIG, lambda e, tl, vl, lr: seen.append((e, vl)))
    assert out["stop"] == "completed" and len(out["history"]) == 150 and len(seen) == 150
    assert out["best_val_loss"] < 0.02 * seen[0][1]
    w = out["weights"]
    assert w["0.weight"].shape == (32, 2) and w["2.weight"].shape == (3, 32) and w["2.bias"].shape == (3,)
    assert w["0.weight"].dtype == np.float32
    # the returned weights give the reported validation loss with a plain numpy forward pass
    h = np.tanh(xv @ w["0.weight"].T + w["0.bias"])
    h = np.tanh(h @ w["1.weight"].T + w["1.bias"])
    pred = h @ w["2.weight"].T + w["2.bias"]
    assert np.mean((pred - yv) ** 2) == pytest.approx(out["best_val_loss"], rel=1e-3)


def test_same_seed_same_weights():
    x, y = smooth_problem(256, 0)
    cfg = dict(CONFIG, epochs=20)
    a = _zelos.train_mlp(x, y, x[:64], y[:64], cfg)
    b = _zelos.train_mlp(x, y, x[:64], y[:64], cfg)
    assert all(np.array_equal(a["weights"][k], b["weights"][k]) for k in a["weights"])


def test_any_memory_layout_trains_the_same():
    # A Fortran-ordered array is contiguous too, column by column: read in place it would train
    # on scrambled rows.
    x, y = smooth_problem(256, 0)
    cfg = dict(CONFIG, epochs=5)
    a = _zelos.train_mlp(x, y, x[:64], y[:64], cfg)
    b = _zelos.train_mlp(np.asfortranarray(x), np.asfortranarray(y), np.asfortranarray(x[:64]),
                         np.asfortranarray(y[:64]), cfg)
    assert all(np.array_equal(a["weights"][k], b["weights"][k]) for k in a["weights"])


def test_a_callback_returning_false_cancels():
    x, y = smooth_problem(128, 0)
    out = _zelos.train_mlp(x, y, x[:32], y[:32], CONFIG, lambda e, *_: e < 4)
    assert out["stop"] == "cancelled" and len(out["history"]) == 5


def test_bad_config_and_data_are_refused_clearly():
    x, y = smooth_problem(64, 0)
    with pytest.raises(zelos.ParameterError, match="activation"):
        _zelos.train_mlp(x, y, x, y, dict(CONFIG, activation="sigmoidish"))
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(zelos.ParameterError, match=r"training data: x\[3, 1\] is NaN \(every value must be finite\)"):
        _zelos.train_mlp(bad, y, x, y, CONFIG)


@pytest.mark.parametrize("change, message", [
    ({"epochs": True}, "training config: 'epochs' must be a non-negative integer, got true"),
    ({"epochs": 0}, "training config: epochs must be at least 1"),
    ({"batch_size": -3}, "training config: 'batch_size' must be a non-negative integer, got -3"),
    ({"learning_rate": 0.1}, "training config: unknown key 'learning_rate' (allowed: widths, activation, epochs"),
    ({"activation": "sigmoidish"},
     "training config: 'activation' must be one of 'tanh', 'relu', 'silu', 'cosmopower', got \"sigmoidish\""),
])
def test_the_training_config_is_checked_in_the_core_with_the_key_and_what_was_expected(change, message):
    # The binding passes the dict to the Rust core's TrainConfig::from_json, which names the key.
    x, y = smooth_problem(32, 0)
    with pytest.raises(zelos.ParameterError) as error:
        _zelos.train_mlp(x, y, x, y, dict(CONFIG, **change))
    assert str(error.value).startswith(message)


@pytest.mark.parametrize("standardise", [True, False])
def test_pca_reconstructs_the_features_with_or_without_standardising(standardise):
    """PCA keeps what varies around the mean: without per-value standardising (the loss then in
    the features' own units, ln P: relative errors) the features are still centred first, so
    the components plus the mean give the outputs back (they did not: the mean was lost)."""
    from zelos.build.fit import fit_output_transform

    rng = np.random.default_rng(3)
    k = np.geomspace(1e-3, 1.0, 60)
    amplitude, tilt = rng.uniform(1.0, 3.0, 200), rng.uniform(-0.2, 0.2, 200)
    shape = np.exp(-((np.log(k) + 3.0) ** 2))  # in every point, not among what varies
    y = 1e4 * shape * amplitude[:, None] * k[None, :] ** tilt[:, None]  # two modes in ln y
    t = fit_output_transform("pk_lin", y, log="ln", standardise=standardise, pca=2)
    np.testing.assert_allclose(t.decode(t.encode(y)), y, rtol=1e-9)
