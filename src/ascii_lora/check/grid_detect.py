"""The fast path for pictures drawn with the kit's own tiles: their exact phase, robust to blur and noise.

Foreign glyphs are judged by geometry.py; this only answers "where would our tiles sit?".

Phase comes from the atlas itself: every row of every tile is one of a small set of cell-wide bit
patterns (and likewise every column). Cut a binarized picture into cell-wide segments at phase d;
only at the true phase are (nearly) all non-empty segments patterns the atlas can draw. The two
axes are independent, so 16 + 16 candidates replace a 256-way search (at 16 px cells).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..grid.atlas import Atlas, get_atlas


@lru_cache(maxsize=4)
def _valid_patterns(cell: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted bit patterns of every tile row and every tile column: what the atlas can draw."""
    tiles = get_atlas(cell).tiles.astype(np.uint64)
    weights = np.uint64(1) << np.arange(cell - 1, -1, -1, dtype=np.uint64)
    rows = np.unique((tiles * weights).sum(axis=2, dtype=np.uint64))
    cols = np.unique((tiles.transpose(0, 2, 1) * weights).sum(axis=2, dtype=np.uint64))
    return rows, cols


@lru_cache(maxsize=8)
def _validity(cell: int, axis: int) -> np.ndarray:
    """Valid patterns of rows (axis 0) or columns (axis 1): up to 16 px a bool table over every
    pattern (several times faster to index), wider cells the sorted pattern array."""
    if cell > 16:
        return _valid_patterns(cell)[axis]
    table = np.zeros(1 << cell, dtype=bool)
    table[_valid_patterns(cell)[axis].astype(np.int64)] = True
    return table


def _is_valid(seg: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Is each segment a pattern some tile draws? ``valid`` is a sorted pattern array or a bool table."""
    if valid.dtype == bool:
        return valid[seg.astype(np.intp)]
    pos = np.searchsorted(valid, seg)
    return np.asarray(valid[np.minimum(pos, len(valid) - 1)] == seg)


def _segments(pad: np.ndarray, shift: int, count: int, cell: int) -> np.ndarray:
    """``cell``-bit windows starting at bit ``shift + cell k`` of each packed row (big-endian bits).

    ``pad`` is the packed image as uint64 with spare byte columns, built once per axis.
    """
    nbytes = cell // 8 + 1
    idx = shift // 8 + (cell // 8) * np.arange(count)
    window = np.zeros((pad.shape[0], count), dtype=np.uint64)
    for k in range(nbytes):
        window = (window << np.uint64(8)) | pad[:, idx + k]
    return (window >> np.uint64(8 - shift % 8)) & np.uint64((1 << cell) - 1)


def _phase_scores(binary: np.ndarray, valid: np.ndarray, cell: int) -> np.ndarray:
    packed = np.packbits(binary, axis=1)
    h, w = binary.shape
    pad = np.zeros((h, packed.shape[1] + cell // 8 + 2), dtype=np.uint64)
    pad[:, : packed.shape[1]] = packed
    scores = np.zeros(cell)
    for d in range(cell):
        count = (w - d) // cell
        if count <= 0:
            continue
        seg = _segments(pad, d, count, cell)
        informative = seg != 0
        n = np.count_nonzero(informative)
        scores[d] = np.count_nonzero(_is_valid(seg, valid) & informative) / n if n else 1.0
    return scores


def _candidates(scores: np.ndarray, slack: float = 0.02, most: int = 4) -> list[int]:
    """Phases scoring within ``slack`` of the best, best first; phase 0 wins ties (a perfect image).

    On a degraded picture (blur breaks thin mortar lines, so no phase scores near 1) the ranking
    is only a hint: the ``most`` best phases all go on to the 2-D read.
    """
    best = scores.max()
    if best < 0.95:
        slack = 1.0
    near = [int(d) for d in np.argsort(-scores, kind="stable") if scores[d] >= best - slack][:most]
    if 0 in near and scores[0] >= best - 1e-9:
        near.remove(0)
        near.insert(0, 0)
    elif best < 0.95 and 0 not in near:
        near.append(0)  # where a good sample sits: always worth the 2-D read when the hint is weak
    return near


def fit_grid(binary: np.ndarray, atlas: Atlas) -> tuple[list[int], list[int], tuple[np.ndarray, np.ndarray]]:
    """(x phase candidates, y phase candidates, per-phase scores): the fast path for the kit's own tiles."""
    valid_rows, valid_cols = _validity(atlas.cell, 0), _validity(atlas.cell, 1)
    # every 3rd line is enough: 3 is coprime with the cell, so every row of every tile is sampled
    sx = _phase_scores(binary[::3], valid_rows, atlas.cell)
    sy = _phase_scores(np.ascontiguousarray(binary[:, ::3].T), valid_cols, atlas.cell)
    return _candidates(sx), _candidates(sy), (sx, sy)
