"""Cells used once that still explain themselves: what judges a sparse picture by what is drawn.

A real screen reuses a small vocabulary, and geometry.explain counts a reused cell pattern as
explained. A single framed panel on an empty screen uses each letter once and has four corners:
those explain themselves when they are strokes (not blobs) and either sit whole in their cell or
run on only into explained cells, crossing the borders where the picture's strokes usually do
(at the true grid, on the cell's centre line; at another pitch, anywhere).
"""

from __future__ import annotations

import numpy as np

STROKE_MAX_INTERIOR = 0.5  # glyph strokes are 1-4 px wide: at most half their pixels are inside a stroke


def crossings(binary: np.ndarray, cell: int, offset: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Where ink runs straight across a cell border at ``offset``: (across (rows, cols-1): between
    cell (r, k) and (r, k+1); down (rows-1, cols): between (r, k) and (r+1, k))."""
    dx, dy = offset
    r, k = (binary.shape[0] - dy) // cell, (binary.shape[1] - dx) // cell
    b = binary[dy : dy + r * cell, dx : dx + k * cell]
    across = (b[:, cell - 1 :: cell][:, : k - 1] & b[:, cell::cell][:, : k - 1]).reshape(r, cell, k - 1)
    across = across.any(axis=1)
    down = (b[cell - 1 :: cell][: r - 1] & b[cell::cell][: r - 1]).reshape(r - 1, k, cell).any(axis=2)
    return across, down


CROSSING_SPREAD = 2.0  # px: a corner's strokes cross its borders where the picture's strokes usually do


def crossing_positions(
    binary: np.ndarray, cell: int, offset: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Mean position (px along the border) where ink crosses each border, NaN where none does:
    (across (rows, cols-1), down (rows-1, cols)), laid out like ``crossings``."""
    dx, dy = offset
    r, k = (binary.shape[0] - dy) // cell, (binary.shape[1] - dx) // cell
    b = binary[dy : dy + r * cell, dx : dx + k * cell]
    pos = np.arange(cell, dtype=np.float64)
    a = (b[:, cell - 1 :: cell][:, : k - 1] & b[:, cell::cell][:, : k - 1]).reshape(r, cell, k - 1)
    d = (b[cell - 1 :: cell][: r - 1] & b[cell::cell][: r - 1]).reshape(r - 1, k, cell)
    with np.errstate(invalid="ignore", divide="ignore"):
        across = (a * pos[None, :, None]).sum(axis=1) / a.sum(axis=1)
        down = (d * pos[None, None, :]).sum(axis=2) / d.sum(axis=2)
    return across, down


def leads_into(
    explained: np.ndarray,
    across: np.ndarray,
    down: np.ndarray,
    positions: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Cells whose every border crossing continues into an explained cell (a frame's corner
    joining its explained edges), where the picture's strokes usually cross (within
    ``CROSSING_SPREAD`` px of the median crossing of that orientation): at the true grid a
    frame's strokes all cross the borders on the cell's centre line; line walls drawn at another
    pitch cross them anywhere."""
    bad = np.zeros_like(explained)
    off_a = np.zeros_like(across)
    off_d = np.zeros_like(down)
    if positions is not None:
        for pos, off in ((positions[0], off_a), (positions[1], off_d)):
            seen = pos[np.isfinite(pos)]
            if seen.size:
                off |= np.isfinite(pos) & (np.abs(pos - np.median(seen)) > CROSSING_SPREAD)
    a, d = across & (off_a | ~explained[:, 1:]), across & (off_a | ~explained[:, :-1])
    bad[:, :-1] |= a
    bad[:, 1:] |= d
    a, d = down & (off_d | ~explained[1:]), down & (off_d | ~explained[:-1])
    bad[:-1] |= a
    bad[1:] |= d
    return ~bad


def stroke_like(blocks: np.ndarray) -> np.ndarray:
    """Cells whose ink is strokes, not a blob: at most half of it lies inside a stroke."""
    if not len(blocks):
        return np.zeros(0, bool)
    inner = (
        blocks[:, 1:-1, 1:-1]
        & blocks[:, :-2, 1:-1]
        & blocks[:, 2:, 1:-1]
        & blocks[:, 1:-1, :-2]
        & blocks[:, 1:-1, 2:]
    )
    return np.asarray(inner.sum(axis=(1, 2)) <= STROKE_MAX_INTERIOR * np.maximum(blocks.sum(axis=(1, 2)), 1))
