"""Facts measured on a finished cell grid, written independently of the generators.

Captions promise counts and shapes; these helpers recount them from the characters alone (plain
breadth-first flood fill, no ascii_lora code), so a generator that reports one thing and draws
another is caught.
"""

from __future__ import annotations

from collections import deque

import numpy as np

FLOOR, DOOR, VOID = ord("."), ord("+"), ord(" ")
STEPS = ((-1, 0), (0, 1), (1, 0), (0, -1))
EDGES = ("north", "east", "south", "west")


def walkable(grid: np.ndarray) -> np.ndarray:
    return (grid == FLOOR) | (grid == DOOR)


def components(mask: np.ndarray) -> list[list[tuple[int, int]]]:
    """4-connected components of ``mask`` by breadth-first search, each a list of (row, col)."""
    h, w = mask.shape
    seen = np.zeros_like(mask, dtype=bool)
    out = []
    for y, x in zip(*np.nonzero(mask), strict=False):
        if seen[y, x]:
            continue
        seen[y, x] = True
        todo, comp = deque([(int(y), int(x))]), []
        while todo:
            cy, cx = todo.popleft()
            comp.append((cy, cx))
            for dy, dx in STEPS:
                ny, nx = cy + dy, cx + dx
                if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    todo.append((ny, nx))
        out.append(comp)
    return out


def is_connected(mask: np.ndarray) -> bool:
    return len(components(mask)) <= 1


def opening(mask: np.ndarray, k: int) -> np.ndarray:
    """Cells covered by some k x k window that lies wholly inside ``mask`` (thin passages vanish)."""
    h, w = mask.shape
    fits = np.zeros((h - k + 1, w - k + 1), dtype=bool)
    fits[:] = True
    for dy in range(k):
        for dx in range(k):
            fits &= mask[dy : dy + h - k + 1, dx : dx + w - k + 1]
    out = np.zeros_like(mask, dtype=bool)
    for dy in range(k):
        for dx in range(k):
            out[dy : dy + h - k + 1, dx : dx + w - k + 1] |= fits
    return out


def is_solid_rectangle(comp: list[tuple[int, int]]) -> bool:
    ys, xs = zip(*comp, strict=False)
    return len(comp) == (max(ys) - min(ys) + 1) * (max(xs) - min(xs) + 1)


def rooms(grid: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Rooms: solid floor rectangles of at least 3 x 3 that stand apart from the thin passages."""
    out = []
    for comp in components(opening(grid == FLOOR, 3)):
        if is_solid_rectangle(comp):
            ys, xs = zip(*comp, strict=False)
            out.append((min(ys), min(xs), max(ys) - min(ys) + 1, max(xs) - min(xs) + 1))
    return out


def blobs(grid: np.ndarray, k: int = 3) -> list[list[tuple[int, int]]]:
    """Wide open areas that are not rectangles (caves): components of the k x k opening."""
    return [c for c in components(opening(grid == FLOOR, k)) if not is_solid_rectangle(c)]


def degree(mask: np.ndarray) -> np.ndarray:
    h, w = mask.shape
    out = np.zeros(mask.shape, dtype=int)
    pad = np.pad(mask, 1)
    for dy, dx in STEPS:
        out += pad[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
    return out


def dead_ends(mask: np.ndarray) -> int:
    return int((mask & (degree(mask) == 1)).sum())


def edge_count(mask: np.ndarray) -> int:
    return int((mask[:, 1:] & mask[:, :-1]).sum() + (mask[1:, :] & mask[:-1, :]).sum())


def is_tree(mask: np.ndarray) -> bool:
    """Connected and edges == cells - 1: exactly one path between any two cells (a perfect maze)."""
    return len(components(mask)) == 1 and edge_count(mask) == int(mask.sum()) - 1


def border_runs(mask: np.ndarray) -> dict[str, list[int]]:
    """Per image edge, the lengths of the runs of open cells that touch it."""
    lines = {"north": mask[0], "south": mask[-1], "west": mask[:, 0], "east": mask[:, -1]}
    out = {}
    for edge, line in lines.items():
        runs, n = [], 0
        for v in line.tolist() + [False]:
            if v:
                n += 1
            elif n:
                runs.append(n)
                n = 0
        out[edge] = runs
    return out


def maze_box(grid: np.ndarray) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of a maze's outer wall, found from the grid alone.

    Rows: the walkable cells span the interior rows only (the entrances run sideways). Columns:
    the outer wall is the outermost column that is wall along (almost) the whole row span; the
    entrance corridors to its sides have walls in two rows only.
    """
    open_ = walkable(grid)
    rows = np.flatnonzero(open_.any(axis=1))
    top, bottom = int(rows[0]) - 1, int(rows[-1]) + 1
    wall = (grid != VOID) & ~open_
    tall = np.flatnonzero(wall[top : bottom + 1].sum(axis=0) >= (bottom - top + 1) - 1)
    return top, int(tall[0]), bottom, int(tall[-1])


def maze_interior(grid: np.ndarray) -> np.ndarray:
    top, left, bottom, right = maze_box(grid)
    return walkable(grid)[top + 1 : bottom, left + 1 : right]


def maze_dead_ends(grid: np.ndarray) -> int:
    """Dead ends inside the outer wall; the entrances count as neighbours (they lead out)."""
    top, left, bottom, right = maze_box(grid)
    open_ = walkable(grid)
    ends = open_ & (degree(open_) == 1)
    return int(ends[top + 1 : bottom, left + 1 : right].sum())
