"""`zelos import cosmopower`: CosmoPower's networks (as cosmopower-jax ships them) in zelos archives
give what cosmopower-jax gives, and untrusted files cannot run code."""

import hashlib
import os
import pickle

import numpy as np
import pytest

# cosmopower-jax reads its files with a deprecated importlib call.
pytestmark = pytest.mark.filterwarnings("ignore:open_binary is deprecated:DeprecationWarning")

cpj_module = pytest.importorskip("cosmopower_jax.cosmopower_jax",
                                 reason="needs cosmopower-jax (pip install 'zelos[cosmopower]')")
jax = pytest.importorskip("jax")

import zelos  # noqa: E402
from zelos.cli import main as cli  # noqa: E402
from zelos.importers import UnsafeFileError  # noqa: E402
from zelos.importers.cosmopower import CosmoPowerError, read_network  # noqa: E402
from zelos.importers.cosmopower_model import build_model  # noqa: E402

CPJ = cpj_module.CosmoPowerJAX
PACKAGE = os.path.dirname(os.path.dirname(cpj_module.__file__))
MODELS = os.path.join(PACKAGE, "cosmopower_jax", "trained_models")
PCA = os.path.join(PACKAGE, "cosmopower_jax", "pca_utils")
T_CMB_MUK = 2.7255e6

# A box well inside the region the CMB networks were trained on (they do not record theirs).
CMB_RANGES = """\
omega_b: [0.020, 0.025]
omega_cdm: [0.10, 0.14]
h: [0.60, 0.80]
tau_reio: [0.03, 0.10]
n_s: [0.92, 1.00]
ln10^{10}A_s: [2.90, 3.20]
"""
# The P(k) networks' training box (their stored input means and stds are those of uniform draws
# in exactly this box).
PK_RANGES = """\
omega_b: [0.01875, 0.02625]
omega_cdm: [0.05, 0.255]
h: [0.64, 0.82]
n_s: [0.84, 1.1]
ln10^{10}A_s: [1.61, 3.91]
z: [0.0, 5.0]
cmin: [2.0, 4.0]
eta_0: [0.5, 1.0]
"""


def _write(path, text):
    path.write_text(text)
    return str(path)


@pytest.fixture(scope="module")
def cmb(tmp_path_factory):
    """TT and TE in one float32 archive, written through the command line."""
    d = tmp_path_factory.mktemp("cp_cmb")
    out = str(d / "CosmoPower_CMB.tar.gz")
    rc = cli(["import", "cosmopower", os.path.join(MODELS, "cmb_tt.pkl"), os.path.join(MODELS, "cmb_te.pkl"),
              "--pca-dir", PCA, "--ranges", _write(d / "ranges.yaml", CMB_RANGES), "--out", out,
              "--class-version", "2.9.4"])
    assert rc == 0
    return zelos.load(out)


@pytest.fixture(scope="module")
def pk(tmp_path_factory):
    """Linear P(k) and the boost in one float64 archive (pk_lin, pk_nonlin)."""
    d = tmp_path_factory.mktemp("cp_pk")
    out = str(d / "CosmoPower_Pk.tar.gz")
    rc = cli(["import", "cosmopower", os.path.join(MODELS, "mpk_lin.pkl"), os.path.join(MODELS, "mpk_boost.pkl"),
              "--ranges", _write(d / "ranges.yaml", PK_RANGES), "--out", out, "--dtype", "float64",
              "--class-version", "2.9.4"])
    assert rc == 0
    return zelos.load(out)


def _points(emu, n=100, seed=0):
    rng = np.random.default_rng(seed)
    return emu.lower + (emu.upper - emu.lower) * rng.random((n, len(emu.parameters)))


def _columns(emu, names):
    return [emu.parameters.index(p) for p in names]


def test_cmb_equals_cosmopower_jax_at_100_points(cmb):
    """float32 archive against cosmopower-jax's own (float32) predictions, D_ell in muK^2."""
    x = _points(cmb)
    out = cmb(x)
    ell = cmb.grids["ell"]
    assert ell[0] == 2 and ell[-1] == 2508
    to_dl = ell * (ell + 1) / (2 * np.pi) * T_CMB_MUK**2
    tt = CPJ(probe="cmb_tt", verbose=False)
    ref_tt = np.asarray(tt.predict(x[:, _columns(cmb, tt.parameters)]), float) * to_dl
    np.testing.assert_allclose(out["dl_tt"], ref_tt, rtol=1e-5, atol=0)
    te = CPJ(probe="cmb_te", verbose=False)
    ref_te = np.asarray(te.predict(x[:, _columns(cmb, te.parameters)]), float) * to_dl
    # TE crosses zero, where a relative error means nothing: relative to each spectrum's peak.
    peak = np.abs(ref_te).max(axis=1, keepdims=True)
    assert np.all(np.abs(out["dl_te"] - ref_te) <= 1e-5 * peak)


