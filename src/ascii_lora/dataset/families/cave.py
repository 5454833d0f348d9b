"""Cave: cellular automaton rock, every chamber kept tunnelled into one connected system."""

from __future__ import annotations

import numpy as np

from ...config.models import CaveParams, DatasetConfig
from ...grid import ops as gridops
from ...grid.layout import Layout, finish_map


def settle(rock: np.ndarray, free: np.ndarray, iterations: int) -> np.ndarray:
    """Run the 4-5 rule on ``rock``; cells outside ``free`` (and outside the grid) stay rock.

    The rule "rock if at least 4 of the 8 neighbours are rock when rock, 5 when open" is exactly
    "rock if at least 5 of the 3x3 block are rock", a box sum: two shifted adds per axis.
    Separate pockets in one grid settle exactly as they would alone when rock surrounds each.
    """
    h, w = rock.shape
    pad = np.ones((h + 2, w + 2), dtype=np.uint8)
    fixed = ~free
    for _ in range(iterations):
        pad[1:-1, 1:-1] = rock
        rows = pad[:-2] + pad[1:-1] + pad[2:]
        rock = (rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:] >= 5) | fixed
    return rock


def smooth(rng: np.random.Generator, rows: int, cols: int, params: CaveParams) -> np.ndarray:
    """Open mask after the 4-5 rule; the outer ring is always rock so walls can close the cave."""
    rock = rng.random((rows, cols)) < rng.uniform(*params.fill)
    free = np.zeros((rows, cols), dtype=bool)
    free[1:-1, 1:-1] = True
    return ~settle(rock, free, params.iterations)


def join_chambers(
    rng: np.random.Generator, open_mask: np.ndarray, min_chamber: int, labels: np.ndarray | None = None
) -> tuple[np.ndarray, int]:
    """Fill specks, then tunnel each remaining chamber to the nearest cell of the growing system.

    ``labels`` (any positive numbering of the 4-connected chambers of ``open_mask``) saves
    labelling again when the caller already has them. Chambers are visited largest first; the
    work per chamber is a handful of flat-index operations, never a full-grid mask.
    """
    if labels is None:
        labels = gridops.label(open_mask)[0]
    h, w = open_mask.shape
    flat = labels.ravel()
    counts = np.bincount(flat)
    sizes = counts.copy()
    sizes[0] = 0  # background is no chamber
    present = np.flatnonzero(sizes)
    if present.size == 0:
        return open_mask, 0
    keep = present[sizes[present] >= min_chamber]
    if keep.size == 0:
        keep = present[[int(np.argmax(sizes[present]))]]
    keep = keep[np.argsort(-sizes[keep], kind="stable")]
    by_label = np.argsort(flat, kind="stable")  # cells grouped by label, scan order inside a group
    ends = np.cumsum(counts)

    def cells_of(lab: int) -> np.ndarray:
        return by_label[ends[lab] - counts[lab] : ends[lab]]

    system = np.zeros(h * w, dtype=bool)
    joined = np.zeros(len(sizes), dtype=bool)
    # the system's cells as a list of flat-index pieces (repeats are harmless); the nearest cell is
    # the smallest (distance, flat index), so the order of the pieces never matters
    pieces = [cells_of(keep[0])]
    system[pieces[0]] = True
    joined[keep[0]] = True
    for lab in keep[1:].tolist():
        if joined[lab]:
            continue
        cells = cells_of(lab)
        start = int(cells[int(rng.integers(len(cells)))])
        y, x = divmod(start, w)
        known = np.concatenate(pieces) if len(pieces) > 1 else pieces[0]
        pieces = [known]
        sy, sx = np.divmod(known, w)
        nearest = int(known[np.argmin((np.abs(sy - y) + np.abs(sx - x)) * (h * w) + known)])
        tunnel = _l_path((y, x), divmod(nearest, w), w, horizontal_first=bool(rng.integers(2)))
        joined[lab] = True
        pieces += [cells, tunnel]
        # a tunnel may cut through other chambers (specks too): they join the system on the way
        for t in set(flat[tunnel].tolist()):
            if t and not joined[t]:
                pieces.append(cells_of(t))
                joined[t] = True
    system[np.concatenate(pieces)] = True
    return system.reshape(h, w), int(len(keep))


def _l_path(a: tuple[int, int], b: tuple[int, int], w: int, horizontal_first: bool) -> np.ndarray:
    """Flat cells of the L-shaped path ``gridops.carve_l`` opens from a to b."""
    (y0, x0), (y1, x1) = a, b
    corner_y, run_x = (y0, x1) if horizontal_first else (y1, x0)
    xs = np.arange(min(x0, x1), max(x0, x1) + 1)
    ys = np.arange(min(y0, y1), max(y0, y1) + 1)
    return np.concatenate([corner_y * w + xs, ys * w + run_x])


def generate(rng: np.random.Generator, cfg: DatasetConfig) -> Layout:
    n = cfg.cells
    outline = bool(rng.random() < cfg.outline_chance)
    for _ in range(8):
        open_mask, chambers = join_chambers(rng, smooth(rng, n, n, cfg.cave), cfg.cave.min_chamber)
        if open_mask.mean() > 0.08:  # a near-solid draw says nothing about caves; redraw
            break
    grid = gridops.build_map(open_mask)
    return finish_map("cave", grid, outline, {"chambers": chambers})
