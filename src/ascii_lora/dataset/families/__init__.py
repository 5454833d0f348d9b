"""Structure families: pure functions (random generator, dataset config) -> Layout."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ...config.models import DatasetConfig
from ...grid.layout import Layout
from . import cave, corridor, dungeon, maze, mixed, rooms_and_mazes, text

# Part of every dataset fingerprint: bump it whenever a family draws something else for the same
# (config, seed, index), so a directory written by the old drawing is not taken as current.
# 2: array-based maze carving and chamber joining (issue 9).
REVISION = 2

Generator = Callable[[np.random.Generator, DatasetConfig], Layout]

FAMILIES: dict[str, Generator] = {
    "dungeon": dungeon.generate,
    "rooms_and_mazes": rooms_and_mazes.generate,
    "cave": cave.generate,
    "maze": maze.generate,
    "corridor": corridor.generate,
    "text": text.generate,
    "mixed": mixed.generate,
}
