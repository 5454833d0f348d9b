"""What a structure family returns: the cell grid and the facts that captions may claim."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import ops as gridops


@dataclass
class Layout:
    """A finished picture in cells. ``facts`` holds only JSON-able values measured from ``grid``
    or guaranteed by construction; the caption is built from them and nothing else."""

    family: str
    grid: np.ndarray  # (rows, cols) uint8 ASCII codes
    facts: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        """The ground truth: one character per cell, one line per cell row."""
        return grid_text(self.grid)


def grid_text(grid: np.ndarray) -> str:
    """ASCII codes (rows, cols) -> the .ascii text: one line per cell row, each ending in a newline."""
    return "".join(row.tobytes().decode("ascii") + "\n" for row in grid)


def floor_fraction(grid: np.ndarray) -> float:
    return float(np.mean((grid == gridops.FLOOR) | (grid == gridops.DOOR)))


DENSITY_BANDS = ((0.12, "sparse"), (0.30, "moderately dense"), (1.01, "dense"))


def density_word(fraction: float) -> str:
    """Band the open-floor share into the word a caption uses (sparse / moderately dense / dense)."""
    for limit, word in DENSITY_BANDS:
        if fraction < limit:
            return word
    return DENSITY_BANDS[-1][1]


def finish_map(family: str, grid: np.ndarray, outline: bool, facts: dict[str, Any]) -> Layout:
    """Common tail of every map family: wall style, door count and density, measured on the grid."""
    if outline:
        grid = gridops.outline_walls(grid)
    fraction = floor_fraction(grid)
    facts = {
        **facts,
        "wall_style": "outline" if outline else "blocks",
        "doors": int(np.count_nonzero(grid == gridops.DOOR)),
        "density": density_word(fraction),
    }
    return Layout(family, grid, facts)
