"""Judge a picture's grid from its geometry alone, whatever glyph shapes it was drawn with.

A real ASCII screen is a small vocabulary of cell patterns reused cell after cell, every glyph
inside its own cell, every block wall ending on a cell boundary. So at the true phase the
picture is *cheap to describe* cell by cell; at any other phase glyphs are cut into pieces
(more patterns, more non-empty cells) and walls end inside cells. Nothing here knows the kit's
font: the atlas is only the reference for reading characters back (readback.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .grid_detect import _segments
from .lone import crossing_positions, crossings, leads_into, stroke_like


def solid(binary: np.ndarray) -> np.ndarray:
    """White pixels with a white 4-neighbour: a stroke, not a lone speck of noise."""
    n = np.zeros_like(binary)
    n[1:] |= binary[:-1]
    n[:-1] |= binary[1:]
    n[:, 1:] |= binary[:, :-1]
    n[:, :-1] |= binary[:, 1:]
    return np.asarray(binary & n)


_POPCOUNT = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(axis=1).astype(np.uint8)


def cell_counts(image: np.ndarray, cell: int, offset: tuple[int, int]) -> np.ndarray:
    """White pixels per whole cell of the grid at ``offset`` (cell a multiple of 8): bytes and a
    popcount table, several times faster than summing a strided cell view."""
    dx, dy = offset
    r, k = (image.shape[0] - dy) // cell, (image.shape[1] - dx) // cell
    packed = np.packbits(image[dy : dy + r * cell, dx : dx + k * cell], axis=1)
    return np.asarray(_POPCOUNT[packed].reshape(r, cell, k, cell // 8).sum(axis=(1, 3), dtype=np.int32))


def transitions(binary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where neighbours differ: (between columns, between rows). Edges feed both crispness and period."""
    return binary[:, 1:] != binary[:, :-1], binary[1:] != binary[:-1]


