"""Sampling designs: reproducible, stratified, uniform in the ellipsoid, read from chains."""

import math

import numpy as np
import pytest

from zelos.build.sampling import ellipsoid, from_file, latin_hypercube

LOWER = np.array([0.020, 0.10, 60.0, 2.9])
UPPER = np.array([0.025, 0.14, 80.0, 3.2])
CENTER = np.array([0.0224, 0.120, 67.3, 3.045])
COV = np.array([[1.0e-8, -2e-8, 1.5e-6, 0.0],
                [-2e-8, 1.0e-6, -4e-5, 0.0],
                [1.5e-6, -4e-5, 4.0, 0.0],
                [0.0, 0.0, 0.0, 2.0e-4]])


def test_latin_hypercube_is_seeded():
    a = latin_hypercube(LOWER, UPPER, 50, seed=7)
    assert a.shape == (50, 4) and a.dtype == np.float64
    np.testing.assert_array_equal(a, latin_hypercube(LOWER, UPPER, 50, seed=7))
    assert not np.array_equal(a, latin_hypercube(LOWER, UPPER, 50, seed=8))


@pytest.mark.parametrize("n", [1, 7, 200])
def test_latin_hypercube_uses_each_stratum_once(n):
    x = latin_hypercube(LOWER, UPPER, n, seed=3)
    u = (x - LOWER) / (UPPER - LOWER)
    assert np.all((u >= 0) & (u < 1))
    for j in range(4):
        np.testing.assert_array_equal(np.sort(np.floor(u[:, j] * n).astype(int)), np.arange(n))


def test_latin_hypercube_is_randomised_within_strata():
    u = (latin_hypercube(LOWER, UPPER, 400, seed=1) - LOWER) / (UPPER - LOWER)
    offsets = (u * 400) % 1.0  # position inside the stratum: uniform, not the stratum's centre
    assert 0.4 < offsets.mean() < 0.6 and offsets.std() > 0.25


def test_latin_hypercube_errors():
    with pytest.raises(ValueError, match="lower < upper"):
        latin_hypercube([0, 1], [1, 1], 5, seed=0)
    with pytest.raises(ValueError, match="positive integer"):
        latin_hypercube([0], [1], 0, seed=0)


def mahalanobis2(x):
    d = x - CENTER
    return np.einsum("ij,jk,ik->i", d, np.linalg.inv(COV), d)


def test_ellipsoid_points_are_inside_and_uniform_in_volume():
    sigmas, n, d = 3.0, 20000, 4
    x = ellipsoid(CENTER, COV, sigmas, n, seed=5)
    assert x.shape == (n, d)
    r = np.sqrt(mahalanobis2(x)) / sigmas
    assert r.max() <= 1 + 1e-9
    # Uniform in volume: P(r < t) = t^d.
    for t in (0.5, 0.8, 0.95):
        expected = t**d
        assert abs(np.mean(r < t) - expected) < 4 * math.sqrt(expected * (1 - expected) / n), t
    assert np.all(np.abs(x.mean(axis=0) - CENTER) / np.sqrt(np.diag(COV)) < 0.05)
    # Covariance of the uniform ball of radius s in d dimensions: s^2/(d+2) C.
    np.testing.assert_allclose(np.cov(x.T), COV * sigmas**2 / (d + 2), rtol=0.05, atol=1e-3 * np.abs(COV).max())


def test_ellipsoid_is_seeded_and_clipped():
    a = ellipsoid(CENTER, COV, 6.0, 500, seed=11, lower=LOWER, upper=UPPER)
    np.testing.assert_array_equal(a, ellipsoid(CENTER, COV, 6.0, 500, seed=11, lower=LOWER, upper=UPPER))
    assert a.shape == (500, 4)
    assert np.all((a >= LOWER) & (a <= UPPER))
    assert np.sqrt(mahalanobis2(a)).max() <= 6.0 + 1e-9
    # The box cuts the 6-sigma ellipsoid along H0 (sigma 2): clipping had work to do.
    assert np.sqrt(mahalanobis2(ellipsoid(CENTER, COV, 6.0, 500, seed=11))).max() > 5.5
    unclipped = ellipsoid(CENTER, COV, 6.0, 2000, seed=11)
    assert np.any(unclipped[:, 2] > UPPER[2]) or np.any(unclipped[:, 2] < LOWER[2])


