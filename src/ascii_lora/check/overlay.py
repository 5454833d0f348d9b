"""Pictures people look at: the sample under its 16 px grid beside the snapped, perfect version."""

from __future__ import annotations

import numpy as np

from ..grid.atlas import Atlas
from .score import Reading

GRID = np.array([40, 110, 255], dtype=np.float32)  # the target grid, at phase 0
MISS = np.array([255, 40, 40], dtype=np.float32)  # cells that match no tile


def snapped(reading: Reading, atlas: Atlas, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Repair: every read cell becomes its nearest tile, moved onto the phase-0 grid.

    Returns (uint8 image of ``shape`` rounded down to whole cells, grid of ASCII codes).
    """
    c = atlas.cell
    rows, cols = shape[0] // c, shape[1] // c
    codes = np.full((rows, cols), ord(" "), dtype=np.uint8)
    if reading.tiles.size:
        r, k = min(rows, reading.tiles.shape[0]), min(cols, reading.tiles.shape[1])
        codes[:r, :k] = atlas.codes[reading.tiles[:r, :k]]
    return atlas.render_gray(codes), codes


def overlay(gray: np.ndarray, reading: Reading | None, atlas: Atlas) -> np.ndarray:
    """RGB: left the sample with the target grid and unmatched cells tinted, right the snapped picture."""
    c = atlas.cell
    h, w = gray.shape
    left = np.repeat(np.clip(gray, 0, 255)[..., None], 3, axis=2).astype(np.float32)
    if reading is not None and reading.agree.size:
        dx, dy = reading.offset
        rows, cols = reading.agree.shape
        miss = np.repeat(np.repeat(~reading.agree, c, axis=0), c, axis=1)
        region = left[dy : dy + rows * c, dx : dx + cols * c]
        region[miss] = 0.55 * region[miss] + 0.45 * MISS
    left[:, ::c] = GRID
    left[::c, :] = GRID
    right = np.zeros((h, w, 3), dtype=np.float32)
    if reading is not None:
        image, _ = snapped(reading, atlas, (h, w))
        right[: image.shape[0], : image.shape[1]] = image[..., None]
    gap = np.full((h, 8, 3), 60, dtype=np.float32)
    return np.concatenate([left, gap, right], axis=1).astype(np.uint8)
