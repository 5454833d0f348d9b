"""Cave: cellular automaton rock, every chamber kept tunnelled into one connected system."""

from __future__ import annotations

import numpy as np

from ...grid import ops as gridops
from ...config.models import CaveParams, DatasetConfig
from ...grid.layout import Layout, finish_map


def smooth(rng: np.random.Generator, rows: int, cols: int, params: CaveParams) -> np.ndarray:
    """Open mask after the 4-5 rule; the outer ring is always rock so walls can close the cave."""
    rock = rng.random((rows, cols)) < rng.uniform(*params.fill)
    for _ in range(params.iterations):
        count = gridops.neighbour_count(rock, fill=True)
        rock = (count >= 5) | (rock & (count >= 4))
        rock[[0, -1], :] = True
        rock[:, [0, -1]] = True
    return ~rock


def join_chambers(
    rng: np.random.Generator, open_mask: np.ndarray, min_chamber: int
) -> tuple[np.ndarray, int]:
    """Fill specks, then tunnel each remaining chamber to the nearest cell of the growing system."""
    labels, count = gridops.label(open_mask)
    if count == 0:
        return open_mask, 0
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    sizes[0] = 0
    keep = np.flatnonzero(sizes >= min_chamber)
    if keep.size == 0:
        keep = np.array([int(np.argmax(sizes))])
    keep = keep[np.argsort(-sizes[keep], kind="stable")]
    system = labels == keep[0]
    for lab in keep[1:]:
        chamber = labels == lab
        if (chamber & system).any():
            continue
        cy, cx = np.nonzero(chamber)
        k = int(rng.integers(len(cy)))
        y, x = int(cy[k]), int(cx[k])
        sy, sx = np.nonzero(system)
        j = int(np.argmin(np.abs(sy - y) + np.abs(sx - x)))
        tunnel = np.zeros_like(system)
        gridops.carve_l(tunnel, (y, x), (int(sy[j]), int(sx[j])), horizontal_first=bool(rng.integers(2)))
        system |= chamber | tunnel
        # a tunnel may cut through other chambers: they join the system on the way
        touched = np.unique(labels[tunnel & (labels > 0)])
        for t in touched:
            system |= labels == t
    return system, int(len(keep))


def grow_cave(rng: np.random.Generator, rows: int, cols: int, params: CaveParams) -> np.ndarray:
    open_mask, _ = join_chambers(rng, smooth(rng, rows, cols, params), params.min_chamber)
    return open_mask


def generate(rng: np.random.Generator, cfg: DatasetConfig) -> Layout:
    n = cfg.cells
    outline = bool(rng.random() < cfg.outline_chance)
    for _ in range(8):
        open_mask, chambers = join_chambers(rng, smooth(rng, n, n, cfg.cave), cfg.cave.min_chamber)
        if open_mask.mean() > 0.08:  # a near-solid draw says nothing about caves; redraw
            break
    grid = gridops.build_map(open_mask)
    return finish_map("cave", grid, outline, {"chambers": chambers})
