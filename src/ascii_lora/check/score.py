"""Score one sample against the kit's promise: something drawn, black background, crisp edges, on the grid.

The grid is judged from geometry, whatever the glyph shapes: at the true 16 px phase every drawn
cell is a reused pattern that sits inside its cell and no block wall ends inside a cell
(geometry.py). The kit's atlas only reads characters back (readback.py), and gives a fast,
exact answer for pictures drawn with the kit's own tiles (their exact offset, all 256 of them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config.models import CheckConfig
from ..grid.atlas import Atlas, get_atlas
from ..grid.layout import grid_text
from ..imageio import ImageReadError, load_gray
from .geometry import cell_counts, content, edge_grey_share, explain, find_phase, measure_period, solid, transitions
from .grid_detect import fit_grid
from .readback import Reading, read

CRITERIA = ("content", "black_background", "crisp", "grid_aligned")


@dataclass
class ImageReport:
    file: str
    passed: bool = False
    criteria: dict[str, bool] = field(default_factory=lambda: {k: False for k in CRITERIA})
    grey_fraction: float | None = None  # grey share over all pixels (reported, not judged; every 2nd row/column)
    edge_grey: float | None = None  # grey share beside edges: what `crisp` judges
    purity: float | None = None  # share of exact 0/255 (reported; every 2nd row/column)
    background_level: float | None = None
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


def background_level(gray: np.ndarray, counts: np.ndarray, cell: int) -> float:
    """Level of the empty cells: what the picture is drawn on, whatever its density.

    Cells whose binarized pixels are all alike are empty (black void, or white if inverted);
    their centre pixels are sampled. A pixel percentile instead would call a dense brick map
    "white". Without any empty cell, the darkest quartile stands in.
    """
    rows, cols = counts.shape
    if rows and cols:
        flat = (counts == 0) | (counts == cell * cell)
        if flat.mean() >= 0.02:
            centre = gray[cell // 2 : rows * cell : cell, cell // 2 : cols * cell : cell]
            return round(float(np.median(centre[flat])), 2)
    return round(float(np.percentile(gray, 25)), 2)


def binarize(gray: np.ndarray) -> np.ndarray:
    return gray >= 128.0


def whole_cells(binary: np.ndarray, cell: int, offset: tuple[int, int]) -> np.ndarray | None:
    """The part of the picture covered by whole cells of the grid at ``offset`` (None if no cell fits)."""
    dx, dy = offset
    rows, cols = (binary.shape[0] - dy) // cell, (binary.shape[1] - dx) // cell
    if rows <= 0 or cols <= 0:
        return None
    return binary[dy : dy + rows * cell, dx : dx + cols * cell]


def _atlas_phase(binary: np.ndarray, atlas: Atlas) -> tuple[tuple[int, int], tuple[np.ndarray, np.ndarray]] | None:
    """The exact offset when the picture is the kit's own tiles (the fast path), with the exact
    read there (codes, matched) so it is not repeated; else None."""
    def candidates():
        yield (0, 0)  # where a good sample sits: one exact read settles it, no phase search
        cx, cy, (sx, sy) = fit_grid(binary, atlas)
        if min(sx.max(), sy.max()) >= 0.9:  # else most row segments are no tile's rows: not our font
            yield from ((dx, dy) for dy in cy for dx in cx if (dx, dy) != (0, 0))

    best, best_rate, best_read = None, -1.0, None
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
    return (best, best_read) if best is not None and best_rate >= 0.9 else None


def check_gray(name: str, gray: np.ndarray, cfg: CheckConfig, atlas: Atlas | None = None) -> tuple[ImageReport, Reading | None]:
    atlas = atlas or get_atlas(16)
    c = atlas.cell
    h, w = gray.shape
    r = ImageReport(file=name, size=[w, h])
    # reported, not judged: a quarter of the pixels (every other row and column) estimates them
    q = gray[::2, ::2]
    r.grey_fraction = round(float(1.0 - ((q <= cfg.black_tolerance) | (q >= 255 - cfg.white_tolerance)).mean()), 6)
    r.purity = round(float(((q == 0) | (q == 255)).mean()), 6)
    binary = binarize(gray)
    edges = transitions(binary)
    edge_grey, _ = edge_grey_share(gray, binary, cfg.black_tolerance, 255 - cfg.white_tolerance, edges)
    r.edge_grey = round(edge_grey, 6)
    r.criteria["crisp"] = edge_grey <= cfg.max_edge_grey
    if h < c or w < c:
        r.background_level = round(float(np.percentile(gray, 25)), 2)
        r.criteria["black_background"] = r.background_level <= cfg.max_background_level
        r.notes.append(f"smaller than one {c} px cell")
        return r, None
    r.background_level = background_level(gray, cell_counts(binary, c, (0, 0)), c)
    r.criteria["black_background"] = r.background_level <= cfg.max_background_level
    misfit = bool(w % c or h % c)
    if misfit:
        r.notes.append(f"size {w}x{h} is not a multiple of the {c} px cell")

    strokes = solid(binary)
    drawing = content(binary, strokes, c, cfg.min_cell_pixels)
    r.drawn_share = round(drawing.drawn_share, 6)
    has_content = (drawing.drawn_share >= cfg.min_drawn_share and drawing.breadth >= cfg.min_breadth
                   and drawing.speck_share <= cfg.max_speck_share)
    r.criteria["content"] = has_content
    if not binary.any():
        r.notes.append("blank: nothing drawn")
    elif drawing.speck_share > cfg.max_speck_share:
        r.notes.append(f"{drawing.speck_share:.0%} of the white pixels are isolated specks: noise, not a drawing")
    elif drawing.drawn_share < cfg.min_drawn_share:
        r.notes.append(f"only {drawing.drawn_share:.1%} of cells drawn (content needs {cfg.min_drawn_share:.0%})")
    elif drawing.breadth < cfg.min_breadth:
        r.notes.append("the drawing is a lone line or a few specks, not a picture")

    period, _ = measure_period(binary, c, edges=edges)
    r.measured_period = period
    offset, exact_read = (0, 0), None
    if drawing.drawn.any():
        fast = _atlas_phase(binary, atlas)
        if fast is not None:
            (offset, exact_read), r.phase_from = fast, "atlas"
        else:
            offset, r.phase_from = find_phase(binary, c), "geometry"
    crop = whole_cells(binary, c, offset)
    if crop is None:
        r.notes.append("no whole cell at the detected offset")
        return r, None
    drawn = drawing.drawn if offset == (0, 0) else cell_counts(strokes, c, offset) >= cfg.min_cell_pixels
    exact_read = exact_read or atlas.read_exact(crop)
    geo = explain(binary, drawn, c, offset, known=exact_read[1])
    r.grid_score = round(geo.score, 6)
    found = bool(drawn.any()) and geo.score >= cfg.min_grid_score
    reading = read(crop, drawn, atlas, offset, cfg.read_max_distance, cfg.read_min_margin, tolerant=found, exact=exact_read)
    period_ok = period is None or abs(period - c) <= cfg.max_period_error
    conf = reading.confidence
    r.cell_agreement = None if conf is None else round(conf, 6)
    r.ascii = grid_text(reading.codes)
    if found:
        r.offset = list(offset)
    r.cell_size = float(c) if found and period_ok else period
    r.criteria["grid_aligned"] = has_content and found and offset == (0, 0) and period_ok and not misfit
    if found and offset != (0, 0) and period_ok:
        r.notes.append(f"content is on a {c} px grid but shifted by {offset[0]},{offset[1]} px (`ascii-lora snap` repairs it)")
    if period is not None and not period_ok:
        r.notes.append(f"structures repeat every {period:.2f} px, not {c}: rescaled or drawn at another pitch?")
    elif drawing.drawn.any() and not found:
        r.notes.append(f"no {c} px grid: only {geo.score:.0%} of the drawn ink is reused cell patterns that sit in their cells")
    unknown = int((reading.drawn & ~reading.confident).sum())
    if unknown:
        r.notes.append(f"{unknown} of {int(reading.drawn.sum())} drawn cells read as no character ('?')")
    r.passed = all(r.criteria.values())
    return r, reading


def check_file(path: Path, cfg: CheckConfig, atlas: Atlas | None = None) -> tuple[ImageReport, Reading | None, np.ndarray | None]:
    try:
        gray = load_gray(path)
    except ImageReadError as e:
        return ImageReport(file=str(path), error=str(e)), None, None
    report, reading = check_gray(str(path), gray, cfg, atlas)
    return report, reading, gray


def read_at(gray: np.ndarray, cfg: CheckConfig, atlas: Atlas, offset: tuple[int, int]) -> Reading:
    """Read the cells of the grid at ``offset`` (snap's reading when no shifted grid was found)."""
    c = atlas.cell
    binary = binarize(gray)
    crop = whole_cells(binary, c, offset)
    drawn = cell_counts(solid(binary), c, offset) >= cfg.min_cell_pixels
    return read(crop, drawn, atlas, offset, cfg.read_max_distance, cfg.read_min_margin)
