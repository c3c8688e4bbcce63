"""Small specs derived from the shipped background spec, for tests that need a real emulator
built in seconds (importable from the test modules: pytest puts this folder on sys.path)."""

import os

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BACKGROUND_SPEC = os.path.join(ROOT, "specs", "camb_lcdm_background.yaml")


def small_background_spec(name: str, description: str, box: dict, *, epochs: int, points: int,
                          test_points: int) -> dict:
    """specs/camb_lcdm_background.yaml on ``box`` (``{parameter: [lo, hi]}``) with 40 redshifts,
    a 2x32 silu network on 8 PCA components, and the given training size."""
    with open(BACKGROUND_SPEC) as f:
        spec = yaml.safe_load(f)
    spec["name"], spec["version"], spec["description"] = name, "1.0.0", description
    spec["parameters"] = {k: {"range": v} for k, v in box.items()}
    spec["outputs"]["background"]["z"]["n"] = 40
    spec["emulator"] = {"type": "mlp", "hidden_layers": 2, "width": 32, "activation": "silu"}
    spec["transforms"]["outputs"]["background"]["pca"] = 8
    spec["training"].update(epochs=epochs, batch_size=32)
    spec["sampling"].update(points=points, test_points=test_points)
    return spec
