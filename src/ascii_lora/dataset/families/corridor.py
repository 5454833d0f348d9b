"""Corridor: "infinite corridors" that enter at one edge, run and turn, and leave at another."""

from __future__ import annotations

import numpy as np

from ...config.models import DatasetConfig
from ...grid import ops as gridops
from ...grid.layout import Layout, finish_map

# heading -> (dy, dx); the edge a corridor leaves by is the heading it had when it crossed it
HEADINGS = {"north": (-1, 0), "east": (0, 1), "south": (1, 0), "west": (0, -1)}
OPPOSITE = {"north": "south", "south": "north", "east": "west", "west": "east"}
TURNS = {
    "north": ("east", "west"),
    "south": ("east", "west"),
    "east": ("north", "south"),
    "west": ("north", "south"),
}


def walk(
    rng: np.random.Generator, n: int, width: int, segment: tuple[int, int], max_turns: int = 8
) -> tuple[list[tuple[int, int]], str, str, int]:
    """Centre line of one corridor: (points, entry edge, exit edge, turns)."""
    entry = str(rng.choice(list(HEADINGS)))
    heading = OPPOSITE[entry]
    margin = width + 2
    pos = int(rng.integers(margin, n - margin))
    y, x = {"north": (0, pos), "south": (n - 1, pos), "west": (pos, 0), "east": (pos, n - 1)}[entry]
    points = [(y, x)]
    turns = 0
    while True:
        dy, dx = HEADINGS[heading]
        run = n if turns >= max_turns else int(rng.integers(segment[0], segment[1] + 1))
        for _ in range(run):
            y, x = y + dy, x + dx
            if not (0 <= y < n and 0 <= x < n):
                return points, entry, heading, turns
            points.append((y, x))
        # turn only while the new heading leaves room for the corridor's walls
        options = [h for h in TURNS[heading] if _room_ahead(y, x, h, n, margin)]
        if options:
            heading = options[int(rng.integers(len(options)))]
            turns += 1


def _room_ahead(y: int, x: int, heading: str, n: int, margin: int) -> bool:
    if heading in ("north", "south"):
        return margin <= x < n - margin
    return margin <= y < n - margin


def generate(rng: np.random.Generator, cfg: DatasetConfig) -> Layout:
    n = cfg.cells
    p = cfg.corridor
    outline = bool(rng.random() < cfg.outline_chance)
    open_mask = np.zeros((n, n), dtype=bool)
    corridors = []
    for _ in range(int(rng.integers(p.count[0], p.count[1] + 1))):
        width = int(rng.integers(p.width[0], p.width[1] + 1))
        points, entry, leave, turns = walk(rng, n, width, p.segment)
        ys, xs = np.array(points).T
        path = np.zeros_like(open_mask)
        path[ys, xs] = True
        brush = path.copy()
        for k in range(1, width):  # widen towards south-east: the centre line stays a corridor edge
            brush |= gridops.shift(path, k, 0) | gridops.shift(path, 0, k)
            brush |= gridops.shift(path, k, k)
        open_mask |= brush
        corridors.append({"entry": entry, "exit": leave, "turns": turns, "width": width})
    grid = gridops.build_map(open_mask)
    return finish_map("corridor", grid, outline, {"corridors": corridors})
