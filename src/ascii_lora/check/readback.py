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

from ..config.models import CheckConfig
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
    rows_any, cols_any = np.asarray(blocks.any(axis=2)), np.asarray(blocks.any(axis=1))
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
    inside = ((ys >= top[:, None]) & (ys < bottom[:, None]))[:, :, None] & (
        (xs >= left[:, None]) & (xs < right[:, None])
    )[:, None, :]
    out = (
        blocks[
            np.arange(n)[:, None, None], np.clip(yi, 0, c - 1)[:, :, None], np.clip(xi, 0, c - 1)[:, None, :]
        ]
        & inside
    )
    feats = np.stack([np.log(h / w), (top + bottom) / (2.0 * c), np.log(h / c)], axis=1)
    return out, feats


FEATURE_WEIGHTS = np.array([0.25, 1.0, 0.15])  # aspect, vertical position, height


@lru_cache(maxsize=8)
def _tile_bank(
    atlas: Atlas, normalized: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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
    rows_any, cols_any = np.asarray(blocks.any(axis=2)), np.asarray(blocks.any(axis=1))
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


def _distances(cells: np.ndarray, bank: tuple[np.ndarray, ...]) -> np.ndarray:
    """(m, tiles): ink of each shape farther than 1 px from the other, over both inks, best shift."""
    flat, dil, ink_t, _, _ = bank
    x = cells.reshape(len(cells), -1).astype(np.float32)
    xd = _dilate(cells).reshape(len(cells), -1).astype(np.float32)
    ink_x = x.sum(axis=1)
    miss_x = ink_x[:, None] - x @ dil.T  # cell ink no tile pixel is near
    miss_t = ink_t[None, :] - xd @ flat.T  # tile ink no cell pixel is near
    dist = (miss_x + miss_t) / np.maximum(ink_x[:, None] + ink_t[None, :], 1.0)
    return np.asarray(dist.reshape(len(cells), len(SHIFTS), -1).min(axis=1))


def tolerant_nearest(
    atlas: Atlas, blocks: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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


# -- the kit's own glyphs as a decoder returns them: each tile 1 px thicker, thinner or moved ----------

# Growing (or thinning) towards d and towards -d differ only by a one-pixel move, which the nine
# shifts already cover: four directions describe every one-sided change of stroke width.
MORPH_DIRECTIONS = ((0, 1), (1, 0), (1, 1), (-1, 1))
VARIANT_CHUNK = 512  # cells per matrix product: bounds the memory of the (cells x variants) table


def _morphs(tiles: np.ndarray) -> np.ndarray:
    """(n, c, c) -> (n, M, c, c): the tile, every stroke 1 px thicker or thinner on one side (four
    directions), and 1 px thicker or thinner all round (a 4-neighbour dilation or erosion)."""
    out = [tiles]
    for dy, dx in MORPH_DIRECTIONS:
        moved = _shift(tiles, dy, dx)
        out += [tiles | moved, tiles & moved]
    around = [_shift(tiles, dy, dx) for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0))]
    out += [np.logical_or.reduce([tiles] + around), np.logical_and.reduce([tiles] + around)]
    return np.stack(out, axis=1)


@lru_cache(maxsize=4)
def _variant_bank(atlas: Atlas) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Every non-blank tile under every morph at the nine one-pixel shifts, cut to the cell's inner
    (c-2) x (c-2) px: (flat float32 (tiles*variants, inner), ink per variant, tile index, variants per tile).

    The outer ring is left out on both sides of the comparison: a neighbour's stroke grown by a
    pixel lands there, and so does the edge a one-pixel move uncovers.
    """
    keep = [i for i in range(len(atlas.chars)) if atlas.tiles[i].any()]
    m = _morphs(np.asarray(atlas.tiles[keep]))  # (n, M, c, c)
    n, k, c = m.shape[0], m.shape[1], m.shape[2]
    flat = m.reshape(n * k, c, c)
    shifted = np.stack([_shift(flat, dy, dx) for dy, dx in SHIFTS], axis=1)  # (n*M, S, c, c)
    inner = shifted[:, :, 1:-1, 1:-1].reshape(n, k * len(SHIFTS), -1).astype(np.float32)
    bank = inner.reshape(n * k * len(SHIFTS), -1)
    return bank, bank.sum(axis=1), np.array(keep), k * len(SHIFTS)


def variant_distances(atlas: Atlas, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, c, c) bool cells -> (n, tiles) pixels that differ from each tile's closest variant
    (inner part of the cell), and the tile index of each column."""
    bank, ink, index, per_tile = _variant_bank(atlas)
    c = blocks.shape[1]
    x = blocks[:, 1:-1, 1:-1].reshape(len(blocks), (c - 2) ** 2).astype(np.float32)
    out = np.empty((len(blocks), len(index)), dtype=np.float32)
    for a in range(0, len(blocks), VARIANT_CHUNK):
        part = x[a : a + VARIANT_CHUNK]
        ham = part.sum(axis=1)[:, None] + ink[None, :] - 2.0 * (part @ bank.T)
        out[a : a + VARIANT_CHUNK] = ham.reshape(len(part), len(index), per_tile).min(axis=2)
    return out, index


