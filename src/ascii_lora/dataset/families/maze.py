"""Maze: a perfect maze (exactly one path between any two cells), entrances running off the edges."""

from __future__ import annotations

import numpy as np

from ...grid import ops as gridops
from ...config.models import DatasetConfig
from ...grid.layout import Layout, finish_map

_STEPS = ((-1, 0), (0, 1), (1, 0), (0, -1))


def lattice_neighbours(allowed: np.ndarray) -> tuple[np.ndarray, list[list[tuple[int, int]]]]:
    """Flat indices of the lattice cells and, per cell, its (node index, wall cell) neighbours two steps away."""
    h, w = allowed.shape
    flat = np.flatnonzero(allowed)
    node_of = np.full(h * w, -1, dtype=np.int64)
    node_of[flat] = np.arange(len(flat))
    ys, xs = np.divmod(flat, w)
    table: list[list[tuple[int, int]]] = [[] for _ in range(len(flat))]
    for dy, dx in _STEPS:
        ny, nx = ys + 2 * dy, xs + 2 * dx
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        target = np.where(inside, node_of[np.clip(ny, 0, h - 1) * w + np.clip(nx, 0, w - 1)], -1)
        wall = (ys + dy) * w + (xs + dx)
        for k in np.flatnonzero(target >= 0).tolist():
            table[k].append((int(target[k]), int(wall[k])))
    return flat, table


def carve_backtracker(rng: np.random.Generator, open_mask: np.ndarray, allowed: np.ndarray, start: tuple[int, int]) -> None:
    """Randomized depth-first search over the lattice cells of ``allowed``: long winding passages.

    The walk is inherently sequential; it runs on plain lists with the neighbour table and the
    random draws prepared as whole arrays beforehand.
    """
    h, w = open_mask.shape
    flat, table = lattice_neighbours(allowed)
    seen = open_mask.ravel()[flat].tolist()
    first = int(np.flatnonzero(flat == start[0] * w + start[1])[0])
    draws = rng.integers(0, 1 << 30, size=2 * len(flat) + 1).tolist()
    walls: list[int] = []
    seen[first] = True
    stack, k = [first], 0
    while stack:
        options = [(n, wall) for n, wall in table[stack[-1]] if not seen[n]]
        if not options:
            stack.pop()
            continue
        n, wall = options[draws[k] % len(options)]
        k += 1
        seen[n] = True
        walls.append(wall)
        stack.append(n)
    out = open_mask.ravel()
    out[flat[np.flatnonzero(seen)]] = True
    out[walls] = True


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
    start = tuple(int(v) for v in cells[int(rng.integers(len(cells)))])
    CARVERS[algorithm](rng, open_mask, allowed, start)

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
