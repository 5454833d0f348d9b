"""Maze: a perfect maze (exactly one path between any two cells), entrances running off the edges."""

from __future__ import annotations

import numpy as np

from .. import gridops
from ..config import DatasetConfig
from ..layout import Layout, finish_map

_STEPS = ((-1, 0), (0, 1), (1, 0), (0, -1))


def carve_backtracker(rng: np.random.Generator, open_mask: np.ndarray, allowed: np.ndarray, start: tuple[int, int]) -> None:
    """Randomized depth-first search over odd cells of ``allowed``: long winding passages."""
    h, w = open_mask.shape
    stack = [start]
    open_mask[start] = True
    while stack:
        y, x = stack[-1]
        options = [
            (dy, dx)
            for dy, dx in _STEPS
            if 0 <= y + 2 * dy < h and 0 <= x + 2 * dx < w
            and allowed[y + 2 * dy, x + 2 * dx] and not open_mask[y + 2 * dy, x + 2 * dx]
        ]
        if not options:
            stack.pop()
            continue
        dy, dx = options[int(rng.integers(len(options)))]
        open_mask[y + dy, x + dx] = True
        open_mask[y + 2 * dy, x + 2 * dx] = True
        stack.append((y + 2 * dy, x + 2 * dx))


def carve_prim(rng: np.random.Generator, open_mask: np.ndarray, allowed: np.ndarray, start: tuple[int, int]) -> None:
    """Randomized Prim: many short branches, a bushier look than the backtracker."""
    h, w = open_mask.shape
    open_mask[start] = True
    frontier: list[tuple[int, int, int, int]] = []

    def push(y: int, x: int) -> None:
        for dy, dx in _STEPS:
            ny, nx = y + 2 * dy, x + 2 * dx
            if 0 <= ny < h and 0 <= nx < w and allowed[ny, nx] and not open_mask[ny, nx]:
                frontier.append((ny, nx, y + dy, x + dx))

    push(*start)
    while frontier:
        k = int(rng.integers(len(frontier)))
        frontier[k], frontier[-1] = frontier[-1], frontier[k]
        ny, nx, wy, wx = frontier.pop()
        if open_mask[ny, nx]:
            continue
        open_mask[wy, wx] = True
        open_mask[ny, nx] = True
        push(ny, nx)


CARVERS = {"backtracker": carve_backtracker, "prim": carve_prim}


def dead_ends(open_mask: np.ndarray) -> int:
    degree = np.zeros(open_mask.shape, dtype=np.uint8)
    for dy, dx in _STEPS:
        degree += gridops.shift(open_mask, dy, dx).astype(np.uint8)
    return int(np.count_nonzero(open_mask & (degree == 1)))


def generate(rng: np.random.Generator, cfg: DatasetConfig) -> Layout:
    n = cfg.cells
    outline = bool(rng.random() < cfg.outline_chance)
    max_nodes = (n - 3) // 2  # keep a void margin around the outer wall
    lo, hi = min(cfg.maze.nodes[0], max_nodes), min(cfg.maze.nodes[1], max_nodes)
    ny, nx = (int(rng.integers(lo, hi + 1)) for _ in range(2))
    span_y, span_x = 2 * ny + 1, 2 * nx + 1
    top = int(rng.integers(1, n - span_y)) if n - span_y > 1 else 0
    left = int(rng.integers(1, n - span_x)) if n - span_x > 1 else 0

    allowed = np.zeros((n, n), dtype=bool)
    allowed[top + 1 : top + span_y - 1 : 2, left + 1 : left + span_x - 1 : 2] = True
    open_mask = np.zeros_like(allowed)
    algorithm = str(rng.choice(cfg.maze.algorithms))
    cells = np.argwhere(allowed)
    start = tuple(int(v) for v in cells[int(rng.integers(len(cells)))])
    CARVERS[algorithm](rng, open_mask, allowed, start)
    ends = dead_ends(open_mask)

    # entrance on the west wall, exit on the east wall, each corridor running off the image
    entry_y = top + 1 + 2 * int(rng.integers(ny))
    exit_y = top + 1 + 2 * int(rng.integers(ny))
    open_mask[entry_y, : left + 1] = True
    open_mask[exit_y, left + span_x - 1 :] = True
    grid = gridops.build_map(open_mask)
    facts = {
        "size": [ny, nx],
        "algorithm": algorithm,
        "dead_ends": ends,
        "bounds": [top, left, span_y, span_x],
        "openings": ["west", "east"],
    }
    return finish_map("maze", grid, outline, facts)
