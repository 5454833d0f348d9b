"""Read cells back as characters: exact for the kit's own tiles, tolerant for anyone else's glyphs.

A sample never reproduces our VGA tiles pixel for pixel; a stroke is a pixel thicker, a glyph
sits a pixel lower. The tolerant distance forgives exactly that: a pixel counts as missing only
when no pixel of the other shape lies within one pixel of it, and the tile may move one pixel
either way. A cell whose best character is not clearly better than the runner-up is unknown
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


@lru_cache(maxsize=4)
def _tile_bank(atlas: Atlas) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every non-blank tile at the nine one-pixel shifts: (flat, flat dilated, ink, tile index)."""
    keep = [i for i in range(len(atlas.chars)) if atlas.tiles[i].any()]
    base = atlas.tiles[keep]
    shifted = np.concatenate([_shift(base, dy, dx) for dy, dx in SHIFTS])
    index = np.tile(np.array(keep), len(SHIFTS))
    n = len(shifted)
    flat = shifted.reshape(n, -1).astype(np.float32)
    dil = _dilate(shifted).reshape(n, -1).astype(np.float32)
    return flat, dil, flat.sum(axis=1), index


def tolerant_nearest(atlas: Atlas, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, c, c) bool cells -> (tile index, normalized distance 0..1, runner-up distance).

    distance = (ink of the cell farther than 1 px from the tile + ink of the tile farther than
    1 px from the cell) / (both inks), at the best of nine one-pixel shifts of the tile.
    """
    n = len(blocks)
    if not n:
        z = np.zeros(0)
        return z.astype(np.intp), z, z
    keys = pattern_keys(blocks)
    uniq, first, inv = np.unique(keys, return_index=True, return_inverse=True)
    cells = blocks[first]
    flat, dil, ink_t, index = _tile_bank(atlas)
    x = cells.reshape(len(cells), -1).astype(np.float32)
    xd = _dilate(cells).reshape(len(cells), -1).astype(np.float32)
    ink_x = x.sum(axis=1)
    miss_x = ink_x[:, None] - x @ dil.T  # cell ink no tile pixel is near
    miss_t = ink_t[None, :] - xd @ flat.T  # tile ink no cell pixel is near
    dist = (miss_x + miss_t) / np.maximum(ink_x[:, None] + ink_t[None, :], 1.0)
    per_tile = dist.reshape(len(cells), len(SHIFTS), -1).min(axis=1)  # best shift of each tile
    order = np.argsort(per_tile, axis=1)[:, :2]
    rows = np.arange(len(cells))
    best = index[order[:, 0]]
    d1 = per_tile[rows, order[:, 0]]
    d2 = per_tile[rows, order[:, 1]]
    inv = inv.ravel()
    return best[inv], d1[inv].astype(np.float64), d2[inv].astype(np.float64)


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


def read(crop: np.ndarray, drawn: np.ndarray, atlas: Atlas, offset: tuple[int, int], max_distance: float, min_margin: float) -> Reading:
    """Exact tiles first (cheap, decisive), then the tolerant distance for the drawn rest.

    ``crop`` is the binary picture cut to the whole cells of the grid at ``offset``.
    """
    c = atlas.cell
    codes, exact = atlas.read_exact(crop)
    rows, cols = codes.shape
    cb = crop.reshape(rows, c, cols, c).transpose(0, 2, 1, 3)
    codes = np.where(exact, codes, ord(" ")).astype(np.uint8)
    confident = exact | ~drawn
    distance = np.zeros((rows, cols))
    todo = drawn & ~exact
    if todo.any():
        best, d1, d2 = tolerant_nearest(atlas, np.ascontiguousarray(cb[todo]))
        sure = (d1 <= max_distance) & (d2 - d1 >= min_margin)
        codes[todo] = np.where(sure, atlas.codes[best], UNKNOWN)
        confident[todo] = sure
        distance[todo] = d1
    return Reading(offset, codes, exact, confident, drawn, distance, cb)
