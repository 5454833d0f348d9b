"""Spanning trees over a maze lattice, fast enough to stay far below the PNG encode of the picture.

A maze lattice is every other cell of a boolean ``allowed`` mask (the junction cells); two lattice
cells two steps apart are joined by opening the wall cell between them. Both builders return the
tree as (child, parent) node pairs, so the caller opens cells with whole-array writes.

- ``backtracker_forest``: randomized depth-first search (the recursive backtracker). The walk is
  inherently sequential; it runs as one tight Python loop over lists, with every random draw (a
  shuffled neighbour order per node) made as one array beforehand. It also records each node's
  entry/exit time, which turns "how many marked cells lie below this node" into a prefix sum.
- ``random_spanning_tree``: Borůvka's algorithm on random distinct edge weights, whole-array
  rounds (each round every component takes its lightest outgoing edge, so the count at least
  halves). A minimum spanning tree of random weights is exactly the tree randomized Prim's or
  Kruskal's algorithm grows: the bushy maze with many short dead ends.
"""

from __future__ import annotations

import gc
import itertools
from dataclasses import dataclass

import numpy as np

_STEPS = ((-1, 0), (0, 1), (1, 0), (0, -1))
_ORDERS = np.array(list(itertools.permutations(range(4))))


@dataclass(frozen=True)
class Lattice:
    flat: np.ndarray  # (N,) flat index in the grid of each lattice node
    neighbours: np.ndarray  # (N, 4) node index of the lattice neighbour per step, N where none
    shape: tuple[int, int]

    @property
    def size(self) -> int:
        return len(self.flat)


def lattice(allowed: np.ndarray) -> Lattice:
    h, w = allowed.shape
    flat = np.flatnonzero(allowed)
    n = len(flat)
    # node index per cell of a copy padded by two on every side: a step off the grid finds n
    wp = w + 4
    node_of = np.full((h + 4) * wp, n, dtype=np.int64)
    at = flat + (flat // w) * 4 + 2 * wp + 2  # each node's index in the padded copy
    node_of[at] = np.arange(n)
    steps = np.array([2 * (dy * wp + dx) for dy, dx in _STEPS])
    return Lattice(flat, node_of[at[:, None] + steps], (h, w))


def wall_between(lat: Lattice, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Flat index of the wall cell between lattice nodes a and b (two steps apart)."""
    wall: np.ndarray = (lat.flat[a] + lat.flat[b]) // 2
    return wall


@dataclass(frozen=True)
class Forest:
    parent: np.ndarray  # (N,) parent node, -1 at a root
    tree: np.ndarray  # (N,) index of the tree (0, 1, ...) in the order the walks started
    tin: np.ndarray  # (N,) preorder position: the subtree of v is tin[v] <= tin[u] < tout[v]
    tout: np.ndarray
    preorder: np.ndarray  # (N,) node at each preorder position


def _walk(table: list[tuple[int, ...]], n: int, starts: list[int]) -> tuple[list[int], list[int], list[int]]:
    """The depth-first walks proper: (parent, exit time, preorder) as plain lists."""
    seen = [0] * (n + 1)  # a list, not a bytearray: CPython's fast path for list indexing
    seen[n] = 1  # the "no neighbour" sentinel counts as visited
    parent = [-1] * n
    tout = [0] * n
    pre: list[int] = []
    add = pre.append
    for s in starts:
        if seen[s]:
            continue
        seen[s] = 1
        add(s)
        stack = [(s, iter(table[s]))]  # (node, its neighbours not yet tried)
        push, pop = stack.append, stack.pop
        while stack:
            u, untried = stack[-1]
            for v in untried:
                if not seen[v]:
                    seen[v] = 1
                    parent[v] = u
                    add(v)
                    push((v, iter(table[v])))
                    break
            else:
                pop()
                tout[u] = len(pre)
        if len(pre) == n:  # every node reached: the remaining starts are all seen
            break
    return parent, tout, pre


def backtracker_forest(rng: np.random.Generator, lat: Lattice, starts: np.ndarray) -> Forest:
    """Depth-first walks from each of ``starts`` (node indices) not yet reached, in that order."""
    n = lat.size
    # a uniformly shuffled neighbour order per node (one of the 24 orders of the four steps):
    # taking the first unvisited one in that order is a uniform choice among the unvisited
    # neighbours, as the recursive backtracker makes. Rows as tuples zipped from four column
    # lists: building them costs half of what nested ``tolist`` does.
    order = _ORDERS[rng.integers(0, len(_ORDERS), n)]
    columns = lat.neighbours.ravel()[(order + 4 * np.arange(n)[:, None]).T].tolist()
    # table and walk make a few tuples and an iterator per node and no reference cycle: pausing
    # the cyclic collector spares its scans of the caller's whole heap meanwhile
    collecting = gc.isenabled()
    gc.disable()
    try:
        parent, tout, pre = _walk(list(zip(*columns, strict=True)), n, starts.tolist())
    finally:
        if collecting:
            gc.enable()
    parents = np.array(parent, dtype=np.int64)
    preorder = np.array(pre, dtype=np.int64)
    tin = np.empty(n, dtype=np.int64)
    tin[preorder] = np.arange(len(preorder))
    tree = np.empty(n, dtype=np.int64)
    tree[preorder] = np.cumsum(parents[preorder] < 0) - 1  # a new tree starts at every root
    return Forest(parents, tree, tin, np.array(tout, dtype=np.int64), preorder)


def merge(parent: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Union-find on arrays: ``parent`` (every entry a root) with the pairs (a, b) joined.

    Each round hooks every root onto the smallest root it is paired with, then pointer jumping
    flattens the trees; rounds repeat until no pair is left split, so they grow with the log of
    the component size.
    """
    parent = parent.copy()
    while True:
        ra, rb = parent[a], parent[b]
        split = ra != rb
        if not split.any():
            return parent
        a, b, ra, rb = a[split], b[split], ra[split], rb[split]
        np.minimum.at(parent, np.maximum(ra, rb), np.minimum(ra, rb))
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped


def random_spanning_tree(rng: np.random.Generator, lat: Lattice) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) node pairs of the minimum spanning forest under random distinct edge weights."""
    n = lat.size
    # each undirected edge once: east (k=1) and south (k=2) neighbours
    a = np.concatenate([np.flatnonzero(lat.neighbours[:, 1] < n), np.flatnonzero(lat.neighbours[:, 2] < n)])
    b = np.concatenate(
        [lat.neighbours[lat.neighbours[:, 1] < n, 1], lat.neighbours[lat.neighbours[:, 2] < n, 2]]
    )
    weight = rng.permutation(len(a))  # distinct weights: the minimum spanning tree is unique
    chosen = np.zeros(len(a), dtype=bool)
    comp = np.arange(n)
    live = np.arange(len(a))
    while live.size:
        ca, cb = comp[a[live]], comp[b[live]]
        outgoing = ca != cb
        live, ca, cb = live[outgoing], ca[outgoing], cb[outgoing]
        if not live.size:
            break
        best = np.full(n, len(a), dtype=np.int64)
        w = weight[live]
        np.minimum.at(best, ca, w)
        np.minimum.at(best, cb, w)
        pick = (best[ca] == w) | (best[cb] == w)
        chosen[live[pick]] = True
        comp = merge(comp, ca[pick], cb[pick])
    return a[chosen], b[chosen]
