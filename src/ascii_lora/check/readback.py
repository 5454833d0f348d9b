"""Read cells back as characters: exact for the kit's own tiles, tolerant for anyone else's glyphs.

A sample never reproduces our VGA tiles pixel for pixel; a stroke is a pixel thicker, a glyph
sits a pixel lower, another font draws smaller letters. The tolerant distance forgives exactly
that: both shapes are scaled to fill the cell, a pixel counts as missing only when no pixel of
the other shape lies within one pixel of it, and the tile may move one pixel either way. A cell whose best character is not clearly better than the runner-up is unknown
(`?`), never a guess dressed up as a reading.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..grid.atlas import Atlas
from .geometry import pattern_keys

UNKNOWN = ord("?")
SHIFTS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]


def _dilate(blocks: np.ndarray) -> np.ndarray:
    """3x3 dilation of (n, c, c) bool blocks, each inside its own cell."""
    o = blocks.copy()
    o[:, 1:] |= blocks[:, :-1]
    o[:, :-1] |= blocks[:, 1:]
    h = o.copy()
    o[:, :, 1:] |= h[:, :, :-1]
    o[:, :, :-1] |= h[:, :, 1:]
    return o


def _shift(blocks: np.ndarray, dy: int, dx: int) -> np.ndarray:
    out = np.zeros_like(blocks)
    c = blocks.shape[1]
    ys, yd = (slice(0, c - dy), slice(dy, c)) if dy >= 0 else (slice(-dy, c), slice(0, c + dy))
    xs, xd = (slice(0, c - dx), slice(dx, c)) if dx >= 0 else (slice(-dx, c), slice(0, c + dx))
    out[:, yd, xd] = blocks[:, ys, xs]
    return out


def normalize(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale each shape's ink to fill the cell (aspect kept, centred): fonts differ in size.

    Returns (normalized (n, c, c) bool, features (n, 3): log aspect h/w, ink centre row / c,
    log ink height / c); the features keep what scaling forgets ('-' vs '_', '.' vs 'o').
    """
    n, c = blocks.shape[0], blocks.shape[1]
    rows_any, cols_any = blocks.any(axis=2), blocks.any(axis=1)
    top = np.argmax(rows_any, axis=1)
    bottom = c - np.argmax(rows_any[:, ::-1], axis=1)
    left = np.argmax(cols_any, axis=1)
    right = c - np.argmax(cols_any[:, ::-1], axis=1)
    h, w = np.maximum(bottom - top, 1), np.maximum(right - left, 1)
    scale = (c - 2) / np.maximum(h, w)  # a 1 px border keeps room for the one-pixel shifts
    t = np.arange(c) + 0.5 - c / 2.0
    ys = np.floor((top + bottom) / 2.0)[:, None] + np.floor(t[None, :] / scale[:, None])
    xs = np.floor((left + right) / 2.0)[:, None] + np.floor(t[None, :] / scale[:, None])
    yi, xi = ys.astype(np.intp), xs.astype(np.intp)
    inside = ((ys >= top[:, None]) & (ys < bottom[:, None]))[:, :, None] & ((xs >= left[:, None]) & (xs < right[:, None]))[:, None, :]
    out = blocks[np.arange(n)[:, None, None], np.clip(yi, 0, c - 1)[:, :, None], np.clip(xi, 0, c - 1)[:, None, :]] & inside
    feats = np.stack([np.log(h / w), (top + bottom) / (2.0 * c), np.log(h / c)], axis=1)
    return out, feats


FEATURE_WEIGHTS = np.array([0.25, 1.0, 0.15])  # aspect, vertical position, height