def test_ellipsoid_errors():
    with pytest.raises(ValueError, match="not positive definite"):
        ellipsoid([0, 0], [[1, 2], [2, 1]], 1.0, 10, seed=0)
    with pytest.raises(ValueError, match="excludes almost all"):
        ellipsoid([0, 0], np.eye(2), 1.0, 10, seed=0, lower=[5, 5], upper=[6, 6])


def write_chain(path, header=True):
    rng = np.random.default_rng(0)
    n = 300
    weight = rng.integers(0, 4, n).astype(float)
    weight[:3] = 0.0
    cols = {"weight": weight, "minuslogpost": rng.random(n) * 10, "ombh2": rng.normal(0.0224, 1e-4, n),
            "omch2": rng.normal(0.12, 1e-3, n), "logA": rng.normal(3.04, 0.01, n), "chi2": rng.random(n)}
    table = np.column_stack(list(cols.values()))
    with open(path, "w") as f:
        if header:
            f.write("#  " + "  ".join(f"{name:>14}" for name in cols) + "\n")
        np.savetxt(f, table, fmt="%.10e")
    return cols


def test_from_file_reads_named_columns(tmp_path):
    path = tmp_path / "chain.1.txt"
    cols = write_chain(path)
    x = from_file(path, ["omch2", "ombh2"])
    np.testing.assert_allclose(x, np.column_stack([cols["omch2"], cols["ombh2"]]), rtol=1e-9)


def test_from_file_weighted_subset(tmp_path):
    path = tmp_path / "chain.1.txt"
    cols = write_chain(path)
    x = from_file(path, ["ombh2", "logA"], n=100, seed=4)
    np.testing.assert_array_equal(x, from_file(path, ["ombh2", "logA"], n=100, seed=4))
    assert x.shape == (100, 2)
    full = np.column_stack([cols["ombh2"], cols["logA"]])
    rows = [int(np.argmin(np.abs(full[:, 0] - v))) for v in x[:, 0]]
    assert len(set(rows)) == 100  # without replacement
    assert all(cols["weight"][i] > 0 for i in rows)  # weight 0 is never drawn
    np.testing.assert_allclose(full[rows], x, rtol=1e-9)


def test_from_file_errors_name_file_and_column(tmp_path):
    path = tmp_path / "chain.1.txt"
    write_chain(path)
    with pytest.raises(ValueError, match=r"chain\.1\.txt: no column 'tau' \(columns: weight minuslogpost ombh2"):
        from_file(path, ["ombh2", "tau"])
    with pytest.raises(ValueError, match="non-zero weight"):
        from_file(path, ["ombh2"], n=299, seed=0)


def test_from_file_without_header(tmp_path):
    plain = tmp_path / "points.txt"
    np.savetxt(plain, np.arange(12.0).reshape(4, 3))
    np.testing.assert_array_equal(from_file(plain, ["a", "b", "c"]), np.arange(12.0).reshape(4, 3))
    with pytest.raises(ValueError, match="no header line"):
        from_file(plain, ["a", "b"])
    # getdist: header-less chain root_1.txt with root.paramnames beside it
    cols = write_chain(tmp_path / "root_1.txt", header=False)
    (tmp_path / "root.paramnames").write_text("ombh2    \\Omega_b h^2\nomch2\nlogA\nchi2*  \\chi^2\n")
    np.testing.assert_allclose(from_file(tmp_path / "root_1.txt", ["logA"])[:, 0], cols["logA"], rtol=1e-9)


