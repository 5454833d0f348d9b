"""Mixed: the dungeon's BSP, with caves grown inside some leaves instead of rooms."""

from __future__ import annotations

import numpy as np

from ...config.models import DatasetConfig
from ...grid import ops as gridops
from ...grid.layout import Layout, finish_map
from .bsp import bsp_layout


def generate(rng: np.random.Generator, cfg: DatasetConfig) -> Layout:
    n = cfg.cells
    outline = bool(rng.random() < cfg.outline_chance)
    chance = cfg.mixed.cave_leaf_chance
    for _ in range(8):  # a mixed layout promises both kinds; redraw the rare all-room or all-cave split
        open_mask, doors, rooms, caves, _ = bsp_layout(rng, n, n, cfg.dungeon, chance, cfg.cave)
        if (rooms and caves) or chance in (0.0, 1.0):
            break
    grid = gridops.build_map(open_mask, doors)
    facts = {"rooms": [r.as_list() for r in rooms], "caves": caves}
    return finish_map("mixed", grid, outline, facts)