def test_matter_power_equals_cosmopower_jax_at_100_points(pk):
    """pk_lin and pk_nonlin (lin x boost, merged into one network) against cosmopower-jax, with z an
    input parameter; on the k values both grids share, and elsewhere against the same cubic spline
    in log10 k applied to cosmopower-jax's output."""
    from scipy.interpolate import CubicSpline

    assert "z" in pk.parameters and pk.outputs["pk_lin"].shape == (1, 720)
    x = _points(pk, seed=1)
    out = pk(x)
    k = pk.grids["k"]
    with jax.enable_x64(True):  # cosmopower-jax in float64 too (it keeps a few float32 roundings)
        lin = CPJ(probe="mpk_lin", verbose=False)
        nonlin = CPJ(probe="mpk_nonlin", verbose=False)
        ref = {"pk_lin": np.asarray(lin.predict(x[:, _columns(pk, lin.parameters)]), float),
               "pk_nonlin": np.asarray(nonlin.predict(x[:, _columns(pk, ["omega_b", "omega_cdm", "h", "n_s",
                                                                          "ln10^{10}A_s", "cmin", "eta_0", "z"])]),
                                       float)}
    k_cp = np.asarray(lin.modes, float)
    mine, theirs = np.nonzero(np.isclose(k[:, None], k_cp[None, :], rtol=1e-9, atol=0))
    assert len(mine) == 300  # every CosmoPower k of four of its six decades
    for name, values in ref.items():
        ours = out[name][:, 0, :]
        np.testing.assert_allclose(ours[:, mine], values[:, theirs], rtol=1e-5, atol=0)
        spline = 10 ** CubicSpline(np.log10(k_cp), np.log10(values), axis=1)(np.log10(k))
        np.testing.assert_allclose(ours, spline, rtol=1e-5, atol=0)
    # z is a parameter here: emulator.pk has no z grid to interpolate, and says so
    with pytest.raises(zelos.ParameterError, match="one redshift only"):
        pk.pk(x[0], k=[0.1], z=[0.5])


def test_archive_records_origin_and_trust_box(cmb, tmp_path):
    spec = cmb.spec
    assert spec["code"] == {"name": "classy", "version": "2.9.4", "settings": {}}
    assert spec["parameters"]["tau_reio"] == [0.03, 0.1]
    assert spec["trust"]["method"] == "box"
    files = {f["file"]: f for f in cmb.report["imported"]["files"]}
    for name in ("cmb_tt.pkl", "cmb_te.pkl"):
        sha = hashlib.sha256(open(os.path.join(MODELS, name), "rb").read()).hexdigest()
        assert files[name]["sha256"] == sha and sha in spec["description"]
    assert files["cmb_te.pkl"]["pca_components"] == 512 and len(files["cmb_te.pkl"]["pca_files"]) == 3
    inside = dict(zip(cmb.parameters, (cmb.lower + cmb.upper) / 2))
    with pytest.raises(zelos.OutOfRange, match="tau_reio"):
        cmb({**inside, "tau_reio": 0.2})