def test_ellipsoid_design_is_prefix_stable():
    # A generation stopped after m points still holds the exact m-point design.
    cov = np.diag([1.0, 4.0, 0.25])
    lo, hi = np.array([-2.0, -3.0, -1.0]), np.array([2.0, 3.0, 1.0])
    long = ellipsoid([0, 0, 0], cov, 3.0, 1000, seed=5, lower=lo, upper=hi)
    for m in (1, 37, 256, 257, 600):
        short = ellipsoid([0, 0, 0], cov, 3.0, m, seed=5, lower=lo, upper=hi)
        np.testing.assert_array_equal(short, long[:m])
    free = ellipsoid([0, 0, 0], cov, 3.0, 500, seed=5)
    np.testing.assert_array_equal(ellipsoid([0, 0, 0], cov, 3.0, 200, seed=5), free[:200])


def test_ellipsoid_shell_holds_its_fraction_uniformly_out_to_its_sigmas():
    # A share `fraction` of the draws uniform inside the outer ellipsoid, the rest inside the
    # inner one: P(r < t) = (1 - f) min(1, t/inner)^d + f (t/outer)^d; prefix-stable as before.
    inner, outer, fraction, n, d = 3.0, 6.0, 0.25, 40000, 4
    x = ellipsoid(CENTER, COV, inner, n, seed=9, shell=(outer, fraction))
    r = np.sqrt(mahalanobis2(x))
    assert r.max() <= outer + 1e-9 and r.max() > 0.99 * outer
    for t in (1.5, 3.0, 4.5, 5.9):
        expected = (1 - fraction) * min(1.0, t / inner) ** d + fraction * (t / outer) ** d
        assert abs(np.mean(r < t) - expected) < 4 * math.sqrt(expected * (1 - expected) / n), t
    np.testing.assert_array_equal(ellipsoid(CENTER, COV, inner, 300, seed=9, shell=(outer, fraction)), x[:300])
    # no shell: exactly the draws of before (stores made without one stay valid)
    plain = ellipsoid(CENTER, COV, inner, 500, seed=9)
    assert np.sqrt(mahalanobis2(plain)).max() <= inner + 1e-9
    np.testing.assert_array_equal(plain, ellipsoid(CENTER, COV, inner, 500, seed=9, shell=None))
    with pytest.raises(ValueError, match="outer sigmas > 3.0"):
        ellipsoid(CENTER, COV, inner, 10, seed=0, shell=(2.0, 0.2))


def test_a_shell_of_added_points_leaves_the_designs_own_points_as_they_were():
    """`shell: {sigmas, points}` appends points in the outer ellipsoid to a design left exactly
    as it was without a shell, so a finished build gets its shell without recomputing a point;
    the held-out points get as many more in proportion."""
    import os

    import zelos
    from zelos.build.design import draw, shell_split, sizes
    from zelos.build.plan import plan

    specs = os.path.join(os.path.dirname(__file__), "..", "..", "specs")
    spec = zelos.load_spec(os.path.join(specs, "camb_nnu_cmb.yaml"))
    spec["sampling"].pop("shell", None)  # 1.1.0's design, which 1.2.0 added its shell to
    train, test = draw(plan(spec), specs)
    spec["sampling"]["shell"] = {"sigmas": 10.0, "points": 1250}
    train_shell, test_shell = draw(plan(spec), specs)
    n, n_test = spec["sampling"]["points"], spec["sampling"]["test_points"]
    assert train_shell.shape == (n + 1250, train.shape[1]) and len(test_shell) == n_test + math.ceil(1250 * n_test / n)
    assert sizes(spec) == (len(train_shell), len(test_shell))
    np.testing.assert_array_equal(train_shell[:n], train)
    np.testing.assert_array_equal(test_shell[:n_test], test)
    in_core, _ = shell_split(spec, train_shell)
    assert in_core[:n].all()
    # uniform inside 10 sigma in 7 parameters: (5/10)^7 of them fall inside the core
    assert 0.97 < 1 - in_core[n:].mean() <= 1.0
    assert not np.isin(train_shell[n:], train).all(axis=1).any()
