"""Rooms and mazes: non-overlapping rooms, a maze in the gaps, one spanning set of doors, dead ends pruned."""

from __future__ import annotations

import numpy as np

from ...config.models import DatasetConfig
from ...grid import ops as gridops
from ...grid.layout import Layout, finish_map
from . import spanning


def place_rooms(rng: np.random.Generator, n: int, attempts: int, size: tuple[int, int]) -> list[list[int]]:
    """Odd-aligned rooms with odd sides, so room edges meet the maze lattice exactly.

    Attempts are taken in order and one overlapping an earlier room (or its wall ring) is
    discarded; the overlaps of all pairs are one array test, the in-order pass reads bit masks.
    """
    lo, hi = size
    odd = np.array([s for s in range(lo, hi + 1) if s % 2] or [lo | 1])
    h = odd[rng.integers(0, len(odd), attempts)]
    w = odd[rng.integers(0, len(odd), attempts)]
    fy, fx = rng.random(attempts), rng.random(attempts)
    top = 1 + 2 * (fy * ((n - 1 - h) // 2)).astype(np.int64)
    left = 1 + 2 * (fx * ((n - 1 - w) // 2)).astype(np.int64)
    fits = (h <= n - 2) & (w <= n - 2) & (top + h < n - 1) & (left + w < n - 1)
    # i clashes with j when i grown by its wall ring meets j: top_i - 1 < top_j + h_j, and
    # top_j < top_i + h_i + 1, the same along x (in integers: <= the end row/col)
    bottom, right = top + h, left + w
    clash = (
        (top[:, None] <= bottom)
        & (top <= bottom[:, None])
        & (left[:, None] <= right)
        & (left <= right[:, None])
    )
    masks = [int.from_bytes(row.tobytes(), "little") for row in np.packbits(clash, axis=1, bitorder="little")]
    taken = 0
    accepted = []
    for i in np.flatnonzero(fits).tolist():
        if not masks[i] & taken:
            taken |= 1 << i
            accepted.append(i)
    boxes: list[list[int]] = np.stack([top, left, h, w], axis=1)[accepted].tolist()  # [top, left, h, w]
    return boxes


def _connectors(region: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Closed cells between two different regions, in scan order: (flat cell, region a, region b,
    flat cells of the two sides). Left/right pairs win where a cell has both kinds."""
    nrow, ncol = region.shape
    pad = np.zeros((nrow + 2, ncol + 2), dtype=region.dtype)
    pad[1:-1, 1:-1] = region
    # [0]: left / right neighbours, [1]: up / down neighbours, every cell at once
    a = np.stack([pad[1:-1, :-2], pad[:-2, 1:-1]])
    b = np.stack([pad[1:-1, 2:], pad[2:, 1:-1]])
    between = (region == 0) & (a > 0) & (b > 0) & (a != b)
    between[1] &= ~between[0]
    hit = np.flatnonzero(between)
    cell = hit % (nrow * ncol)
    order = np.argsort(cell, kind="stable")
    hit, cell = hit[order], cell[order]
    step = np.where(hit < nrow * ncol, 1, ncol)
    sides = np.stack([cell - step, cell + step], axis=1)
    return cell, a.ravel()[hit], b.ravel()[hit], sides


def _spanning_connectors(
    rng: np.random.Generator, a: np.ndarray, b: np.ndarray, regions: int, extra: float
) -> np.ndarray:
    """Which connectors to open: random Kruskal over the regions (one connector per joined pair),
    plus each further connector between a pair that is already joined directly, with ``extra``
    chance (the maze's few loops)."""
    weight = rng.permutation(len(a))
    pair = np.minimum(a, b) * regions + np.maximum(a, b)
    lightest = np.full(regions * regions, len(a))
    np.minimum.at(lightest, pair, weight)
    pairs = np.flatnonzero(lightest < len(a))
    pairs = pairs[np.argsort(lightest[pairs])]  # lightest pair first
    root = list(range(regions))

    def find(x: int) -> int:
        while root[x] != x:
            root[x] = root[root[x]]
            x = root[x]
        return x

    tree_pairs = []
    for pr in pairs.tolist():
        rx, ry = find(pr // regions), find(pr % regions)
        if rx != ry:
            root[max(rx, ry)] = min(rx, ry)
            tree_pairs.append(pr)
    joined = np.zeros(regions * regions, dtype=bool)
    joined[tree_pairs] = True
    by_weight = np.empty(len(a), dtype=np.int64)
    by_weight[weight] = np.arange(len(a))
    opened = np.zeros(len(a), dtype=bool)
    opened[by_weight[lightest[tree_pairs]]] = True  # the lightest connector of each joined pair
    opened |= joined[pair] & (rng.random(len(a)) < extra)
    return opened


def _kept_maze(
    forest: spanning.Forest, owner: np.ndarray, on_wall: np.ndarray, alive_tree: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Dead-end pruning of the maze trees, solved instead of peeled.

    Peeling dead ends off a tree leaves exactly the paths between its terminals (the cells where
    an opened connector meets it). With nodes in depth-first order, the terminals below a node are
    a prefix-sum difference, and a tree edge stays iff terminals lie on both of its sides.

    ``owner``/``on_wall``: per terminal incidence, the node it belongs to and whether it meets the
    wall cell above that node (between the node and its parent) rather than the node itself.
    Returns (kept nodes, kept walls above each node).
    """
    n = len(forest.parent)
    count = np.bincount(forest.tin[owner], minlength=n)
    prefix = np.concatenate([[0], np.cumsum(count)])
    below = prefix[forest.tout] - prefix[forest.tin]  # incidences in the subtree, own upper wall included
    wall_inc = np.bincount(owner[on_wall], minlength=n)
    node_side = below - wall_inc  # incidences at or under the node cell itself
    roots = np.flatnonzero(forest.parent < 0)
    tree_total = np.zeros(len(roots), dtype=np.int64)
    tree_total[forest.tree[roots]] = below[roots]
    total = tree_total[forest.tree]
    # at a root both counts equal the tree's total, so neither edge test can hold there
    lower_edge = (node_side > 0) & (node_side < total)  # node <-> its upper wall
    upper_edge = (below > 0) & (below < total)  # upper wall <-> parent node
    kept_wall = lower_edge | upper_edge | (wall_inc > 0)
    kept_node = lower_edge.copy()
    kept_node[forest.parent[upper_edge]] = True
    kept_node[owner[~on_wall]] = True  # terminals
    alive = alive_tree[forest.tree]
    return kept_node & alive, kept_wall & alive


def generate(rng: np.random.Generator, cfg: DatasetConfig) -> Layout:
    p = cfg.rooms_and_mazes
    n = cfg.cells - 1 if cfg.cells % 2 == 0 else cfg.cells  # odd side so the lattice closes
    outline = bool(rng.random() < cfg.outline_chance)
    rooms = place_rooms(rng, n, p.room_attempts, p.room_size)

    # regions: 1..R the rooms, R+1.. one per maze tree (a flood between the rooms)
    region = np.zeros((n, n), dtype=np.int32)
    for k, (top, left, height, width) in enumerate(rooms):
        region[top : top + height, left : left + width] = k + 1
    room_mask = region > 0
    nodes = np.zeros_like(room_mask)
    nodes[1:n:2, 1:n:2] = True
    nodes &= ~room_mask
    lat = spanning.lattice(nodes)
    forest = spanning.backtracker_forest(rng, lat, rng.permutation(lat.size))
    child = np.flatnonzero(forest.parent >= 0)
    upper_wall = np.full(lat.size, -1, dtype=np.int64)  # flat cell of the wall above each node
    upper_wall[child] = spanning.wall_between(lat, child, forest.parent[child])
    flat_region = region.ravel()
    flat_region[lat.flat] = len(rooms) + 1 + forest.tree
    flat_region[upper_wall[child]] = len(rooms) + 1 + forest.tree[child]
    regions = len(rooms) + 1 + (int(forest.tree.max()) + 1 if lat.size else 0)

    cell, a, b, sides = _connectors(region)
    opened = _spanning_connectors(rng, a, b, regions, p.extra_door_chance)
    cell, a, b, sides = cell[opened], a[opened], b[opened], sides[opened]

    # a maze tree met by at most one connector is a dead end as a whole: it goes, with its connector
    is_tree = np.arange(regions) > len(rooms)
    alive = np.ones(regions, dtype=bool)
    live = np.ones(len(cell), dtype=bool)
    while True:
        meets = np.bincount(a[live], minlength=regions) + np.bincount(b[live], minlength=regions)
        dead = is_tree & alive & (meets <= 1)
        if not dead.any():
            break
        alive &= ~dead
        live &= alive[a] & alive[b]
    cell, sides = cell[live], sides[live]

    # terminals: the maze cells each live connector meets, as (node, on its upper wall?)
    owner_at = np.empty(n * n, dtype=np.int64)  # maze cell -> its node (a wall: the node below it)
    owner_at[lat.flat] = np.arange(lat.size)
    owner_at[upper_wall[child]] = child
    side = sides.ravel()
    maze_side = side[~room_mask.ravel()[side]]
    on_wall = ~nodes.ravel()[maze_side]
    owner = owner_at[maze_side]
    kept_node, kept_wall = _kept_maze(forest, owner, on_wall, alive[len(rooms) + 1 :])

    open_mask = room_mask.copy()
    flat_open = open_mask.ravel()
    flat_open[lat.flat[kept_node]] = True
    flat_open[upper_wall[kept_wall & (upper_wall >= 0)]] = True
    connectors = np.zeros_like(open_mask)
    connectors.ravel()[cell] = True
    doors = connectors & gridops.dilate(room_mask, diagonal=False)
    open_mask |= connectors

    full = np.zeros((cfg.cells, cfg.cells), dtype=bool)
    full_doors = np.zeros_like(full)
    full[:n, :n] = open_mask & ~doors
    full_doors[:n, :n] = doors
    grid = gridops.build_map(full, full_doors)
    facts = {"rooms": rooms}
    return finish_map("rooms_and_mazes", grid, outline, facts)
