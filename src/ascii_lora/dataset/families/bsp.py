"""Binary space partition shared by the dungeon and mixed families."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...config.models import CaveParams, DungeonParams
from ...grid import ops as gridops
from .cave import join_chambers, settle


@dataclass(frozen=True)
class Rect:
    top: int
    left: int
    height: int
    width: int

    def as_list(self) -> list[int]:
        return [self.top, self.left, self.height, self.width]


@dataclass
class Node:
    rect: Rect
    children: tuple[Node, Node] | None = None


def partition(rng: np.random.Generator, rect: Rect, min_leaf: int) -> Node:
    """Split until a side would drop below ``min_leaf``; the split axis follows the longer side."""
    node = Node(rect)
    can_h = rect.height >= 2 * min_leaf
    can_v = rect.width >= 2 * min_leaf
    if not (can_h or can_v):
        return node
    if can_h and can_v:
        horizontal = rect.height > rect.width if rect.height != rect.width else bool(rng.integers(2))
    else:
        horizontal = can_h
    side = rect.height if horizontal else rect.width
    cut = int(rng.integers(min_leaf, side - min_leaf + 1))
    if horizontal:
        a = Rect(rect.top, rect.left, cut, rect.width)
        b = Rect(rect.top + cut, rect.left, rect.height - cut, rect.width)
    else:
        a = Rect(rect.top, rect.left, rect.height, cut)
        b = Rect(rect.top, rect.left + cut, rect.height, rect.width - cut)
    node.children = (partition(rng, a, min_leaf), partition(rng, b, min_leaf))
    return node


def leaves(node: Node) -> list[Node]:
    if node.children is None:
        return [node]
    return leaves(node.children[0]) + leaves(node.children[1])


def bsp_layout(
    rng: np.random.Generator,
    rows: int,
    cols: int,
    params: DungeonParams,
    cave_chance: float = 0.0,
    cave: CaveParams | None = None,
) -> tuple[np.ndarray, np.ndarray, list[Rect], int, int]:
    """Rooms (or caves) in BSP leaves, siblings joined by L corridors.

    Returns (open mask, door mask, rooms, caves, corridors). Rooms keep a one-cell wall ring
    inside their leaf, so no two rooms ever touch and every room rectangle stays whole floor.
    """
    open_mask = np.zeros((rows, cols), dtype=bool)
    room_mask = np.zeros_like(open_mask)
    rings = np.zeros_like(open_mask)
    rooms: list[Rect] = []
    caves = 0
    anchors: dict[int, tuple[int, int]] = {}
    min_leaf = int(rng.integers(params.min_leaf[0], params.min_leaf[1] + 1))
    root = partition(rng, Rect(0, 0, rows, cols), min_leaf)

    def add_room(leaf: Node) -> None:
        r = leaf.rect
        inner_h, inner_w = r.height - 2, r.width - 2  # keep the wall ring inside the leaf
        lo, hi = params.room_fill
        h = max(3, min(inner_h - 1, int(round(inner_h * rng.uniform(lo, hi)))))
        w = max(3, min(inner_w - 1, int(round(inner_w * rng.uniform(lo, hi)))))
        top = r.top + 1 + int(rng.integers(0, inner_h - h + 1))
        left = r.left + 1 + int(rng.integers(0, inner_w - w + 1))
        rooms.append(Rect(top, left, h, w))
        room_mask[top : top + h, left : left + w] = True
        rings[max(top - 1, 0) : top + h + 1, max(left - 1, 0) : left + w + 1] = True  # room and its ring
        anchors[id(leaf)] = (top + int(rng.integers(h)), left + int(rng.integers(w)))

    pockets: list[Node] = []
    for leaf in leaves(root):
        r = leaf.rect
        if cave is not None and rng.random() < cave_chance and r.height - 2 >= 6 and r.width - 2 >= 6:
            pockets.append(leaf)
        else:
            add_room(leaf)
    if pockets:
        # every pocket settles in one pass over the whole grid: rock surrounds each, so each
        # settles exactly as it would alone; chambers are then joined pocket by pocket
        assert cave is not None
        rock = np.ones((rows, cols), dtype=bool)
        free = np.zeros_like(rock)
        for leaf in pockets:
            r = leaf.rect
            rock[r.top + 1 : r.top + r.height - 1, r.left + 1 : r.left + r.width - 1] = rng.random(
                (r.height - 2, r.width - 2)
            ) < rng.uniform(*cave.fill)
            free[r.top + 2 : r.top + r.height - 2, r.left + 2 : r.left + r.width - 2] = True
        settled = ~settle(rock, free, cave.iterations)
        labels = gridops.label(settled)[0]
        for leaf in pockets:
            r = leaf.rect
            inner = (slice(r.top + 1, r.top + r.height - 1), slice(r.left + 1, r.left + r.width - 1))
            pocket, _ = join_chambers(rng, settled[inner], cave.min_chamber, labels[inner])
            if not pocket.any():  # a pocket that settled solid holds a room instead
                add_room(leaf)
                continue
            open_mask[inner] |= pocket
            ys, xs = np.nonzero(pocket)
            k = int(rng.integers(len(ys)))
            anchors[id(leaf)] = (r.top + 1 + int(ys[k]), r.left + 1 + int(xs[k]))
            caves += 1
    rings &= ~room_mask  # the wall rings just outside the rooms
    open_mask |= room_mask

    _, corridors = _connect(rng, root, anchors, open_mask)
    doors = gridops.doors_on_rings(open_mask, room_mask, rings)
    return open_mask & ~doors, doors, rooms, caves, corridors


def _connect(
    rng: np.random.Generator, node: Node, anchors: dict[int, tuple[int, int]], open_mask: np.ndarray
) -> tuple[tuple[int, int], int]:
    """Siblings joined by an L corridor, bottom-up: (the cell this subtree offers its parent, corridors carved)."""
    if node.children is None:
        return anchors[id(node)], 0
    a, left = _connect(rng, node.children[0], anchors, open_mask)
    b, right = _connect(rng, node.children[1], anchors, open_mask)
    gridops.carve_l(open_mask, a, b, horizontal_first=bool(rng.integers(2)))
    return (a if rng.integers(2) else b), left + right + 1