def edge_grey_share(
    gray: np.ndarray,
    binary: np.ndarray,
    black: float,
    white: float,
    edges: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[float, int]:
    """Share of grey among the pixels on either side of a black/white edge, and how many there are.

    Only edges tell blur and anti-aliasing from crisp drawing; counting grey over all pixels
    would reward drawing little (sparse blurred pictures passed) and punish drawing much.
    """
    e = np.zeros_like(binary)
    dx, dy = edges if edges is not None else transitions(binary)
    e[:, 1:] |= dx
    e[:, :-1] |= dx
    e[1:] |= dy
    e[:-1] |= dy
    g = gray[e]
    if not g.size:
        return 0.0, 0
    return float(((g > black) & (g < white)).mean()), int(g.size)


def cells(image: np.ndarray, cell: int, offset: tuple[int, int]) -> np.ndarray:
    """(rows, cols, cell, cell) view of the whole cells of the grid at ``offset``."""
    dx, dy = offset
    r, k = (image.shape[0] - dy) // cell, (image.shape[1] - dx) // cell
    return image[dy : dy + r * cell, dx : dx + k * cell].reshape(r, cell, k, cell).transpose(0, 2, 1, 3)


LINE_MAX_SHARE = (
    0.1  # a 3 px line corner to corner crosses ~3 % of the cells; 40 px wide would be broad anyway
)


@dataclass
class Content:
    drawn: np.ndarray  # (rows, cols) bool at phase 0
    drawn_share: float
    speck_share: float
    breadth: float  # px: spread of the strokes across their main direction (a lone line: ~1)
    connected: float = 1.0  # share of the drawn cells with a drawn cell among their 8 neighbours


def content(binary: np.ndarray, solid_px: np.ndarray, cell: int, min_pixels: int) -> Content:
    """Does the picture draw something? Drawn cells, specks, and how broad the drawing is.

    A lone straight line of any slope may cross a few percent of the cells, but all its stroke
    pixels lie along one direction: the smaller principal spread of their coordinates is about
    a pixel, while even two lines of text are a cell apart.
    """
    white = int(np.count_nonzero(binary))
    speck = 1.0 - float(np.count_nonzero(solid_px)) / white if white else 1.0
    drawn = cell_counts(solid_px, cell, (0, 0)) >= min_pixels
    share = float(drawn.mean()) if drawn.size else 0.0
    joined = connected_share(drawn)
    if share >= LINE_MAX_SHARE:  # more than any lone line can cover: broad by definition
        return Content(drawn, share, speck, float("inf"), joined)
    step = 4  # a sixteenth of the pixels is plenty for a 2x2 covariance, unless the strokes are few
    ys, xs = np.nonzero(solid_px[::step, ::step])
    if len(ys) < 200:
        step = 1
        ys, xs = np.nonzero(solid_px)
    breadth = 0.0
    if len(ys) >= 3:
        cov = np.cov(np.stack([ys, xs]).astype(np.float64))
        breadth = step * float(np.sqrt(max(np.linalg.eigvalsh(cov)[0], 0.0)))
    return Content(drawn, share, speck, breadth, joined)


def connected_share(drawn: np.ndarray) -> float:
    """Share of the drawn cells that have a drawn cell among their eight neighbours (1.0 when none
    is drawn): text runs and walls join up cell to cell, specks scattered over a blank screen do not."""
    n = int(drawn.sum())
    if not n:
        return 1.0
    p = np.pad(drawn, 1)
    near = np.zeros_like(drawn)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                near |= p[1 + dy : 1 + dy + drawn.shape[0], 1 + dx : 1 + dx + drawn.shape[1]]
    return float((drawn & near).sum() / n)


# -- phase: where is the picture cheapest to describe, one axis at a time -------------------------


def _description_bits(binary: np.ndarray, cell: int, step: int = 3) -> np.ndarray:
    """Bits to write every cell-wide row segment at each phase: count x entropy + a dictionary.

    Cutting a glyph makes more non-empty segments *and* more distinct ones, so the true phase
    costs least; a glyph that fits its cell at several phases gives a flat valley (a plateau).
    """
    rows = np.ascontiguousarray(binary[::step])
    h, w = rows.shape
    packed = np.packbits(rows, axis=1)
    pad = np.zeros((h, packed.shape[1] + cell // 8 + 2), dtype=np.uint64)
    pad[:, : packed.shape[1]] = packed
    bits = np.zeros(cell)
    small = cell <= 16
    for d in range(cell):
        count = (w - d) // cell
        if count <= 0:
            bits[d] = np.inf
            continue
        seg = _segments(pad, d, count, cell).ravel()
        seg = seg[seg != 0]
        if not seg.size:
            continue
        if small:
            cnt = np.bincount(seg.astype(np.intp), minlength=1 << cell)
            cnt = cnt[cnt > 0]
        else:
            cnt = np.unique(seg, return_counts=True)[1]
        n = cnt.sum()
        bits[d] = float(-(cnt * np.log2(cnt / n)).sum() + cell * len(cnt))
    return bits


CENTRE_WEIGHT = 2.0


def _off_centre(binary: np.ndarray, cell: int) -> np.ndarray:
    """Mean distance (px) of the ink from its cell's centre line, at each phase of one axis."""
    ink = binary.sum(axis=0, dtype=np.int64).astype(np.float64)
    x = np.arange(len(ink))
    d = np.arange(cell)[:, None]
    dist = np.abs((x[None, :] - d) % cell - (cell - 1) / 2.0)
    total = ink.sum()
    return (dist @ ink) / total if total else np.zeros(cell)


def axis_phase(
    bits: np.ndarray, off_centre: np.ndarray, weight: float = CENTRE_WEIGHT, slack: float = 0.05
) -> int:
    """The phase where the picture is cheapest to describe; 0 whenever 0 is about as cheap.

    Content that fits the grid must never be called shifted: a glyph with margins, or a brick
    texture with wide mortar, fits its cell at several phases (a flat valley of cost), and if 0
    is in that valley the picture is on the grid, unless its ink then hugs the cell borders
    (line walls shifted half a cell: measured 3.3+ px further from the centres than at best,
    on-grid fonts and textures at most 0.7 px). Otherwise the ink's centring in its cell
    breaks the ties, the way a reader does: line walls through cell centres describe as cheaply
    with the cell borders on the strokes, and a glyph's valley is centred where the glyph is.
    Block walls fill cells evenly, so for them the sharp minimum of the cost alone decides.
    """
    cell = len(bits)
    if not np.isfinite(bits).all() or bits.min() <= 0:
        return 0
    if bits[0] <= bits.min() * (1 + slack) and off_centre[0] <= off_centre.min() + cell / 8.0:
        return 0
    cost = bits / bits.min() + weight * (off_centre - off_centre.min()) / (cell / 4.0)
    return int(np.argmin(cost))


# -- cells at one phase: explained or not --------------------------------------------------------


def block_cuts(cb: np.ndarray) -> np.ndarray:
    """Cells where a block of white crosses the cell border and ends inside the cell.

    At the true grid a block wall fills whole cells; one phase off, its edge lies inside a cell:
    the cell's first row is full white and continues the full row of the cell above, while its
    last row is empty (and likewise from below, left and right).
    """
    r, k = cb.shape[:2]
    rf, re = np.asarray(cb.all(axis=3)), ~np.asarray(cb.any(axis=3))
    cf, ce = np.asarray(cb.all(axis=2)), ~np.asarray(cb.any(axis=2))
    above = np.zeros((r, k), bool)
    above[1:] = rf[:-1, :, -1]
    below = np.zeros((r, k), bool)
    below[:-1] = rf[1:, :, 0]
    left = np.zeros((r, k), bool)
    left[:, 1:] = cf[:, :-1, -1]
    right = np.zeros((r, k), bool)
    right[:, :-1] = cf[:, 1:, 0]
    return (
        (rf[..., 0] & re[..., -1] & above)
        | (rf[..., -1] & re[..., 0] & below)
        | (cf[..., 0] & ce[..., -1] & left)
        | (cf[..., -1] & ce[..., 0] & right)
    )


def canonical(blocks: np.ndarray) -> np.ndarray:
    """Roll each cell so its ink starts at the top-left: a glyph nudged inside its cell is the same glyph."""
    n, c = blocks.shape[0], blocks.shape[1]
    if not n:
        return blocks
    top = np.argmax(blocks.any(axis=2), axis=1)
    left = np.argmax(blocks.any(axis=1), axis=1)
    ar = np.arange(c)
    ri = (ar[None, :] + top[:, None]) % c
    ci = (ar[None, :] + left[:, None]) % c
    return np.asarray(blocks[np.arange(n)[:, None, None], ri[:, :, None], ci[:, None, :]])


def pattern_keys(blocks: np.ndarray) -> np.ndarray:
    packed = np.packbits(blocks.reshape(len(blocks), -1), axis=1)
    return np.ascontiguousarray(packed).view(f"V{packed.shape[1]}").ravel()


@dataclass
class Geometry:
    offset: tuple[int, int]
    score: float  # ink share of the drawn cells that are explained
    explained: np.ndarray  # (rows, cols) bool
    drawn: np.ndarray  # (rows, cols) bool
    cuts: int  # drawn cells a block edge crosses
    patterns: int  # distinct cell patterns among the drawn cells


def explain(
    binary: np.ndarray, drawn: np.ndarray, cell: int, offset: tuple[int, int], known: np.ndarray | None = None
) -> Geometry:
    """Score the grid at ``offset``: each drawn cell must be a reused pattern that no block edge cuts.

    ``known`` marks cells already explained (exact tiles of the kit's atlas): they are skipped,
    which keeps the clean path fast.
    """
    todo = drawn if known is None else drawn & ~known
    if not todo.any():
        return Geometry(offset, 1.0 if drawn.any() else 0.0, drawn.copy(), drawn, 0, 0)
    cb = cells(binary, cell, offset)
    ink = cell_counts(binary, cell, offset)
    cut = block_cuts(cb) & todo
    cuts = int(cut.sum())
    sel = cb[todo]
    keys = pattern_keys(canonical(sel))
    _, inv, cnt = np.unique(keys, return_inverse=True, return_counts=True)
    patterns = len(cnt)
    across, down = crossings(binary, cell, offset)
    strokes = np.zeros_like(drawn)
    strokes[todo] = stroke_like(sel)
    ok = np.zeros_like(drawn)
    ok[todo] = (cnt[inv.ravel()] >= 2) | (ink[todo] == cell * cell)
    explained = (drawn & ~todo) | (ok & todo & ~cut)
    # a stroke drawing used once explains itself when it sits whole in its cell (a panel's
    # letters) or its strokes run on only into explained cells (a frame's corner)
    positions = crossing_positions(binary, cell, offset)
    explained |= todo & ~cut & strokes & leads_into(explained, across, down, positions)
    total = int(ink[drawn].sum())
    score = float(ink[explained].sum() / total) if total else 0.0
    return Geometry(offset, score, explained, drawn, cuts, patterns)


# -- period: the fundamental cell size, or unknown --------------------------------------------------

NFFT = 1 << 13  # 1/8192 cycles/px: 0.03 px of period at 16 px, before the 0.02 px comb refinement


def _axis_period(e: np.ndarray, cell: int, min_ratio: float, step: float) -> tuple[float | None, float]:
    """One axis: the period of an edge projection within 0.7x-1.4x the cell, or None."""
    if len(e) < 4 * cell or not e.any():
        return None, 0.0
    e = e.astype(np.float64) - e.mean()
    power = np.abs(np.fft.rfft(e * np.hanning(len(e)), NFFT)) ** 2
    f = np.arange(len(power)) / NFFT
    band = (f >= 1 / (4 * cell)) & (f <= 1 / 5)
    top = 1.0 / f[band][np.argmax(power[band])]
    lo, hi = 0.7 * cell, 1.4 * cell

    def comb(q: np.ndarray) -> np.ndarray:
        k = np.arange(1, int(0.45 * hi) + 1)
        freq = k[None, :] / q[:, None]
        idx = np.minimum(np.rint(freq * NFFT).astype(np.intp), len(power) - 1)
        return np.asarray(np.where(freq < 0.45, power[idx], 0.0).sum(axis=1))

    family = np.array([top * m / n for m in (1, 2, 3, 4) for n in (1, 2, 3, 4) if lo <= top * m / n <= hi])
    if not family.size:
        return None, 0.0
    combs = comb(family)
    q = float(family[np.argmax(combs)])
    fine = np.arange(q - 0.6, q + 0.6 + 1e-9, step)
    fs = comb(fine)
    ratio = float(fs.max() / max(np.median(comb(np.arange(lo, hi, 0.25))), 1e-12))
    return (float(fine[np.argmax(fs)]) if ratio >= min_ratio else None), ratio


def measure_period(
    binary: np.ndarray,
    cell: int,
    min_ratio: float = 8.0,
    step: float = 0.02,
    edges: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[float | None, float]:
    """Cell size from the spectrum of edge projections, within 0.7x-1.4x the cell, or None.

    Mazes repeat every two cells and brick mortar every half cell, so the strongest line of the
    spectrum is often a multiple or a fraction. The candidates are that line's period times
    m/n (m, n <= 4) inside the window; the one whose harmonic comb holds the most power wins and
    is refined to 0.02 px. A comb that does not stand ``min_ratio`` times above the window's
    median is no period at all (noise, one line, rotated content). Each axis is measured alone
    (sparse text repeats every character across but only every few lines down): the cell is
    square, so axes that disagree by more than half a pixel leave the period unknown, and one
    axis alone must stand out twice as clearly (text lines three cells apart repeat every 48 px
    down the picture, and 48/4 = 12 would be a confident wrong cell size).
    Unknown, never a guess.
    """
    dx, dy = edges if edges is not None else transitions(binary)
    (px, rx), (py, ry) = (
        _axis_period(np.count_nonzero(dx, axis=0), cell, min_ratio, step),
        _axis_period(np.count_nonzero(dy, axis=1), cell, min_ratio, step),
    )
    if px is not None and py is not None:
        if abs(px - py) <= 0.5:
            return round((px * rx + py * ry) / (rx + ry), 2), max(rx, ry)
        return None, max(rx, ry)
    if px is None and py is None:
        return None, max(rx, ry)
    # one axis alone must stand out twice as clearly: sparse text lines 48 px apart give a
    # 12 px comb down the picture while nothing repeats across it
    p, ratio = (px, rx) if px is not None else (py, ry)
    assert p is not None  # both None returned above
    return (round(p, 2) if ratio >= 2 * min_ratio else None), ratio
