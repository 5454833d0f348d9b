"""The checker measures a picture's cell size from the picture, whatever grid it was drawn on."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from ascii_lora.check.grid_detect import measure_period
from ascii_lora.config.models import DatasetConfig
from ascii_lora.dataset.families import FAMILIES
from ascii_lora.grid.atlas import get_atlas


def drawn(family: str, seed: int = 3) -> np.ndarray:
    lay = FAMILIES[family](np.random.default_rng([11, seed]), DatasetConfig())
    return np.asarray(get_atlas(16).render_image(lay.grid)) > 127


@pytest.mark.parametrize("family", ["dungeon", "maze", "text"])
def test_period_of_a_true_grid_and_of_rescaled_copies(family):
    binary = drawn(family)
    assert measure_period(binary) == pytest.approx(16, abs=0.1)
    for side, cell in ((1152, 18.0), (900, 900 / 64)):
        scaled = np.asarray(Image.fromarray(binary).resize((side, side), Image.NEAREST))
        assert measure_period(scaled) == pytest.approx(cell, abs=0.15), side


def test_nothing_to_measure_is_nan_not_a_guess():
    assert math.isnan(measure_period(np.zeros((1024, 1024), dtype=bool)))
    assert math.isnan(measure_period(np.ones((100, 100), dtype=bool)))  # smaller than two longest periods
