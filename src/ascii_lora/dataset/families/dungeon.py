"""Dungeon: BSP rooms, corridors between sibling subtrees, doors where corridors cross room walls."""

from __future__ import annotations

import numpy as np

from ...config.models import DatasetConfig
from ...grid import ops as gridops
from ...grid.layout import Layout, finish_map
from .bsp import bsp_layout


def generate(rng: np.random.Generator, cfg: DatasetConfig) -> Layout:
    n = cfg.cells
    outline = bool(rng.random() < cfg.outline_chance)
    open_mask, doors, rooms, _, _ = bsp_layout(rng, n, n, cfg.dungeon)
    grid = gridops.build_map(open_mask, doors)
    facts = {"rooms": [r.as_list() for r in rooms]}
    return finish_map("dungeon", grid, outline, facts)