def variant_nearest(atlas: Atlas, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tile index, differing pixels of the best tile, of the runner-up tile) per cell, each
    distinct pattern computed once."""
    if not len(blocks):
        z = np.zeros(0)
        return z.astype(np.intp), z, z
    keys = pattern_keys(blocks)
    _, first, inv = np.unique(keys, return_index=True, return_inverse=True)
    dist, index = variant_distances(atlas, blocks[first])
    order = np.argsort(dist, axis=1)[:, :2]
    rows = np.arange(len(first))
    inv = inv.ravel()
    h1, h2 = dist[rows, order[:, 0]], dist[rows, order[:, 1]]
    return index[order[:, 0]][inv], h1[inv].astype(np.float64), h2[inv].astype(np.float64)


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


def read(
    crop: np.ndarray,
    drawn: np.ndarray,
    atlas: Atlas,
    offset: tuple[int, int],
    cfg: CheckConfig,
    tolerant: bool = True,
    exact: tuple[np.ndarray, np.ndarray] | None = None,
) -> Reading:
    """Exact tiles first (cheap, decisive), then the kit's tiles 1 px off, then the tolerant
    distance for the drawn rest.

    ``crop`` is the binary picture cut to the whole cells of the grid at ``offset``. Without
    ``tolerant`` (no grid found: every cell is a fragment) the rest reads '?' at no cost.
    ``exact`` is ``atlas.read_exact(crop)`` when the caller has it already.
    """
    c = atlas.cell
    codes, hit = exact if exact is not None else atlas.read_exact(crop)
    rows, cols = codes.shape
    cb = crop.reshape(rows, c, cols, c).transpose(0, 2, 1, 3)
    codes = np.where(hit, codes, ord(" ")).astype(np.uint8)
    confident = hit | ~drawn
    distance = np.zeros((rows, cols))
    todo = drawn & ~hit
    if todo.any() and not tolerant:
        codes[todo] = UNKNOWN
        confident[todo] = False
    elif todo.any():
        blocks = np.ascontiguousarray(cb[todo])
        tile, sure = read_kit_variants(atlas, blocks, cfg)
        best, d1, d2, agrees = tolerant_nearest(atlas, blocks)
        loose = (d1 <= cfg.read_max_distance) & (d2 - d1 >= cfg.read_min_margin) & agrees
        codes[todo] = np.where(sure, atlas.codes[tile], np.where(loose, atlas.codes[best], UNKNOWN))
        confident[todo] = sure | loose
        distance[todo] = np.where(sure, 0.0, d1)
    return Reading(offset, codes, hit, confident, drawn, distance, cb)


VARIANT_PROBE = 64  # drawn cells tried first: enough to tell the kit's glyphs from another font
VARIANT_MIN_PROBE_SHARE = 0.2  # ...and the share of them that must read as the kit's tiles 1 px off


def read_kit_variants(atlas: Atlas, blocks: np.ndarray, cfg: CheckConfig) -> tuple[np.ndarray, np.ndarray]:
    """``read_variants`` for the cells of a picture drawn in the kit's glyphs. Comparing every cell
    with every variant of every tile is the costly part of a read; a probe of 64 cells spread over
    the picture tells whether it is worth it: another font reads as almost no variant (at most
    1 % of the cells), a picture a fifth of whose cells are the kit's glyphs is read in full."""
    n = len(blocks)
    if n <= VARIANT_PROBE:
        return read_variants(atlas, blocks, cfg)
    probe = np.linspace(0, n - 1, VARIANT_PROBE).astype(np.intp)
    if read_variants(atlas, blocks[probe], cfg)[1].mean() < VARIANT_MIN_PROBE_SHARE:
        return np.zeros(n, np.intp), np.zeros(n, bool)
    return read_variants(atlas, blocks, cfg)


def read_variants(atlas: Atlas, blocks: np.ndarray, cfg: CheckConfig) -> tuple[np.ndarray, np.ndarray]:
    """(tile index, sure) per cell: the kit's tile 1 px off when the cell is one clearly.

    Sure when the cell differs from the tile's nearest variant in at most ``variant_max_share``
    of its (inner) ink, and the runner-up tile's nearest variant differs in at least twice as
    many pixels plus ``variant_min_gap``: a glyph of another font is rarely within a few pixels
    of any variant (the floor dot grown by a pixel is the usual near miss, and it is as far
    from the small letter as the letter is from ink of its own size).
    """
    tile, h1, h2 = variant_nearest(atlas, blocks)
    c = blocks.shape[1]
    ink = blocks[:, 1:-1, 1:-1].reshape(len(blocks), (c - 2) ** 2).sum(axis=1)
    sure = (h1 <= cfg.variant_max_share * ink) & (h2 >= 2 * h1 + cfg.variant_min_gap) & (ink > 0)
    return tile, sure
