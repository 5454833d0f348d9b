"""Pictures people look at: the sample under its 16 px grid beside the snapped version."""

from __future__ import annotations

import numpy as np

from ..grid.atlas import Atlas
from .readback import UNKNOWN, Reading

GRID = np.array([40, 110, 255], dtype=np.float32)  # the target grid, at phase 0
MISS = np.array([255, 40, 40], dtype=np.float32)  # drawn cells read as no character
SOURCE = np.array([255, 190, 40], dtype=np.float32)  # snapped cells kept as drawn (unreadable)


def snapped(
    reading: Reading, atlas: Atlas, shape: tuple[int, int], move: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Repair: confidently read cells become their tile, the rest keep their thresholded pixels.

    ``move`` places the cells read at the detected offset onto the phase-0 grid; without it
    (content already on the grid, or no grid found) nothing moves. A cell that cannot be read
    is never replaced by another glyph: it stays as drawn and reads ``?`` in the .ascii.
    Returns (uint8 image of ``shape`` rounded down to whole cells, grid of ASCII codes).
    """
    c = atlas.cell
    rows, cols = shape[0] // c, shape[1] // c
    codes = np.full((rows, cols), ord(" "), dtype=np.uint8)
    r, k = min(rows, reading.codes.shape[0]), min(cols, reading.codes.shape[1])
    if not move and reading.offset != (0, 0):
        raise ValueError("cells read at an offset must be moved onto the grid")
    codes[:r, :k] = reading.codes[:r, :k]
    known = codes != UNKNOWN
    tiles = atlas.render_gray(np.where(known, codes, ord(" ")).astype(np.uint8))
    out = tiles.reshape(rows, c, cols, c).transpose(0, 2, 1, 3)
    unknown = ~known
    if unknown.any():
        out[unknown] = np.where(reading.blocks[:r, :k][unknown[:r, :k]], 255, 0).astype(np.uint8)
    return tiles, codes


def overlay(gray: np.ndarray, reading: Reading | None, atlas: Atlas, move: bool = False) -> np.ndarray:
    """RGB: left the sample with the target grid and unreadable cells tinted, right the snapped picture."""
    c = atlas.cell
    h, w = gray.shape
    left = np.repeat(np.clip(gray, 0, 255)[..., None], 3, axis=2).astype(np.float32)
    if reading is not None and reading.codes.size:
        dx, dy = reading.offset
        rows, cols = reading.codes.shape
        miss = np.repeat(np.repeat(reading.drawn & ~reading.confident, c, axis=0), c, axis=1)
        region = left[dy : dy + rows * c, dx : dx + cols * c]
        region[miss] = 0.55 * region[miss] + 0.45 * MISS
    left[:, ::c] = GRID
    left[::c, :] = GRID
    right = np.zeros((h, w, 3), dtype=np.float32)
    if reading is not None and (move or reading.offset == (0, 0)):
        image, codes = snapped(reading, atlas, (h, w), move)
        right[: image.shape[0], : image.shape[1]] = image[..., None]
        kept = np.repeat(np.repeat(codes == UNKNOWN, c, axis=0), c, axis=1)
        sub = right[: image.shape[0], : image.shape[1]]
        sub[kept & (image > 0)] = SOURCE
    gap = np.full((h, 8, 3), 60, dtype=np.float32)
    return np.concatenate([left, gap, right], axis=1).astype(np.uint8)
