"""Black, white and grey as people see them: against the picture's own dark and light levels.

A diffusion model's decoder never returns exact 0 and 255: black comes back at 10-16, white at
235-246, with a few levels of noise and, after JPEG, some ringing beside the edges. A person
still sees white on black, and sharp. So the background is judged by its measured level within
sane bounds (``max_background_level``: 10-16 is black, a grey 35+ is not), the strokes by
theirs (``min_white_level``), and crispness by how many pixels beside an edge sit well between
the two levels: blur and anti-aliasing put them a quarter to three quarters of the way, ringing
and noise only a few percent of the way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config.models import CheckConfig
from .geometry import edge_grey_share

FLAT_MIN_SHARE = 0.02  # empty cells must be at least this share of the cells to stand for the background


@dataclass
class Levels:
    dark: float  # the background: level of the empty cells
    light: float | None  # the strokes: median level of the stroke pixels (None: nothing drawn)
    edge_grey: float  # share of the pixels beside an edge that sit between the two levels


def dark_level(gray: np.ndarray, counts: np.ndarray, cell: int) -> float:
    """Level of the empty cells: what the picture is drawn on, whatever its density.

    Cells whose binarized pixels are all alike are empty (black void, or white if inverted);
    four pixels of each, at its quarter points, are sampled, and the median taken: a faint
    blurred glyph that stays under the threshold leaves most of its cell dark. A percentile of
    all pixels would call a dense brick map "white". Without 2 % empty cells, the darkest
    quartile stands in.
    """
    rows, cols = counts.shape
    if rows and cols:
        flat = (counts == 0) | (counts == cell * cell)
        if flat.mean() >= FLAT_MIN_SHARE:
            q, q3 = cell // 4, (3 * cell) // 4
            samples = [
                gray[a : rows * cell : cell, b : cols * cell : cell][flat] for a in (q, q3) for b in (q, q3)
            ]
            return round(float(np.median(np.concatenate(samples))), 2)
    return round(float(np.percentile(gray, 25)), 2)


def light_level(gray: np.ndarray, strokes: np.ndarray) -> float | None:
    """Median level of the stroke pixels (white with a white neighbour), None when there are none."""
    values = gray[::4][strokes[::4]]  # every 4th row is plenty for a median, unless the strokes are few
    if values.size < 1000:
        values = gray[strokes]
    if not values.size:
        return None
    return round(float(np.median(values)), 2)


def measure(
    gray: np.ndarray,
    binary: np.ndarray,
    strokes: np.ndarray,
    counts: np.ndarray,
    cell: int,
    edges: tuple[np.ndarray, np.ndarray],
    band: float,
) -> Levels:
    """The picture's dark and light levels and the grey share beside its edges.

    A pixel beside an edge is grey when it lies more than ``band`` of the dark-to-light contrast
    away from both levels.
    """
    dark = dark_level(gray, counts, cell) if counts.size else round(float(np.percentile(gray, 25)), 2)
    light = light_level(gray, strokes)
    top = light if light is not None and light > dark else 255.0
    span = top - dark
    share, _ = edge_grey_share(gray, binary, dark + band * span, top - band * span, edges)
    return Levels(dark, light, share)


def black_background(levels: Levels, cfg: CheckConfig) -> bool:
    """The background is black: its level at or below ``max_background_level``."""
    return levels.dark <= cfg.max_background_level


def crisp(levels: Levels, cfg: CheckConfig) -> bool:
    """White strokes with sharp edges: stroke level at least ``min_white_level`` (grey strokes are
    not white) and at most ``max_edge_grey`` of the pixels beside an edge between the levels.
    Nothing drawn is nothing blurred."""
    if levels.light is None:
        return levels.edge_grey <= cfg.max_edge_grey
    return levels.light >= cfg.min_white_level and levels.edge_grey <= cfg.max_edge_grey
