"""The retrain verdict's per-point errors (zelos.learning.verdict.point_errors)."""

import numpy as np
import pytest

from zelos.learning.verdict import point_errors


def test_a_zero_truth_entry_does_not_blow_up_the_relative_error():
    """D_A is exactly 0 at z = 0: an emulator a little off there is judged by its other entries
    (as in build reports), not by a relative error of 1e296."""
    z = np.array([0.0, 0.5, 1.0])
    truth = {"D_A": np.array([[0.0, 1300.0, 1700.0], [0.0, 1250.0, 1650.0]]), "rdrag": np.array([147.0, 148.0])}
    emulated = {"D_A": truth["D_A"] * (1 + 1e-3 * z) + np.array([1e-4, 0.0, 0.0]), "rdrag": truth["rdrag"] * (1 + 2e-4)}

    errors = point_errors(lambda params: emulated, np.zeros((2, 3)), truth)
    assert errors == pytest.approx([1e-3, 1e-3])
