"""Held-out accuracy figures (zelos.build.accuracy)."""

import numpy as np

from zelos.build.accuracy import measure


def test_entries_where_the_code_gives_zero_are_reported_in_absolute_terms():
    # D_A(z = 0) = 0 exactly: a relative error there would be infinite and hide the real figures.
    z = np.array([0.0, 0.5, 1.0])
    truth = {"D_A": np.array([[0.0, 1300.0, 1700.0], [0.0, 1250.0, 1650.0]])}
    emulated = {"D_A": truth["D_A"] * np.array([1.0, 1.001, 0.998]) + np.array([0.3, 0.0, 0.0])}
    report, _ = measure(emulated, truth, {"z": z}, {"D_A": ("z",)})
    entry = report["D_A"]
    assert abs(entry["rel"]["max"] - 2e-3) < 1e-12
    assert entry["abs_where_code_is_zero"] == {"entries": 2, "max": 0.3}


def test_relative_errors_of_scalars_and_curves():
    truth = {"H0": np.array([67.0, 70.0]), "H": np.array([[67.0, 120.0], [70.0, 125.0]])}
    emulated = {"H0": np.array([67.067, 70.0]), "H": np.array([[67.0, 120.12], [70.0, 125.0]])}
    report, curves = measure(emulated, truth, {"z": np.array([0.0, 1.0])}, {"H": ("z",)})
    assert abs(report["H0"]["rel"]["max"] - 1e-3) < 1e-12
    assert abs(report["H"]["rel"]["max"] - 1e-3) < 1e-12
    assert "abs_where_code_is_zero" not in report["H"]
    np.testing.assert_allclose(curves["H"]["rel_max"], [0.0, 1e-3], atol=1e-15)
