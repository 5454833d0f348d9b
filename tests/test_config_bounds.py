"""Generator parameters are bounded by the grid: the largest allowed value draws, one more is refused.

Each bound is checked from both sides on the generators themselves, so a bound that is too loose
(a crash or hang at the edge) or too tight (a refusal of a value that draws) fails here.
"""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from ascii_lora.config.models import DatasetConfig
from ascii_lora.dataset.families import FAMILIES

# (family that uses it, table, key, largest allowed value on an n x n grid, the same value + 1)
EDGES = [
    ("corridor", "corridor", "width", lambda n: [(n - 1) // 2 - 2] * 2),
    ("maze", "maze", "nodes", lambda n: [(n - 3) // 2] * 2),
    (
        "rooms_and_mazes",
        "rooms_and_mazes",
        "room_size",
        lambda n: [n - 3 if (n - 2) % 2 == 0 else n - 2, n - 2],
    ),
    ("dungeon", "dungeon", "min_leaf", lambda n: [n, n]),
    ("mixed", "dungeon", "min_leaf", lambda n: [n, n]),
    ("cave", "cave", "min_chamber", lambda n: n * n),
]


def _past(value):
    return [value[0] + 1, value[1] + 1] if isinstance(value, list) else value + 1


@pytest.mark.parametrize("resolution", [384, 1024], ids=["24-cells", "64-cells"])
@pytest.mark.parametrize("family,table,key,largest", EDGES, ids=[f"{e[0]}-{e[2]}" for e in EDGES])
def test_largest_allowed_value_draws_and_one_more_is_refused(resolution, family, table, key, largest):
    n = resolution // 16
    value = largest(n)
    cfg = DatasetConfig.model_validate({"resolution": resolution, table: {key: value}})
    for i in range(12):
        layout = FAMILIES[family](np.random.default_rng([7, i]), cfg)
        assert layout.grid.shape == (n, n)
    with pytest.raises(ValidationError, match=f"{key}.*{n}x{n} cells"):
        DatasetConfig.model_validate({"resolution": resolution, table: {key: _past(value)}})


@pytest.mark.parametrize(
    "table,key,value",
    [
        ("corridor", "count", [1, 65]),
        ("corridor", "segment", [6, 513]),
        ("maze", "nodes", [2, 257]),
        ("mix", "dungeon", 1e7),
    ],
)
def test_values_no_grid_can_use_are_refused(table, key, value):
    with pytest.raises(ValidationError):
        DatasetConfig.model_validate({table: {key: value}})


def test_defaults_fit_the_smallest_grid():
    cfg = DatasetConfig.model_validate({"resolution": 384})  # accepted: every default fits 24 cells
    assert cfg.cells == 24
    for family, draw in FAMILIES.items():  # and every family draws with them
        assert draw(np.random.default_rng(0), cfg).grid.shape == (24, 24), family
