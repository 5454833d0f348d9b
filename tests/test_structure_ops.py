"""The array machinery behind the families, each held against a slow, obvious reference."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from ascii_lora.dataset.families import spanning
from ascii_lora.dataset.families.cave import settle
from ascii_lora.dataset.families.rooms_and_mazes import _kept_maze
from ascii_lora.grid import ops

STEPS = ((-1, 0), (0, 1), (1, 0), (0, -1))


def flood_components(mask: np.ndarray) -> list[set[tuple[int, int]]]:
    """4-connected components by breadth-first flood, in scan order of their first cell."""
    seen = np.zeros_like(mask)
    out = []
    for y, x in zip(*np.nonzero(mask), strict=False):
        if seen[y, x]:
            continue
        comp, queue = set(), deque([(y, x)])
        seen[y, x] = True
        while queue:
            cy, cx = queue.popleft()
            comp.add((cy, cx))
            for dy, dx in STEPS:
                ny, nx = cy + dy, cx + dx
                if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1] and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    queue.append((ny, nx))
        out.append(comp)
    return out


def lattice_mask(rng: np.random.Generator, ny: int, nx: int, holes: float) -> np.ndarray:
    allowed = np.zeros((2 * ny + 1, 2 * nx + 1), dtype=bool)
    allowed[1::2, 1::2] = rng.random((ny, nx)) >= holes
    return allowed


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("density", [0.3, 0.55, 0.8])
def test_label_numbers_the_flood_fill_components_in_scan_order(seed, density):
    mask = np.random.default_rng(seed).random((23, 31)) < density
    labels, count = ops.label(mask)
    comps = flood_components(mask)
    assert count == len(comps)
    for k, comp in enumerate(comps, start=1):
        assert {tuple(p) for p in np.argwhere(labels == k)} == comp
    assert not labels[~mask].any()


def reference_settle(rock: np.ndarray, free: np.ndarray, iterations: int) -> np.ndarray:
    """The 4-5 rule as written: rock stays rock with >= 4 rock neighbours, open turns rock with >= 5."""
    for _ in range(iterations):
        padded = np.pad(rock, 1, constant_values=True).astype(int)
        count = sum(
            padded[1 + dy : padded.shape[0] - 1 + dy, 1 + dx : padded.shape[1] - 1 + dx]
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
            if dy or dx
        )
        rock = np.where(rock, count >= 4, count >= 5) | ~free
    return rock


@pytest.mark.parametrize("seed", range(5))
def test_settle_is_the_4_5_rule_and_pockets_settle_as_if_alone(seed):
    rng = np.random.default_rng(seed)
    rock = rng.random((30, 40)) < 0.5
    free = np.zeros_like(rock)
    free[2:12, 2:15] = True
    free[16:28, 20:38] = True
    together = settle(rock, free, 5)
    assert np.array_equal(together, reference_settle(rock, free, 5))
    for box in ((slice(1, 13), slice(1, 16)), (slice(15, 29), slice(19, 39))):
        alone_free = np.zeros_like(free)
        alone_free[box] = free[box]
        alone = settle(np.where(alone_free | ~free, rock, True), alone_free, 5)
        assert np.array_equal(alone[box], together[box])


def tree_edges(lat: spanning.Lattice, parent: np.ndarray) -> set[tuple[int, int]]:
    return {(min(v, int(p)), max(v, int(p))) for v, p in enumerate(parent.tolist()) if p >= 0}


@pytest.mark.parametrize("seed", range(8))
def test_backtracker_forest_spans_each_component_with_one_tree_and_nested_intervals(seed):
    rng = np.random.default_rng(seed)
    allowed = lattice_mask(rng, 9, 12, holes=0.2)
    lat = spanning.lattice(allowed)
    forest = spanning.backtracker_forest(rng, lat, rng.permutation(lat.size))
    # every tree edge joins lattice neighbours; one tree per component of the lattice graph
    pos = np.argwhere(allowed)
    for a, b in tree_edges(lat, forest.parent):
        assert np.abs(pos[a] - pos[b]).sum() == 2
    carved = allowed.copy()
    child = np.flatnonzero(forest.parent >= 0)
    carved.ravel()[spanning.wall_between(lat, child, forest.parent[child])] = True
    open_graph = allowed.copy()
    open_graph.ravel()[
        ((lat.flat[:, None] + lat.flat[lat.neighbours.clip(max=lat.size - 1)]) // 2)[
            lat.neighbours < lat.size
        ]
    ] = True
    assert len(flood_components(carved)) == len(flood_components(open_graph)) == int(forest.tree.max()) + 1
    assert len(child) == lat.size - (int(forest.tree.max()) + 1)  # a forest: no cycles
    # the subtree of v is exactly the nodes whose entry time lies in [tin[v], tout[v])
    for v in range(lat.size):
        below = {u for u in range(lat.size) if forest.tin[v] <= forest.tin[u] < forest.tout[v]}
        descendants = set()
        for u in range(lat.size):
            w = u
            while w >= 0:
                if w == v:
                    descendants.add(u)
                    break
                w = int(forest.parent[w])
        assert below == descendants


@pytest.mark.parametrize("seed", range(8))
def test_random_spanning_tree_is_a_spanning_forest_of_the_lattice(seed):
    rng = np.random.default_rng(seed)
    allowed = lattice_mask(rng, 10, 13, holes=0.15)
    lat = spanning.lattice(allowed)
    a, b = spanning.random_spanning_tree(rng, lat)
    pos = np.argwhere(allowed)
    assert (np.abs(pos[a] - pos[b]).sum(axis=1) == 2).all()
    carved = allowed.copy()
    carved.ravel()[spanning.wall_between(lat, a, b)] = True
    trees = len(flood_components(carved))
    open_graph = allowed.copy()
    open_graph.ravel()[
        ((lat.flat[:, None] + lat.flat[lat.neighbours.clip(max=lat.size - 1)]) // 2)[
            lat.neighbours < lat.size
        ]
    ] = True
    assert trees == len(flood_components(open_graph))
    assert len(a) == lat.size - trees  # spanning and acyclic


def peel(cells: set, edges: dict, extra: dict, keep_degree: int = 2) -> set:
    """Remove cells of degree <= 1 until none is left (``extra``: degree from outside the tree)."""
    alive = set(cells)
    degree = {c: len(edges[c] & alive) + extra.get(c, 0) for c in alive}
    queue = deque(c for c in alive if degree[c] < keep_degree)
    while queue:
        c = queue.popleft()
        if c not in alive or degree[c] >= keep_degree:
            continue
        alive.discard(c)
        for d in edges[c]:
            if d in alive:
                degree[d] -= 1
                if degree[d] < keep_degree:
                    queue.append(d)
    return alive


@pytest.mark.parametrize("seed", range(12))
def test_kept_maze_is_what_peeling_dead_ends_leaves(seed):
    rng = np.random.default_rng(seed)
    allowed = lattice_mask(rng, 8, 10, holes=0.1)
    lat = spanning.lattice(allowed)
    forest = spanning.backtracker_forest(rng, lat, rng.permutation(lat.size))
    child = np.flatnonzero(forest.parent >= 0)
    wall_cell = {
        int(c): int(w)
        for c, w in zip(child, spanning.wall_between(lat, child, forest.parent[child]), strict=False)
    }
    # the cell graph of the forest: node cells and the wall cells between them
    edges: dict[int, set[int]] = {int(f): set() for f in lat.flat}
    for c, w in wall_cell.items():
        p = int(lat.flat[forest.parent[c]])
        edges[w] = {int(lat.flat[c]), p}
        edges[int(lat.flat[c])].add(w)
        edges[p].add(w)
    # terminals: random node cells and wall cells, some twice (two connectors meeting one cell)
    k = int(rng.integers(1, 7))
    owner = rng.integers(0, lat.size, k)
    on_wall = (rng.random(k) < 0.4) & (forest.parent[owner] >= 0)
    extra: dict[int, int] = {}
    for o, w in zip(owner.tolist(), on_wall.tolist(), strict=False):
        cell = wall_cell[o] if w else int(lat.flat[o])
        extra[cell] = extra.get(cell, 0) + 1
    per_tree = np.bincount(forest.tree[owner], minlength=int(forest.tree.max()) + 1)
    alive = per_tree >= 2  # a tree met once is a dead end as a whole
    kept_node, kept_wall = _kept_maze(forest, owner, on_wall, alive)
    got = {int(f) for f in lat.flat[kept_node]} | {wall_cell[int(c)] for c in np.flatnonzero(kept_wall)}
    assert got == peel(set(edges), edges, extra)
