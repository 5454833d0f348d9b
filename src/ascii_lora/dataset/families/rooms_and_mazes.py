"""Rooms and mazes: non-overlapping rooms, a maze in the gaps, one spanning set of doors, dead ends pruned."""

from __future__ import annotations

from collections import deque

import numpy as np

from ...grid import ops as gridops
from ...config.models import DatasetConfig
from ...grid.layout import Layout, finish_map
from .bsp import Rect
from .maze import _STEPS, carve_backtracker


def place_rooms(rng: np.random.Generator, n: int, attempts: int, size: tuple[int, int]) -> list[Rect]:
    """Odd-aligned rooms with odd sides, so room edges meet the maze lattice exactly."""
    lo, hi = size
    odd = np.array([s for s in range(lo, hi + 1) if s % 2] or [lo | 1])
    hs = odd[rng.integers(0, len(odd), attempts)].tolist()
    ws = odd[rng.integers(0, len(odd), attempts)].tolist()
    ty, tx = rng.random(attempts).tolist(), rng.random(attempts).tolist()
    taken = np.zeros((n, n), dtype=bool)
    rooms: list[Rect] = []
    for h, w, fy, fx in zip(hs, ws, ty, tx):
        if h > n - 2 or w > n - 2:
            continue
        top = 1 + 2 * int(fy * ((n - 1 - h) // 2))
        left = 1 + 2 * int(fx * ((n - 1 - w) // 2))
        if top + h >= n - 1 or left + w >= n - 1:
            continue
        if taken[top - 1 : top + h + 1, left - 1 : left + w + 1].any():
            continue
        taken[top : top + h, left : left + w] = True
        rooms.append(Rect(top, left, h, w))
    return rooms


def prune_dead_ends(open_mask: np.ndarray, keep: np.ndarray) -> None:
    """Close cells with a single open neighbour until none is left, never touching ``keep``."""
    h, w = open_mask.shape
    degree = np.zeros(open_mask.shape, dtype=np.int16)
    for dy, dx in _STEPS:
        degree += gridops.shift(open_mask, dy, dx).astype(np.int16)
    queue = deque(map(tuple, np.argwhere(open_mask & ~keep & (degree <= 1))))
    while queue:
        y, x = queue.popleft()
        if not open_mask[y, x] or degree[y, x] > 1:
            continue
        open_mask[y, x] = False
        for dy, dx in _STEPS:
            yy, xx = y + dy, x + dx
            if 0 <= yy < h and 0 <= xx < w and open_mask[yy, xx]:
                degree[yy, xx] -= 1
                if degree[yy, xx] <= 1 and not keep[yy, xx]:
                    queue.append((yy, xx))


def generate(rng: np.random.Generator, cfg: DatasetConfig) -> Layout:
    p = cfg.rooms_and_mazes
    n = cfg.cells - 1 if cfg.cells % 2 == 0 else cfg.cells  # odd side so the lattice closes
    outline = bool(rng.random() < cfg.outline_chance)
    rooms = place_rooms(rng, n, p.room_attempts, p.room_size)

    open_mask = np.zeros((n, n), dtype=bool)
    room_mask = np.zeros_like(open_mask)
    for r in rooms:
        room_mask[r.top : r.top + r.height, r.left : r.left + r.width] = True
    open_mask |= room_mask
    nodes = np.zeros_like(open_mask)
    nodes[1:n:2, 1:n:2] = True
    nodes &= ~room_mask
    while True:
        free = np.argwhere(nodes & ~open_mask)
        if len(free) == 0:
            break
        start = tuple(int(v) for v in free[int(rng.integers(len(free)))])
        carve_backtracker(rng, open_mask, nodes, start)

    # regions: each room and each maze flood is one; connectors are walls between two regions
    regions, count = gridops.label(open_mask)
    left, right = gridops.shift(regions, 0, 1), gridops.shift(regions, 0, -1)
    up, down = gridops.shift(regions, 1, 0), gridops.shift(regions, -1, 0)
    closed = ~open_mask
    horiz = closed & (left > 0) & (right > 0) & (left != right)
    vert = closed & (up > 0) & (down > 0) & (up != down)
    cy, cx = np.nonzero(horiz | vert)
    a = np.where(horiz[cy, cx], left[cy, cx], up[cy, cx])
    b = np.where(horiz[cy, cx], right[cy, cx], down[cy, cx])

    root = np.arange(count + 1)
    main = int(regions[rooms[0].top, rooms[0].left]) if rooms else 1
    opened = np.zeros(len(cy), dtype=bool)
    while True:
        ra, rb = root[a], root[b]
        links = (ra == main) != (rb == main)
        if not links.any():
            break
        pick = np.flatnonzero(links)
        k = int(pick[int(rng.integers(len(pick)))])
        other = int(rb[k] if ra[k] == main else ra[k])
        opened[k] = True
        # a few redundant connectors between the same pair give the maze loops
        same = np.flatnonzero(links & ((ra == other) | (rb == other)) & ~opened)
        extra = same[rng.random(len(same)) < p.extra_door_chance]
        opened[extra] = True
        root[root == other] = main

    doors = np.zeros_like(open_mask)
    connectors = np.zeros_like(open_mask)
    connectors[cy[opened], cx[opened]] = True
    touches_room = gridops.dilate(room_mask, diagonal=False)
    doors = connectors & touches_room
    open_mask |= connectors
    prune_dead_ends(open_mask, keep=room_mask)
    doors &= open_mask

    full = np.zeros((cfg.cells, cfg.cells), dtype=bool)
    full_doors = np.zeros_like(full)
    full[:n, :n] = open_mask & ~doors
    full_doors[:n, :n] = doors
    grid = gridops.build_map(full, full_doors)
    facts = {"rooms": [r.as_list() for r in rooms]}
    return finish_map("rooms_and_mazes", grid, outline, facts)
