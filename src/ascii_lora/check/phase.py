"""The exact offset of shifted content: where each glyph's cell box sits, to the pixel.

The description cost (geometry.axis_phase, on each axis) finds the grid to within a pixel or two: a glyph with
blank margins fits its cell at several phases. A reader settles it by the margins: on a screen
every glyph is centred in its cell box, so the ink folded onto one cell (column by column, and
row by row) is mirror-symmetric about the cell's centre line, and only there. The kit's own
tiles are placed exactly by the atlas (grid_detect) and never come here.
"""

from __future__ import annotations

import numpy as np

from .geometry import _description_bits, _off_centre, axis_phase

OCCUPIED = 0.02  # a position inside the cell holds ink when it has 2 % of the busiest position's ink
SLACK = 0.05  # phases describing the picture within 5 % of the cheapest form its valley (geometry.axis_phase)


def folded(ink: np.ndarray, cell: int) -> np.ndarray:
    """Ink per position inside the cell: the profile summed over every cell of the axis."""
    n = len(ink) // cell * cell
    out = ink[:n].reshape(-1, cell).sum(axis=0).astype(np.float64)
    rest = ink[n:]
    out[: len(rest)] += rest
    return np.asarray(out)


def symmetry(profile: np.ndarray, phase: int) -> float:
    """How mirror-symmetric the folded ink is about the centre of cells starting at ``phase``
    (1.0 perfectly, 0 when there is no ink): position k mirrors to 2 phase + cell - 1 - k."""
    cell = len(profile)
    k = np.arange(cell)
    mirror = profile[(2 * phase + cell - 1 - k) % cell]
    norm = float((profile**2).sum())
    return float((profile * mirror).sum() / norm) if norm else 0.0


def valley(bits: np.ndarray, phase: int, slack: float = SLACK) -> list[int]:
    """The run of phases around ``phase`` that describe the picture about as cheaply as the
    cheapest: where a glyph with margins fits its cell. Block walls have a one-phase valley."""
    cell = len(bits)
    if not np.isfinite(bits).all() or bits.min() <= 0:
        return [phase]
    cheap = bits <= bits.min() * (1 + slack)
    run = [phase]
    for step in (1, -1):
        q = (phase + step) % cell
        while cheap[q] and q != phase and len(run) < cell:
            run.append(q)
            q = (q + step) % cell
    return run


def refine_axis(ink: np.ndarray, bits: np.ndarray, phase: int) -> int:
    """The phase in ``phase``'s valley about which the folded ink is most symmetric (the nearest
    to ``phase`` on ties)."""
    cell = len(bits)
    folded_ink = folded(ink, cell)
    profile = (folded_ink > OCCUPIED * folded_ink.max()).astype(np.float64)
    candidates = sorted(valley(bits, phase), key=lambda q: min((q - phase) % cell, (phase - q) % cell))
    # where the glyphs' boxes are centred; ties (a box one pixel wider on one side) go to where
    # their ink is centred, then to the description cost's own phase
    scores = [round(symmetry(profile, q), 9) + 1e-3 * round(symmetry(folded_ink, q), 6) for q in candidates]
    return candidates[int(np.argmax(scores))]


def exact_phase(binary: np.ndarray, cell: int) -> tuple[int, int]:
    """Grid offset (dx, dy) of a picture in any glyphs: the description cost's phase, then the
    most symmetric phase of its valley on each axis.

    Content that fits its cells at phase 0 is on the grid whatever its glyphs' margins, so (0, 0)
    stays; once one axis is off the grid the picture is shifted anyway, and the other axis is
    refined too (text moved 4 px right fits its cells across, but a reader sees it off-centre).
    """
    t = np.ascontiguousarray(binary.T)
    bx, by = _description_bits(binary, cell), _description_bits(t, cell)
    px, py = axis_phase(bx, _off_centre(binary, cell)), axis_phase(by, _off_centre(t, cell))
    if (px, py) == (0, 0):
        return 0, 0
    return (
        refine_axis(binary.sum(axis=0, dtype=np.int64), bx, px),
        refine_axis(binary.sum(axis=1, dtype=np.int64), by, py),
    )
