"""Find the cell grid in a picture: its period (cell size) and phase (offset), robust to blur and noise.

Phase comes from the atlas itself: every row of every tile is one of a small set of 16-bit
patterns (and likewise every column). Cut a binarized picture into 16-px segments at phase d;
only at the true phase are (nearly) all non-empty segments patterns the atlas can draw. The two
axes are independent, so 16 + 16 candidates replace a 256-way search.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .atlas import Atlas, get_atlas


@lru_cache(maxsize=4)
def _valid_patterns(cell: int) -> tuple[np.ndarray, np.ndarray]:
    """Lookup tables over all 16-bit row (and column) patterns: can some tile draw it?"""
    atlas = get_atlas(cell)
    if cell != 16:
        raise ValueError("phase detection by pattern tables needs 16 px cells")
    weights = (1 << np.arange(15, -1, -1)).astype(np.int64)
    rows = (atlas.tiles.astype(np.int64) * weights).sum(axis=2).ravel()
    cols = (atlas.tiles.transpose(0, 2, 1).astype(np.int64) * weights).sum(axis=2).ravel()
    valid_rows = np.zeros(1 << 16, dtype=bool)
    valid_cols = np.zeros(1 << 16, dtype=bool)
    valid_rows[rows] = True
    valid_cols[cols] = True
    return valid_rows, valid_cols


def _segments(pad: np.ndarray, shift: int, count: int) -> np.ndarray:
    """16-bit windows starting at bit ``shift + 16 k`` of each packed row (big-endian bits).

    ``pad`` is the packed image as uint32 with 3 spare byte columns, built once per axis.
    """
    byte0 = shift // 8
    bit = shift % 8
    idx = byte0 + 2 * np.arange(count)
    window = (pad[:, idx] << 16) | (pad[:, idx + 1] << 8) | pad[:, idx + 2]
    return (window >> (8 - bit)) & 0xFFFF


def _phase_scores(binary: np.ndarray, valid: np.ndarray, cell: int) -> np.ndarray:
    packed = np.packbits(binary, axis=1)
    h, w = binary.shape
    pad = np.zeros((h, packed.shape[1] + 3), dtype=np.uint32)
    pad[:, : packed.shape[1]] = packed
    scores = np.zeros(cell)
    for d in range(cell):
        count = (w - d) // cell
        if count <= 0:
            continue
        seg = _segments(pad, d, count)
        informative = seg != 0
        n = np.count_nonzero(informative)
        scores[d] = np.count_nonzero(valid[seg] & informative) / n if n else 1.0
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


def measure_period(binary: np.ndarray, lo: int = 10, hi: int = 72) -> float:
    """Cell size from the autocorrelation of edge projections, preferring the fundamental.

    A grid of period p also repeats at 2p, 3p...; mazes even repeat more strongly at 2p. So take
    the most prominent autocorrelation peak, then step down to p/2 (p/3) while a peak stands there.
    """
    acs = []
    edges_x = np.count_nonzero(binary[:, 1:] != binary[:, :-1], axis=0)
    edges_y = np.count_nonzero(binary[1:, :] != binary[:-1, :], axis=1)
    for e in (edges_x, edges_y):
        e = e - e.mean()
        n = len(e)
        if n <= 2 * hi or not e.any():
            continue
        spec = np.fft.rfft(e, 2 * n)
        ac = np.fft.irfft(spec * np.conj(spec))[: hi + 3] / (n - np.arange(hi + 3))
        acs.append(ac / ac[0])
    if not acs:
        return float("nan")
    ac = np.mean(acs, axis=0)

    def prominence(k: int) -> float:
        if not (ac[k] >= ac[k - 1] and ac[k] >= ac[k + 1]):
            return 0.0
        return float(ac[k] - 0.5 * (ac[k - 2] + ac[k + 2]))

    prom = {k: prominence(k) for k in range(lo, hi + 1)}
    k = max(prom, key=lambda j: prom[j])
    if prom[k] <= 0:
        return float("nan")
    for m in (2, 3):
        sub = int(round(k / m))
        near = [j for j in range(sub - 1, sub + 2) if lo <= j <= hi and prom.get(j, 0) > 0.1 * prom[k]]
        if near:
            k = max(near, key=lambda j: prom[j])
            break
    denom = ac[k - 1] - 2 * ac[k] + ac[k + 1]
    frac = 0.5 * (ac[k - 1] - ac[k + 1]) / denom if denom < 0 else 0.0
    return float(k + np.clip(frac, -0.5, 0.5))


def fit_grid(binary: np.ndarray, atlas: Atlas) -> tuple[list[int], list[int], float, tuple[np.ndarray, np.ndarray]]:
    """(x phase candidates, y phase candidates, measured period, per-phase scores)."""
    valid_rows, valid_cols = _valid_patterns(atlas.cell)
    # every 3rd line is enough: 3 is coprime with the cell, so every row of every tile is sampled
    sx = _phase_scores(binary[::3], valid_rows, atlas.cell)
    sy = _phase_scores(np.ascontiguousarray(binary[:, ::3].T), valid_cols, atlas.cell)
    return _candidates(sx), _candidates(sy), measure_period(binary), (sx, sy)