@lru_cache(maxsize=8)
def _tile_bank(atlas: Atlas, normalized: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every non-blank tile (scaled to fill the cell or as drawn) at the nine one-pixel shifts:
    (flat, flat dilated, ink, tile index, features)."""
    keep = [i for i in range(len(atlas.chars)) if atlas.tiles[i].any()]
    base, feats = normalize(np.asarray(atlas.tiles[keep]))
    if not normalized:
        base = np.asarray(atlas.tiles[keep])
    shifted = np.concatenate([_shift(base, dy, dx) for dy, dx in SHIFTS])
    index = np.array(keep)
    n = len(shifted)
    flat = shifted.reshape(n, -1).astype(np.float32)
    dil = _dilate(shifted).reshape(n, -1).astype(np.float32)
    return flat, dil, flat.sum(axis=1), index, feats


def _box(blocks: np.ndarray) -> np.ndarray:
    """(n, 2) height and width of each shape's ink."""
    c = blocks.shape[1]
    rows_any, cols_any = blocks.any(axis=2), blocks.any(axis=1)
    h = c - np.argmax(rows_any[:, ::-1], axis=1) - np.argmax(rows_any, axis=1)
    w = c - np.argmax(cols_any[:, ::-1], axis=1) - np.argmax(cols_any, axis=1)
    return np.stack([h, w], axis=1)


@lru_cache(maxsize=4)
def _tile_boxes(atlas: Atlas) -> np.ndarray:
    keep = [i for i in range(len(atlas.chars)) if atlas.tiles[i].any()]
    return _box(np.asarray(atlas.tiles[keep]))


@lru_cache(maxsize=4)
def _median_tile_height(atlas: Atlas) -> float:
    letters = [i for i, ch in enumerate(atlas.chars) if ch.isalnum()]
    return float(np.median(normalize(np.asarray(atlas.tiles[letters]))[1][:, 2]))


def _distances(cells: np.ndarray, bank: tuple) -> np.ndarray:
    """(m, tiles): ink of each shape farther than 1 px from the other, over both inks, best shift."""
    flat, dil, ink_t, _, _ = bank
    x = cells.reshape(len(cells), -1).astype(np.float32)
    xd = _dilate(cells).reshape(len(cells), -1).astype(np.float32)
    ink_x = x.sum(axis=1)
    miss_x = ink_x[:, None] - x @ dil.T  # cell ink no tile pixel is near
    miss_t = ink_t[None, :] - xd @ flat.T  # tile ink no cell pixel is near
    dist = (miss_x + miss_t) / np.maximum(ink_x[:, None] + ink_t[None, :], 1.0)
    return dist.reshape(len(cells), len(SHIFTS), -1).min(axis=1)


def tolerant_nearest(atlas: Atlas, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(n, c, c) bool cells -> (tile index, distance, runner-up distance, agrees); 0 is the same shape.

    distance = (ink of the cell farther than 1 px from the tile + ink of the tile farther than
    1 px from the cell) / (both inks), at the best of nine one-pixel shifts of the tile. A second
    opinion scales both shapes to fill the cell (another font draws smaller letters) and adds how
    much aspect, relative height and position in the cell differ. ``agrees`` holds when the
    ink's box matches the tile's within 2 px or both opinions name the same character: a thin
    small letter can sit inside the dilated floor dot, and the raw opinion alone would read a
    foreign 'e' as '.' with confidence.
    """
    n = len(blocks)
    if not n:
        z = np.zeros(0)
        return z.astype(np.intp), z, z, z.astype(bool)
    keys = pattern_keys(blocks)
    _, first, inv = np.unique(keys, return_index=True, return_inverse=True)
    raw = _tile_bank(atlas, False)
    per_tile = _distances(blocks[first], raw)
    cells, feats = normalize(blocks[first])
    norm = _tile_bank(atlas, True)
    feats[:, 2] -= np.median(normalize(blocks)[1][:, 2]) - _median_tile_height(atlas)  # fonts differ in size
    second = _distances(cells, norm) + np.abs(feats[:, None, :] - norm[4][None, :, :]) @ FEATURE_WEIGHTS
    order = np.argsort(per_tile, axis=1)[:, :2]
    rows = np.arange(len(cells))
    index = raw[3]
    best = index[order[:, 0]]
    d1 = per_tile[rows, order[:, 0]]
    d2 = per_tile[rows, order[:, 1]]
    # the raw reading stands when the ink's box matches the tile's within 2 px (a stroke 1 px
    # thicker each side, a nudge); otherwise only when the scaled second opinion names it too
    box = _box(blocks[first])
    same_box = (np.abs(box - _tile_boxes(atlas)[order[:, 0]]) <= 2).all(axis=1)
    agrees = same_box | (index[np.argmin(second, axis=1)] == best)
    inv = inv.ravel()
    return best[inv], d1[inv].astype(np.float64), d2[inv].astype(np.float64), agrees[inv]


@dataclass
class Reading:
    """Cells read at one phase: the character per cell and how sure the reading is."""

    offset: tuple[int, int]
    codes: np.ndarray  # (rows, cols) uint8 ASCII, '?' where unknown
    exact: np.ndarray  # (rows, cols) bool: exactly one of the kit's tiles
    confident: np.ndarray  # (rows, cols) bool: exact, blank, or a clear tolerant match
    drawn: np.ndarray  # (rows, cols) bool
    distance: np.ndarray  # (rows, cols) tolerant distance of the reading (0 when exact)
    blocks: np.ndarray  # (rows, cols, c, c) the thresholded cells themselves

    @property
    def confidence(self) -> float | None:
        """Share of drawn cells read confidently (None when nothing is drawn)."""
        n = int(self.drawn.sum())
        return float((self.confident & self.drawn).sum() / n) if n else None


def read(crop: np.ndarray, drawn: np.ndarray, atlas: Atlas, offset: tuple[int, int], max_distance: float, min_margin: float,
         tolerant: bool = True, exact: tuple[np.ndarray, np.ndarray] | None = None) -> Reading:
    """Exact tiles first (cheap, decisive), then the tolerant distance for the drawn rest.

    ``crop`` is the binary picture cut to the whole cells of the grid at ``offset``. Without
    ``tolerant`` (no grid found: every cell is a fragment) the rest reads '?' at no cost.
    ``exact`` is ``atlas.read_exact(crop)`` when the caller has it already.
    """
    c = atlas.cell
    codes, exact = exact if exact is not None else atlas.read_exact(crop)
    rows, cols = codes.shape
    cb = crop.reshape(rows, c, cols, c).transpose(0, 2, 1, 3)
    codes = np.where(exact, codes, ord(" ")).astype(np.uint8)
    confident = exact | ~drawn
    distance = np.zeros((rows, cols))
    todo = drawn & ~exact
    if todo.any() and not tolerant:
        codes[todo] = UNKNOWN
        confident[todo] = False
    elif todo.any():
        best, d1, d2, agrees = tolerant_nearest(atlas, np.ascontiguousarray(cb[todo]))
        sure = (d1 <= max_distance) & (d2 - d1 >= min_margin) & agrees
        codes[todo] = np.where(sure, atlas.codes[best], UNKNOWN)
        confident[todo] = sure
        distance[todo] = d1
    return Reading(offset, codes, exact, confident, drawn, distance, cb)
