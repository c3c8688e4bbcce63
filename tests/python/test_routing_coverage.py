"""The routing decision in one place: the plugin says which emulators' grids cover each request
(a Hubble request to z = 3 is not covered by a grid that stops at z = 2), and the router ranks
only those. A higher-ranked emulator A whose grid stops short is passed over for a lower-ranked
B that covers the request; the point is emulated, not sent to the code.

Real archives: two small background emulators built with `zelos build` (cached under
build-out/tests/, about 20 s on 2 cores on a clean clone), real Cobaya, real CAMB as the fallback.
"""

import numpy as np
import pytest

import zelos
from small_specs import small_background_spec
from zelos.physics import C_KM_S
from zelos.routing import FALLBACK_KINDS, ROUTER_KINDS, Router, first_fallback

cobaya = pytest.importorskip("cobaya", reason="cobaya is not installed (pip install zelos[cobaya])")

from cobaya.model import get_model  # noqa: E402

BOX = {"ombh2": [0.020, 0.025], "omch2": [0.095, 0.140], "H0": [60.0, 76.0]}
POINT = {"ombh2": 0.0224, "omch2": 0.119, "H0": 68.0}
LCDM, EXTENDED = "CAMB_LCDM_background", "CAMB_extended_background"


def spec(name: str, z_max: float, epochs: int, points: int) -> dict:
    s = small_background_spec(name, f"Test fixture: a background emulator to z = {z_max:g}.", BOX, epochs=epochs,
                              points=points, test_points=40)
    s["outputs"]["background"]["z"]["max"] = z_max
    return s


@pytest.fixture(scope="module")
def a_and_b(cached_build):
    """A: to z = 2, trained longer (ranked first); B: to z = 3, trained briefly (ranked second)."""
    quiet = lambda *a, **k: None  # noqa: E731
    a = cached_build("coverage", spec("reach_z2", 2.0, epochs=600, points=300), log=quiet)
    b = cached_build("coverage", spec("reach_z3", 3.0, epochs=60, points=150), log=quiet)
    return a, b


class Reach(cobaya.likelihood.Likelihood):
    """H(z) to z = 3 and rdrag (which both emulators emulate)."""

    z = np.array([0.5, 1.0, 3.0])

    def get_requirements(self):
        return {"Hubble": {"z": self.z}, "rdrag": None}

    def logp(self, **params):
        H = self.provider.get_Hubble(self.z)
        return -0.5 * float(np.sum(((H - 70 * (1 + self.z)) / 10) ** 2))


def test_a_lower_ranked_emulator_covering_the_request_serves_it_not_the_code(a_and_b, caplog):
    a, b = a_and_b
    ea, eb = zelos.load(a), zelos.load(b)
    z_of = lambda e: e.grids[e.outputs["H"].axes[0]]  # noqa: E731
    assert z_of(ea)[-1] == pytest.approx(2.0) and z_of(eb)[-1] == pytest.approx(3.0)
    router = Router({"B": eb, "A": ea})
    assert router.keys() == ["A", "B"], "A must rank first for this test to mean anything"
    caplog.set_level("INFO")
    params = {k: {"prior": {"min": lo, "max": hi}} for k, (lo, hi) in BOX.items()}
    model = get_model({"theory": {"zelos": {"emulators": [a, b], "report_every": None, "check_at_start": False}},
                       "likelihood": {"reach": Reach}, "params": params})
    try:
        text = "\n".join(r.getMessage() for r in caplog.records)
        assert "Hubble: emulated (H <- reach_z3)" in text, text
        model.loglikes(POINT)
        theory = model.theory["zelos"]
        summary = theory.summary()
        assert (summary["emulated"], summary["fallback"], summary["fallbacks_by_reason"]) == (1, 0, {}), summary
        assert theory.last_emulators == ("reach_z2", "reach_z3")  # A: rdrag; B: H to z = 3
        h = model.likelihood["reach"].provider.get_Hubble(Reach.z, units="1/Mpc")
        # z = 3 is B's last node: the spline returns B's own value there
        assert h[-1] * C_KM_S == pytest.approx(float(eb(POINT)["H"][-1]), rel=1e-10)
        derived = model.likelihood["reach"].provider.get_param("rdrag")
        assert derived == pytest.approx(float(ea(POINT)["rdrag"]), rel=1e-12)
    finally:
        model.close()


