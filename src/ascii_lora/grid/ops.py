"""Whole-array operations on cell grids: the shared vocabulary of every structure family.

Grids are uint8 arrays of ASCII codes (rows, cols); masks are boolean arrays of the same shape.
"""

from __future__ import annotations

import numpy as np

from . import symbols

VOID = ord(symbols.VOID)
FLOOR = ord(symbols.FLOOR)
WALL = ord(symbols.WALL)
DOOR = ord(symbols.DOOR)


def shift(mask: np.ndarray, dy: int, dx: int, fill: bool | int = False) -> np.ndarray:
    """``out[y, x] = mask[y - dy, x - dx]``: the mask moved by (dy, dx), edges filled."""
    out = np.full_like(mask, fill)
    h, w = mask.shape
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = mask[ys, xs]
    return out


def dilate(mask: np.ndarray, diagonal: bool = True) -> np.ndarray:
    """Set cells and their 8 (or 4) neighbours. ORs of views into one zero-padded copy: every
    generated map is dilated once or twice, so this avoids a fresh array per direction."""
    h, w = mask.shape
    pad = np.zeros((h + 2, w + 2), dtype=bool)
    pad[1:-1, 1:-1] = mask
    if diagonal:  # separable: a row of three, then a column of three
        rows = pad[:, :-2] | pad[:, 1:-1] | pad[:, 2:]
        return rows[:-2] | rows[1:-1] | rows[2:]
    return mask | pad[:-2, 1:-1] | pad[2:, 1:-1] | pad[1:-1, :-2] | pad[1:-1, 2:]


def neighbour_count(mask: np.ndarray, fill: bool = False) -> np.ndarray:
    """Number of the 8 neighbours that are set; outside the grid counts as ``fill``."""
    m = mask.astype(np.uint8)
    total = np.zeros(mask.shape, dtype=np.uint8)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                total += shift(m, dy, dx, fill=int(fill))
    return total


def arms(mask: np.ndarray) -> np.ndarray:
    """4-bit code per cell of which orthogonal neighbours are set (N=1, E=2, S=4, W=8)."""
    h, w = mask.shape
    pad = np.zeros((h + 2, w + 2), dtype=np.uint8)
    pad[1:-1, 1:-1] = mask
    return (
        pad[:-2, 1:-1] * np.uint8(symbols.NORTH)
        | pad[1:-1, 2:] * np.uint8(symbols.EAST)
        | pad[2:, 1:-1] * np.uint8(symbols.SOUTH)
        | pad[1:-1, :-2] * np.uint8(symbols.WEST)
    )


def build_map(open_mask: np.ndarray, doors: np.ndarray | None = None) -> np.ndarray:
    """Floor where open, doors where given, walls on every cell touching either, void elsewhere."""
    grid = np.full(open_mask.shape, VOID, dtype=np.uint8)
    walkable = open_mask if doors is None else (open_mask | doors)
    grid[dilate(walkable) & ~walkable] = WALL
    grid[open_mask] = FLOOR
    if doors is not None:
        grid[doors] = DOOR
    return grid


def outline_walls(grid: np.ndarray) -> np.ndarray:
    """Redraw ``#`` block walls as line walls joined to their wall/door neighbours."""
    walls = grid == WALL
    joins = walls | (grid == DOOR)
    out = grid.copy()
    out[walls] = symbols.LINE_LUT[arms(joins)[walls]]
    return out


def label(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """4-connected components: (labels numbered 1..count in scan order, 0 = background, count).

    Works on horizontal runs, not cells (a run is already connected, and there are several times
    fewer of them), joined where runs of neighbouring rows overlap. Whole-array union-find: every
    round hooks each component onto its smallest neighbouring run, then pointer jumping flattens
    the trees, so the rounds grow with the log of the component size, not with its length (a long
    maze passage costs a few rounds, not thousands).
    """
    h, w = mask.shape
    starts = mask.copy()
    starts[:, 1:] &= ~mask[:, :-1]
    run = np.cumsum(starts).reshape(h, w) - 1  # run index (in scan order) of every set cell
    runs = int(run[-1, -1]) + 1 if mask.size else 0
    overlap = mask[:-1] & mask[1:]
    first = overlap.copy()  # one join per stretch of overlap is enough
    first[:, 1:] &= ~overlap[:, :-1]
    a, b = run[:-1][first], run[1:][first]
    parent = np.arange(runs)
    while a.size:
        ra, rb = parent[a], parent[b]
        split = ra != rb
        if not split.any():
            break
        a, b, ra, rb = a[split], b[split], ra[split], rb[split]
        np.minimum.at(parent, np.maximum(ra, rb), np.minimum(ra, rb))
        while True:  # pointer jumping: every run points at its root
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
    # a root is the first run of its component, so numbering roots in order numbers by scan order
    number = np.cumsum(parent == np.arange(runs), dtype=np.int32)
    labels = np.zeros((h, w), dtype=np.int32)
    labels[mask] = number[parent[run[mask]]]
    return labels, int(number[-1]) if runs else 0


def is_connected(mask: np.ndarray) -> bool:
    return label(mask)[1] <= 1


def carve_l(mask: np.ndarray, a: tuple[int, int], b: tuple[int, int], horizontal_first: bool) -> None:
    """Open an L-shaped 1-cell path from a to b (row, col), in place."""
    (y0, x0), (y1, x1) = a, b
    if horizontal_first:
        mask[y0, min(x0, x1) : max(x0, x1) + 1] = True
        mask[min(y0, y1) : max(y0, y1) + 1, x1] = True
    else:
        mask[min(y0, y1) : max(y0, y1) + 1, x0] = True
        mask[y1, min(x0, x1) : max(x0, x1) + 1] = True


def rect_ring(shape: tuple[int, int], top: int, left: int, height: int, width: int) -> np.ndarray:
    """Mask of the one-cell ring just outside the rectangle (its wall line)."""
    ring = np.zeros(shape, dtype=bool)
    y0, x0, y1, x1 = top - 1, left - 1, top + height, left + width
    ring[max(y0, 0) : y1 + 1, max(x0, 0) : x1 + 1] = True
    ring[top : top + height, left : left + width] = False
    return ring


def doors_on_rings(open_mask: np.ndarray, room_mask: np.ndarray, rings: np.ndarray) -> np.ndarray:
    """Ring cells that a corridor passes through as a 1-cell opening become doors.

    A ring cell is a door when it is open, not part of a room, and the ring runs on through it
    as wall on both sides: a corridor crossing the wall, not one running along it.
    """
    candidate = rings & open_mask & ~room_mask
    closed = ~open_mask
    horizontal_gap = shift(closed, 0, 1) & shift(closed, 0, -1)  # wall left and right
    vertical_gap = shift(closed, 1, 0) & shift(closed, -1, 0)  # wall above and below
    doors: np.ndarray = candidate & (horizontal_gap | vertical_gap)
    return doors
