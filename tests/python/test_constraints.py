"""A region that is not a box: the spec's linear `constraints` cut the parameter box, the
designs place points only where they hold, and the emulator, its trust region and the router
all refuse the rest, naming the sum that broke."""

import warnings

import numpy as np
import pytest

import zelos
from zelos.build import design
from zelos.build.plan import plan as make_plan
from zelos.build.sampling import latin_hypercube, sobol
from zelos.routing import Router, TrustRegion
from zelos.testing import LCDM, random_archive

# ombh2 + omch2 <= 0.14 cuts the corner of the LCDM test box where both are large.
CUT = [{"terms": {"ombh2": 1.0, "omch2": 1.0}, "max": 0.14}]
CENTRE = {k: 0.5 * (lo + hi) for k, (lo, hi) in LCDM.items()}
INSIDE = {**CENTRE, "ombh2": 0.022, "omch2": 0.11}  # in the box and under the cut


def test_sobol_is_space_filling_and_prefix_stable():
    lo, hi = np.zeros(3), np.array([1.0, 2.0, 3.0])
    a = sobol(lo, hi, 1000, seed=7)
    assert np.array_equal(a[:300], sobol(lo, hi, 300, seed=7))
    assert not np.array_equal(a, sobol(lo, hi, 1000, seed=8))
    assert np.all((a >= lo) & (a <= hi))
    # Space-filling: every one of the 10 strata of each axis holds close to a tenth of the points
    # (a plain random draw of 1000 strays by about 3 points per stratum: 10 is far out).
    for j in range(3):
        counts = np.bincount(np.floor(10 * (a[:, j] - lo[j]) / (hi[j] - lo[j])).astype(int), minlength=10)
        assert np.all(np.abs(counts - 100) <= 10), counts


def test_sobol_keeps_only_accepted_points_and_says_when_none_are():
    lo, hi = np.zeros(2), np.ones(2)
    a = sobol(lo, hi, 500, seed=1, accept=lambda x: x.sum(axis=1) <= 0.5)
    assert len(a) == 500 and np.all(a.sum(axis=1) <= 0.5)
    assert np.array_equal(a[:100], sobol(lo, hi, 100, seed=1, accept=lambda x: x.sum(axis=1) <= 0.5))
    with pytest.raises(ValueError, match="satisfy the region's constraints"):
        sobol(lo, hi, 10, seed=1, accept=lambda x: x.sum(axis=1) < -1, max_draws=2048)


def _spec(tmp_path, design_name: str, extra: str = "") -> dict:
    text = (
        "name: cut\nauthor: tests\nversion: 0.0.1\n"
        'code: {name: camb, version: "2.0.5"}\n'
        "parameters: {ombh2: [0.021, 0.0238], omch2: [0.105, 0.135], H0: [60.0, 80.0]}\n"
        "constraints: [{terms: {ombh2: 1.0, omch2: 1.0}, max: 0.14}, {terms: {H0: 1.0}, min: 62.0}]\n"
        "outputs: {derived: [sigma8]}\n"
        f"sampling: {{design: {design_name}, points: 400, test_points: 50{extra}}}\n"
    )
    path = tmp_path / "cut.yaml"
    path.write_text(text)
    return zelos.load_spec(path)


@pytest.mark.parametrize("design_name", ["sobol", "latin_hypercube"])
def test_every_design_draws_inside_the_constraints(tmp_path, design_name):
    spec = _spec(tmp_path, design_name)
    train, test = design.draw(make_plan(spec), str(tmp_path))
    assert train.shape == (400, 3) and test.shape == (50, 3)
    for points in (train, test):
        assert np.all(points[:, 0] + points[:, 1] <= 0.14) and np.all(points[:, 2] >= 62.0)
    # The cut corner is large enough that an unconstrained design would have landed in it.
    free = latin_hypercube([0.021, 0.105, 60.0], [0.0238, 0.135, 80.0], 400, 2)
    assert np.any(free[:, 0] + free[:, 1] > 0.14)


def test_constraints_are_part_of_the_spec_python_sees(tmp_path):
    spec = _spec(tmp_path, "sobol")
    assert spec["constraints"][0] == {"terms": {"ombh2": 1.0, "omch2": 1.0}, "max": 0.14}
    assert spec["sampling"]["design"] == "sobol"
    bad = tmp_path / "bad.yaml"
    bad.write_text((tmp_path / "cut.yaml").read_text().replace("{ombh2: 1.0, omch2: 1.0}", "{ombh2: 1.0, w: 1.0}"))
    with pytest.raises(zelos.SpecError, match=r"constraints\[0\]\.terms\.w.*not a parameter"):
        zelos.load_spec(bad)


@pytest.fixture
def cut_emulator(tmp_path):
    path = tmp_path / "cut.tar.gz"
    random_archive(path, constraints=CUT, name="cut", n_out=20)
    return path


def test_the_emulator_refuses_a_point_that_breaks_a_constraint(cut_emulator):
    emu = zelos.load(cut_emulator)
    inside = INSIDE
    emu(inside)
    corner = {**CENTRE, "ombh2": 0.0235, "omch2": 0.13}  # in the box, over the cut
    with pytest.raises(zelos.OutOfRange, match=r"spec `constraints`\): `ombh2 \+ omch2` = 0\.153\d* > 0\.14"):
        emu(corner)
    batch = np.array([[inside[p] for p in emu.parameters], [corner[p] for p in emu.parameters]])
    with pytest.raises(zelos.OutOfRange, match=r"`ombh2 \+ omch2`.*\(point 1; 1 of 2 points outside\)"):
        emu(batch)
    warn = zelos.load(cut_emulator, out_of_range="warn")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = warn(batch)
    assert any("ombh2 + omch2" in str(w.message) for w in caught)
    assert np.all(np.isfinite(out["dl_tt"]))


def test_trust_region_and_router_send_the_cut_corner_to_the_code(cut_emulator):
    emu = zelos.load(cut_emulator)
    region = TrustRegion.from_emulator(emu)
    corner = {**CENTRE, "ombh2": 0.0235, "omch2": 0.13}
    d = region.decide(corner)
    assert not d.inside and "outside the region's constraints: `ombh2 + omch2`" in d.reason
    assert d.distance > 1.0
    assert region.decide(INSIDE).inside
    router = Router({"cut": emu})
    served, fallbacks = router.evaluate(corner, ["dl_tt"])
    assert served == {} and "ombh2 + omch2" in fallbacks["dl_tt"].detail
    served, fallbacks = router.evaluate(INSIDE, ["dl_tt"])
    assert set(served) == {"dl_tt"} and not fallbacks


def test_zelos_info_prints_the_constraints(cut_emulator):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "zelos", "info", str(cut_emulator)], capture_output=True, text=True,
                         check=True).stdout
    assert "  constraint ombh2 + omch2 <= 0.14" in out