def test_the_router_ranks_only_the_emulators_said_to_cover_an_output():
    router = Router({EXTENDED: zelos.get_emulator(EXTENDED), LCDM: zelos.get_emulator(LCDM)})
    assert router.keys()[0] == LCDM  # the more accurate
    point = {**POINT, "w": -1.0, "wa": 0.0, "mnu": 0.06, "nnu": 3.046, "omk": 0.0}
    _, keys, fallbacks = router.evaluate_with_keys(point, ["H", "rdrag"])
    assert not fallbacks and keys == {"H": LCDM, "rdrag": LCDM}
    _, keys, fallbacks = router.evaluate_with_keys(point, ["H", "rdrag"], covering={"H": [EXTENDED]})
    assert not fallbacks and keys == {"H": EXTENDED, "rdrag": LCDM}
    routes = router.route({**point, "H0": 95.0}, ["H"], covering={"H": [EXTENDED]})  # beyond both boxes
    assert routes["H"].fallback.kind == "outside_every_region" and routes["H"].fallback.nearest == EXTENDED


def test_one_list_of_fallback_kinds_and_one_rule_for_the_first():
    assert ROUTER_KINDS == ("outside_every_region", "parameter_not_emulated", "missing_parameter",
                            "output_not_emulated", "non_finite_input")
    assert set(ROUTER_KINDS) < set(FALLBACK_KINDS)
    assert {"requirement_not_emulated", "emulator_error", "no_usable_emulator"} < set(FALLBACK_KINDS)
    router = Router({LCDM: zelos.get_emulator(LCDM)})
    _, fallbacks = router.evaluate({**POINT, "H0": 90.0, "mnu": 0.1}, ["H", "age"])
    assert {o: f.kind for o, f in fallbacks.items()} == {"H": "parameter_not_emulated", "age": "output_not_emulated"}
    _, fallbacks = router.evaluate({**POINT, "H0": 90.0}, ["age", "H"])
    assert first_fallback(fallbacks).kind == "outside_every_region"  # named first, whatever the order


def test_two_requirements_of_one_output_share_the_emulators_covering_both(a_and_b):
    from zelos.cobaya.needs import RestNeed, covering, plan_needs

    a, b = a_and_b
    emulators = {"reach_z2": zelos.load(a), "reach_z3": zelos.load(b), EXTENDED: zelos.get_emulator(EXTENDED)}
    # D_M to z = 2.8: only reach_z3; to z = 1 for the comoving distance: every flat one
    needs = plan_needs({"angular_diameter_distance": {"z": [0.5, 2.8]}, "comoving_radial_distance": {"z": [1.0]}},
                       emulators, h0_is_input=True)
    assert [n.candidates for n in needs] == [{"D_M": ["reach_z3"]}, {"D_M": ["reach_z3"]}]
    assert covering(needs) == {"D_M": ["reach_z3"]}
    # D_M to z = 2.4: reach_z3 and the extended one, which varies omk (its comoving distance is
    # not D_M); without reach_z3 no emulator covers both: the second is computed by the code
    del emulators["reach_z3"]
    needs = plan_needs({"angular_diameter_distance": {"z": [2.4]}, "comoving_radial_distance": {"z": [1.0]}},
                       emulators, h0_is_input=True)
    assert needs[0].candidates == {"D_M": [EXTENDED]} and isinstance(needs[1], RestNeed)
    assert needs[1].why == (f"the emulators whose D_M covers angular_diameter_distance ({EXTENDED}) do not cover "
                            "comoving_radial_distance (reach_z2)")
    assert covering(needs) == {"D_M": [EXTENDED]}


def test_montepython_learns_how_far_the_run_reaches_and_the_covering_emulator_serves_it(a_and_b):
    """MontePython likelihoods say which z they need only by calling classy's accessors: the first
    point asks reach_z2 (ranked first) for H(z = 3), which the code answers; from the next point on,
    the router ranks only reach_z3 for H, and the point is emulated."""
    pytest.importorskip("camb")
    import zelos.montepython as zmp

    a, b = a_and_b
    args = {"omega_b": 0.0224, "omega_cdm": 0.119, "h": 0.68, "N_ur": 2.0328, "N_ncdm": 1, "m_ncdm": 0.06,
            "zelos_emulators": [a, b]}
    z = np.array([0.5, 3.0])
    cosmo = zmp.Class()
    try:
        cosmo.set(args)
        cosmo.compute()
        first = cosmo.Hubble(z)
        assert cosmo.summary()["rest"] == 1  # beyond reach_z2's grid: the code
        assert cosmo.rs_drag() > 0  # reach_z2 still serves what it covers
        cosmo.set(omega_b=0.0225)
        cosmo.compute()
        second = cosmo.Hubble(z)
        assert cosmo.summary()["rest"] == 1 and cosmo._point.keys["H"] == "reach_z3"
        assert cosmo._point.keys["rdrag"] == "reach_z2"
        h = float(zelos.load(b)({"ombh2": 0.0225, "omch2": 0.119, "H0": 68.0})["H"][-1])
        assert second[-1] * C_KM_S == pytest.approx(h, rel=1e-10)  # z = 3: reach_z3's last node
        assert first[-1] == pytest.approx(second[-1], rel=0.02)
    finally:
        cosmo.struct_cleanup()
