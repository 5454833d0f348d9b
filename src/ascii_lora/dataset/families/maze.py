"""Maze: a perfect maze (exactly one path between any two cells), entrances running off the edges."""

from __future__ import annotations

import numpy as np

from ...config.models import DatasetConfig
from ...grid import ops as gridops
from ...grid.layout import Layout, finish_map
from . import spanning

_STEPS = ((-1, 0), (0, 1), (1, 0), (0, -1))


def carve_backtracker(
    rng: np.random.Generator, open_mask: np.ndarray, allowed: np.ndarray, start: tuple[int, int]
) -> None:
    """Randomized depth-first search over the lattice cells of ``allowed``: long winding passages."""
    lat = spanning.lattice(allowed)
    first = np.flatnonzero(lat.flat == start[0] * lat.shape[1] + start[1])
    forest = spanning.backtracker_forest(rng, lat, first)
    child = np.flatnonzero(forest.parent >= 0)
    _open(open_mask, lat, forest.preorder, child, forest.parent[child])


def carve_prim(
    rng: np.random.Generator, open_mask: np.ndarray, allowed: np.ndarray, start: tuple[int, int]
) -> None:
    """Randomized Prim (a minimum spanning tree of random weights): many short branches, bushier
    than the backtracker. The tree spans every lattice cell, so ``start`` changes nothing."""
    lat = spanning.lattice(allowed)
    a, b = spanning.random_spanning_tree(rng, lat)
    _open(open_mask, lat, np.arange(lat.size), a, b)


def _open(
    open_mask: np.ndarray, lat: spanning.Lattice, nodes: np.ndarray, a: np.ndarray, b: np.ndarray
) -> None:
    out = open_mask.ravel()
    out[lat.flat[nodes]] = True
    out[spanning.wall_between(lat, a, b)] = True


CARVERS = {"backtracker": carve_backtracker, "prim": carve_prim}


def dead_ends(open_mask: np.ndarray, region: np.ndarray) -> int:
    """Open cells of ``region`` with exactly one open neighbour (openings already attached)."""
    degree = np.zeros(open_mask.shape, dtype=np.uint8)
    for dy, dx in _STEPS:
        degree += gridops.shift(open_mask, dy, dx).astype(np.uint8)
    return int(np.count_nonzero(open_mask & region & (degree == 1)))


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
    y0, x0 = (int(v) for v in cells[int(rng.integers(len(cells)))])
    CARVERS[algorithm](rng, open_mask, allowed, (y0, x0))

    # entrance on the west wall, exit on the east wall, each corridor running off the image
    entry_y = top + 1 + 2 * int(rng.integers(ny))
    exit_y = top + 1 + 2 * int(rng.integers(ny))
    open_mask[entry_y, : left + 1] = True
    open_mask[exit_y, left + span_x - 1 :] = True
    interior = np.zeros_like(open_mask)
    interior[top + 1 : top + span_y - 1, left + 1 : left + span_x - 1] = True
    ends = dead_ends(open_mask, interior)
    grid = gridops.build_map(open_mask)
    facts = {
        "size": [ny, nx],
        "algorithm": algorithm,
        "dead_ends": ends,
        "bounds": [top, left, span_y, span_x],
    }
    return finish_map("maze", grid, outline, facts)
