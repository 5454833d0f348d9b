"""Score one sample against the kit's promise: something drawn, black background, crisp edges, on the grid.

The grid is judged from geometry, whatever the glyph shapes: at the true 16 px phase every drawn
cell is a reused pattern that sits inside its cell and no block wall ends inside a cell
(geometry.py). The kit's atlas only reads characters back (readback.py), and gives a fast,
exact answer for pictures drawn with the kit's own tiles (their exact offset, all 256 of them).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config.models import CheckConfig
from ..grid.atlas import Atlas, get_atlas
from ..grid.layout import grid_text
from ..imageio import ImageReadError, load_gray
from . import levels
from .geometry import Content, cell_counts, content, explain, measure_period, solid, transitions
from .grid_detect import fit_grid
from .phase import exact_phase
from .readback import Reading, read

CRITERIA = ("content", "black_background", "crisp", "grid_aligned")


@dataclass
class ImageReport:
    file: str
    passed: bool = False
    criteria: dict[str, bool] = field(default_factory=lambda: {k: False for k in CRITERIA})
    grey_fraction: float | None = (
        None  # grey share over all pixels (reported, not judged; every 2nd row/column)
    )
    edge_grey: float | None = None  # grey share beside edges: what `crisp` judges
    purity: float | None = None  # share of exact 0/255 (reported; every 2nd row/column)
    background_level: float | None = None  # the picture's dark level (its empty cells)
    light_level: float | None = None  # the picture's light level (its strokes)
    drawn_share: float | None = None
    grid_score: float | None = None
    offset: list[int] | None = None
    phase_from: str | None = None  # "atlas" (exact tiles) or "geometry"
    cell_size: float | None = None
    measured_period: float | None = None
    cell_agreement: float | None = None  # share of drawn cells read back confidently
    size: list[int] | None = None
    ascii: str | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


MIN_CONTRAST = 64.0  # less contrast than this between darkest quartile and brightest pixels: threshold 128


def binarize(gray: np.ndarray, threshold: float = 128.0) -> np.ndarray:
    return gray >= threshold


DIM_MIDPOINT = 120.0  # a dark-to-bright midpoint below this is a dim picture: threshold at the midpoint


def ink_threshold(gray: np.ndarray) -> float:
    """Where white starts: 128, or halfway between the picture's darkest quartile and its
    brightest pixels (99.99th percentile) when that midpoint is below 120. A blur spreads a thin
    stroke until its peak is ~140: a person still sees the strokes (and calls them blurred), a
    fixed threshold at 128 would see a blank screen. A picture without 64 levels of contrast
    keeps 128 (a blank screen's noise is not ink)."""
    sample = gray[::4, ::4]
    if np.count_nonzero(sample >= 2 * DIM_MIDPOINT) > 1e-4 * sample.size:
        return 128.0  # bright strokes: the midpoint is 120+ whatever the dark level (the usual case, fast)
    low, high = np.percentile(sample, [25, 99.99])
    mid = (low + high) / 2.0
    if high - low < MIN_CONTRAST or mid >= DIM_MIDPOINT:
        return 128.0
    return float(mid)


def whole_cells(binary: np.ndarray, cell: int, offset: tuple[int, int]) -> np.ndarray | None:
    """The part of the picture covered by whole cells of the grid at ``offset`` (None if no cell fits)."""
    dx, dy = offset
    rows, cols = (binary.shape[0] - dy) // cell, (binary.shape[1] - dx) // cell
    if rows <= 0 or cols <= 0:
        return None
    return binary[dy : dy + rows * cell, dx : dx + cols * cell]


def _atlas_phase(
    binary: np.ndarray, atlas: Atlas
) -> tuple[tuple[int, int], tuple[np.ndarray, np.ndarray]] | None:
    """The exact offset when the picture is the kit's own tiles (the fast path), with the exact
    read there (codes, matched) so it is not repeated; else None."""

    def candidates() -> Iterator[tuple[int, int]]:
        yield (0, 0)  # where a good sample sits: one exact read settles it, no phase search
        cx, cy, (sx, sy) = fit_grid(binary, atlas)
        if min(sx.max(), sy.max()) >= 0.9:  # else most row segments are no tile's rows: not our font
            yield from ((dx, dy) for dy in cy for dx in cx if (dx, dy) != (0, 0))

    best: tuple[int, int] | None = None
    best_rate, best_read = -1.0, None
    for o in candidates():
        crop = whole_cells(binary, atlas.cell, o)
        if crop is None:
            continue
        codes, matched = atlas.read_exact(crop)
        blank = matched & (codes == ord(" "))
        n = int((~blank).sum())
        rate = float((matched & ~blank).sum() / n) if n else 1.0
        if rate > best_rate:
            best, best_rate, best_read = o, rate, (codes, matched)
        if o == (0, 0) and rate >= 0.99:
            break
    return (best, best_read) if best is not None and best_read is not None and best_rate >= 0.9 else None


def check_gray(
    name: str, gray: np.ndarray, cfg: CheckConfig, atlas: Atlas | None = None
) -> tuple[ImageReport, Reading | None]:
    """One picture's report, criterion by criterion, and its read-back (None when no cell fits)."""
    atlas = atlas or get_atlas(16)
    c = atlas.cell
    h, w = gray.shape
    r = ImageReport(file=name, size=[w, h])
    report_pixel_stats(r, gray, cfg)
    binary = binarize(gray, ink_threshold(gray))
    edges = transitions(binary)
    strokes = solid(binary)
    if h < c or w < c:
        judge_levels(r, gray, binary, strokes, np.zeros((0, 0), np.int32), edges, cfg, c)
        r.notes.append(f"smaller than one {c} px cell")
        return r, None
    judge_levels(r, gray, binary, strokes, cell_counts(binary, c, (0, 0)), edges, cfg, c)
    drawing = judge_content(r, binary, strokes, cfg, c)
    reading = judge_grid(r, binary, strokes, edges, drawing, cfg, atlas)
    r.passed = all(r.criteria.values())
    return r, reading


def report_pixel_stats(r: ImageReport, gray: np.ndarray, cfg: CheckConfig) -> None:
    """Grey share and purity over all pixels: reported, not judged (every other row and column)."""
    q = gray[::2, ::2]
    r.grey_fraction = round(
        float(1.0 - ((q <= cfg.black_tolerance) | (q >= 255 - cfg.white_tolerance)).mean()), 6
    )
    r.purity = round(float(((q == 0) | (q == 255)).mean()), 6)


def judge_levels(
    r: ImageReport,
    gray: np.ndarray,
    binary: np.ndarray,
    strokes: np.ndarray,
    counts: np.ndarray,
    edges: tuple[np.ndarray, np.ndarray],
    cfg: CheckConfig,
    cell: int,
) -> None:
    """`black_background` and `crisp`, against the picture's own measured dark and light levels."""
    lv = levels.measure(gray, binary, strokes, counts, cell, edges, cfg.edge_band)
    r.background_level, r.light_level, r.edge_grey = lv.dark, lv.light, round(lv.edge_grey, 6)
    r.criteria["black_background"] = levels.black_background(lv, cfg)
    r.criteria["crisp"] = levels.crisp(lv, cfg)
    if lv.light is not None and lv.light < cfg.min_white_level:
        r.notes.append(f"the strokes are grey (level {lv.light:g}), not white")


def judge_content(
    r: ImageReport, binary: np.ndarray, strokes: np.ndarray, cfg: CheckConfig, cell: int
) -> Content:
    """`content`: enough drawn cells that join up, not specks, not a lone line."""
    drawing = content(binary, strokes, cell, cfg.min_cell_pixels)
    r.drawn_share = round(drawing.drawn_share, 6)
    enough = drawing.drawn_share >= cfg.min_drawn_share or (
        drawing.drawn_share >= cfg.min_sparse_share and drawing.connected >= cfg.min_connected_share
    )
    r.criteria["content"] = (
        enough and drawing.breadth >= cfg.min_breadth and drawing.speck_share <= cfg.max_speck_share
    )
    if not binary.any():
        r.notes.append("blank: nothing drawn")
    elif drawing.speck_share > cfg.max_speck_share:
        r.notes.append(
            f"{drawing.speck_share:.0%} of the white pixels are isolated specks: noise, not a drawing"
        )
    elif drawing.drawn_share < cfg.min_sparse_share:
        r.notes.append(
            f"only {drawing.drawn_share:.1%} of cells drawn (content needs "
            f"{cfg.min_drawn_share:.0%}, or {cfg.min_sparse_share:.1%} joined up)"
        )
    elif not enough:
        r.notes.append(
            f"only {drawing.drawn_share:.1%} of cells drawn and {drawing.connected:.0%} of them "
            "touch another: scattered specks, not a screen"
        )
    elif drawing.breadth < cfg.min_breadth:
        r.notes.append("the drawing is a lone line or a few specks, not a picture")
    return drawing


def find_offset(
    binary: np.ndarray, drawing: Content, atlas: Atlas
) -> tuple[tuple[int, int], tuple[np.ndarray, np.ndarray] | None, str | None]:
    """(offset, exact read there or None, where it came from): the kit's tiles place a picture
    exactly (all 256 shifts); any other glyphs by description cost, then by their centred boxes."""
    if not drawing.drawn.any():
        return (0, 0), None, None
    fast = _atlas_phase(binary, atlas)
    if fast is not None:
        return fast[0], fast[1], "atlas"
    return exact_phase(binary, atlas.cell), None, "geometry"


def judge_grid(
    r: ImageReport,
    binary: np.ndarray,
    strokes: np.ndarray,
    edges: tuple[np.ndarray, np.ndarray],
    drawing: Content,
    cfg: CheckConfig,
    atlas: Atlas,
) -> Reading | None:
    """`grid_aligned`, the offset and period, and the read-back at the offset found."""
    c = atlas.cell
    h, w = binary.shape
    misfit = bool(w % c or h % c)
    if misfit:
        r.notes.append(f"size {w}x{h} is not a multiple of the {c} px cell")
    period, _ = measure_period(binary, c, edges=edges)
    r.measured_period = period
    offset, exact_read, r.phase_from = find_offset(binary, drawing, atlas)
    crop = whole_cells(binary, c, offset)
    if crop is None:
        r.notes.append("no whole cell at the detected offset")
        return None
    drawn = drawing.drawn if offset == (0, 0) else cell_counts(strokes, c, offset) >= cfg.min_cell_pixels
    exact_read = exact_read or atlas.read_exact(crop)
    geo = explain(binary, drawn, c, offset, known=exact_read[1])
    r.grid_score = round(geo.score, 6)
    found = bool(drawn.any()) and geo.score >= cfg.min_grid_score
    reading = read(crop, drawn, atlas, offset, cfg, tolerant=found, exact=exact_read)
    period_ok = period is None or abs(period - c) <= cfg.max_period_error
    r.cell_agreement = None if reading.confidence is None else round(reading.confidence, 6)
    r.ascii = grid_text(reading.codes)
    r.offset = list(offset) if found else None
    r.cell_size = float(c) if found and period_ok else period
    r.criteria["grid_aligned"] = (
        r.criteria["content"] and found and offset == (0, 0) and period_ok and not misfit
    )
    grid_notes(r, found, offset, period, period_ok, geo.score, drawing, reading, c)
    return reading


def grid_notes(
    r: ImageReport,
    found: bool,
    offset: tuple[int, int],
    period: float | None,
    period_ok: bool,
    score: float,
    drawing: Content,
    reading: Reading,
    c: int,
) -> None:
    """What a person should know about the grid verdict, in words."""
    if found and offset != (0, 0) and period_ok:
        r.notes.append(
            f"content is on a {c} px grid but shifted by {offset[0]},{offset[1]} px (`ascii-lora snap` repairs it)"
        )
    if period is not None and not period_ok:
        r.notes.append(
            f"structures repeat every {period:.2f} px, not {c}: rescaled or drawn at another pitch?"
        )
    elif drawing.drawn.any() and not found:
        r.notes.append(
            f"no {c} px grid: only {score:.0%} of the drawn ink is reused cell patterns that sit in their cells"
        )
    unknown = int((reading.drawn & ~reading.confident).sum())
    if unknown:
        r.notes.append(f"{unknown} of {int(reading.drawn.sum())} drawn cells read as no character ('?')")


def check_file(
    path: Path, cfg: CheckConfig, atlas: Atlas | None = None
) -> tuple[ImageReport, Reading | None, np.ndarray | None]:
    try:
        gray = load_gray(path)
    except ImageReadError as e:
        return ImageReport(file=str(path), error=str(e)), None, None
    report, reading = check_gray(str(path), gray, cfg, atlas)
    return report, reading, gray


def read_at(gray: np.ndarray, cfg: CheckConfig, atlas: Atlas, offset: tuple[int, int]) -> Reading:
    """Read the cells of the grid at ``offset`` (snap's reading when no shifted grid was found)."""
    c = atlas.cell
    binary = binarize(gray, ink_threshold(gray))
    crop = whole_cells(binary, c, offset)
    assert crop is not None, "read_at needs a picture that holds a cell at offset"
    drawn = cell_counts(solid(binary), c, offset) >= cfg.min_cell_pixels
    return read(crop, drawn, atlas, offset, cfg)