def test_malicious_pickle_is_refused(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "cmb_tt.pkl"
    evil.write_bytes(pickle.dumps([Payload()]))
    with pytest.raises(UnsafeFileError, match=r"cmb_tt\.pkl: refused to unpickle `(posix|os|nt)\.system`"):
        read_network(str(evil))
    assert not marker.exists()
    # The same through the command line: an error naming the file, exit code 1, nothing run.
    ranges = _write(tmp_path / "r.yaml", CMB_RANGES)
    assert cli(["import", "cosmopower", str(evil), "--ranges", ranges, "--out", str(tmp_path / "x.tar.gz"),
                "--class-version", "3.0"]) == 1
    assert not marker.exists() and not (tmp_path / "x.tar.gz").exists()
    # Inside an .npz too (an object array's payload is a pickle).
    npz = tmp_path / "cmb_tt.npz"
    np.savez(npz, arr_0=np.array(Payload(), dtype=object))
    with pytest.raises(UnsafeFileError, match="refused to unpickle"):
        read_network(str(npz))
    assert not marker.exists()


@pytest.mark.parametrize("case, message", [
    ("ranges_missing", r"ranges\.yaml: missing 'ln10\^\{10\}A_s'; expected exactly the networks' parameters"),
    ("ranges_reversed", r"ranges\.yaml: `h`: found \[0\.8, 0\.6\]; expected \[min, max\]"),
    ("unknown_kind", r"network\.pkl: cannot tell what this network emulates"),
    ("not_a_list", r"cmb_tt\.pkl: found a dict; expected CosmoPower's saved list"),
    ("bad_shape", r"cmb_tt\.pkl: `weights\[1\]`: found shape \(out, in\) = \(5, 3\); expected 4 inputs"),
    ("te_without_pca", r"cmb_te\.pkl: a TE network needs its PCA"),
])
def test_bad_input_names_file_key_and_expectation(tmp_path, case, message):
    ranges = CMB_RANGES
    files = [os.path.join(MODELS, "cmb_tt.pkl")]
    if case == "ranges_missing":
        ranges = "\n".join(CMB_RANGES.splitlines()[:-1])
    elif case == "ranges_reversed":
        ranges = CMB_RANGES.replace("h: [0.60, 0.80]", "h: [0.8, 0.6]")
    elif case == "unknown_kind":
        files = [str(tmp_path / "network.pkl")]
        (tmp_path / "network.pkl").write_bytes(b"")
    elif case == "not_a_list":
        files = [str(tmp_path / "cmb_tt.pkl")]
        (tmp_path / "cmb_tt.pkl").write_bytes(pickle.dumps({"weights": np.zeros(3)}))
    elif case == "bad_shape":
        files = [str(tmp_path / "cmb_tt.pkl")]
        # TensorFlow's [n_in, n_out]: 2 -> 4, then a layer taking 3 inputs instead of 4.
        net = [np.zeros((2, 4)), np.zeros((3, 5))], [np.zeros(4), np.zeros(5)], [np.ones(4)], [np.ones(4)]
        rest = [np.zeros(2), np.ones(2), np.zeros(3), np.ones(3), 2, ["a", "b"], 3, np.arange(2, 5), [4], 2, [2, 4, 3]]
        (tmp_path / "cmb_tt.pkl").write_bytes(pickle.dumps([*net, *rest]))
    elif case == "te_without_pca":
        files = [os.path.join(MODELS, "cmb_te.pkl")]
    from zelos.importers.cosmopower_archive import import_cosmopower

    with pytest.raises((CosmoPowerError, UnsafeFileError), match=message):
        import_cosmopower(files, str(tmp_path / "out.tar.gz"), _write(tmp_path / "ranges.yaml", ranges),
                          class_version="3.0")


def test_original_cosmopower_layouts_read_as_cosmopower_computes():
    """CosmoPower's own pickles (cosmopower_NN, PCAplusNN) and their .npz conversions read the same,
    and evaluate as CosmoPower's formula: standardise, layers (TensorFlow's x @ W), un-standardise,
    PCA, un-standardise."""
    for stem in ("tf_cmb_template", "tf_pca_template"):
        a = read_network(os.path.join(MODELS, f"{stem}.pkl"), kind="tt")
        b = read_network(os.path.join(MODELS, f"{stem}.npz"), kind="tt")
        assert a.layout in ("cosmopower", "cosmopower-pca") and b.layout == "npz"
        for x, y in zip(a.weights + a.biases + a.alphas + a.betas, b.weights + b.biases + b.alphas + b.betas):
            np.testing.assert_array_equal(x, y)
        for field in ("param_mean", "param_std", "feature_mean", "feature_std", "modes"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
        assert (a.pca is None) == (b.pca is None)
    from zelos.importers.safe_pickle import loads

    raw = loads(open(os.path.join(MODELS, "tf_pca_template.pkl"), "rb").read(), "tf_pca_template.pkl")
    f64 = lambda v: [np.asarray(a, float) for a in v] if isinstance(v, list) else np.asarray(v, float)  # noqa: E731
    W, b, alphas, betas, pm, ps, cm, cs, fm, fs = map(f64, raw[:10])
    params, modes, pca = raw[10], raw[12], f64(raw[15])
    net = read_network(os.path.join(MODELS, "tf_pca_template.pkl"), kind="te")  # te: no log10, no factor folded
    x = pm + ps * np.random.default_rng(3).uniform(-1, 1, (4, len(params)))
    h = (x - pm) / ps
    for i in range(len(W)):
        h = h @ W[i] + b[i]
        if i < len(alphas):
            h = (betas[i] + (1 - betas[i]) / (1 + np.exp(-alphas[i] * h))) * h
    expected = ((h * cs + cm) @ pca) * fs + fm
    model, tensors, _ = build_model([net], list(params), np.float64)
    from zelos.jax import build

    with jax.enable_x64(True):
        flat, _ = build(model, tensors)
        got = np.asarray(flat(x))
    ell = modes.astype(float)
    np.testing.assert_allclose(got, expected * ell * (ell + 1) / (2 * np.pi) * T_CMB_MUK**2, rtol=1e-10)
