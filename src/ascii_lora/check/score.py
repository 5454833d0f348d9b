"""Score one sample against the kit's promise: black background, crisp white, structures on the grid.

The reading uses the generator's own atlas: a cell "agrees" when its binarized content is within
a few pixels of some tile. The grid's phase is found first (grid_detect), so a perfect picture
drawn a few pixels off is reported with its true offset and read correctly, yet fails alignment.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..grid.atlas import Atlas, get_atlas
from ..config.models import CheckConfig
from .grid_detect import fit_grid
from ..imageio import ImageReadError, load_gray
from ..grid.layout import grid_text

UNKNOWN = "?"


@dataclass
class Reading:
    """Cells read at one phase: tile index, distance to it, and which ones agree."""

    offset: tuple[int, int]
    tiles: np.ndarray  # (rows, cols) atlas indices of the nearest tile
    distance: np.ndarray  # (rows, cols) Hamming distance to it
    agree: np.ndarray  # (rows, cols) bool

    @property
    def agreement(self) -> float:
        return float(self.agree.mean()) if self.agree.size else 0.0


@dataclass
class ImageReport:
    file: str
    passed: bool = False
    criteria: dict[str, bool] = field(default_factory=lambda: {"black_background": False, "crisp": False, "grid_aligned": False})
    grey_fraction: float | None = None
    purity: float | None = None
    background_level: float | None = None
    offset: list[int] | None = None
    cell_size: float | None = None
    measured_period: float | None = None
    cell_agreement: float | None = None
    size: list[int] | None = None
    ascii: str | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def background_level(gray: np.ndarray, binary: np.ndarray, cell: int) -> float:
    """Level of the empty cells: what the picture is drawn on, whatever its density.

    Cells whose binarized pixels are all alike are empty (black void, or white if inverted);
    their centre pixels are sampled. A pixel percentile instead would call a dense brick map
    "white". Without any empty cell, the darkest quartile stands in.
    """
    rows, cols = gray.shape[0] // cell, gray.shape[1] // cell
    if rows and cols:
        b = binary[: rows * cell, : cols * cell].view(np.uint8)
        counts = b.reshape(rows * cell, cols, cell).sum(axis=2, dtype=np.uint16).reshape(rows, cell, cols).sum(axis=1)
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


def read_cells(binary: np.ndarray, atlas: Atlas, offset: tuple[int, int], tolerance: int) -> Reading:
    """Nearest tile per whole cell of the grid at ``offset``; exact matches skip the distance sum."""
    crop = whole_cells(binary, atlas.cell, offset)
    if crop is None:
        empty = np.zeros((0, 0), dtype=np.int64)
        return Reading(offset, empty, empty, empty.astype(bool))
    codes, matched = atlas.read_exact(crop)
    rows, cols = codes.shape
    tiles = atlas.index_of_code[codes].astype(np.int64)
    distance = np.zeros((rows, cols), dtype=np.int32)
    if not matched.all():
        blocks = atlas.cells(crop)[~matched]
        idx, dist = atlas.nearest(blocks)
        tiles[~matched] = idx
        distance[~matched] = dist
    return Reading(offset, tiles, distance, distance <= tolerance)


def exact_rate(binary: np.ndarray, atlas: Atlas, offset: tuple[int, int]) -> float:
    """Share of non-blank cells that are exactly a tile at ``offset``: cheap, decisive on clean input."""
    crop = whole_cells(binary, atlas.cell, offset)
    if crop is None:
        return 0.0
    codes, matched = atlas.read_exact(crop)
    blank = matched & (codes == ord(" "))
    n = (~blank).sum()
    return float((matched & ~blank).sum() / n) if n else 1.0




def sampled_agreement(binary: np.ndarray, atlas: Atlas, offset: tuple[int, int], tolerance: int, every: int = 4) -> float:
    """Tolerant agreement on every ``every``-th cell row: a quarter of the cost, same ranking."""
    dx, dy = offset
    c = atlas.cell
    rows = (binary.shape[0] - dy) // c
    if rows <= 0:
        return 0.0
    starts = dy + c * np.arange(0, rows, every)
    sub = binary[(starts[:, None] + np.arange(c)).ravel()]
    return read_cells(sub, atlas, (dx, 0), tolerance).agreement


def text_of(reading: Reading, atlas: Atlas) -> str:
    """Read-back text; cells beyond tolerance read as ``?`` rather than as a guess."""
    if not reading.tiles.size:
        return ""
    chars = np.where(reading.agree, atlas.codes[reading.tiles], ord(UNKNOWN)).astype(np.uint8)
    return grid_text(chars)


def check_gray(name: str, gray: np.ndarray, cfg: CheckConfig, atlas: Atlas | None = None) -> tuple[ImageReport, Reading | None]:
    atlas = atlas or get_atlas(16)
    c = atlas.cell
    h, w = gray.shape
    r = ImageReport(file=name, size=[w, h])
    black = gray <= cfg.black_tolerance
    white = gray >= 255 - cfg.white_tolerance
    grey = ~(black | white)
    r.grey_fraction = round(float(grey.mean()), 6)
    r.purity = round(float(((gray == 0) | (gray == 255)).mean()), 6)
    binary = binarize(gray)
    r.background_level = background_level(gray, binary, atlas.cell)
    r.criteria["crisp"] = r.grey_fraction <= cfg.max_grey_fraction
    r.criteria["black_background"] = r.background_level <= cfg.max_background_level
    if h < c or w < c:
        r.notes.append(f"smaller than one {c} px cell")
        return r, None
    if w % c or h % c:
        r.notes.append(f"size {w}x{h} is not a multiple of the {c} px cell")

    cx, cy, period, _ = fit_grid(binary, atlas)
    combos = [(dx, dy) for dy in cy for dx in cx]
    rates = [exact_rate(binary, atlas, o) for o in combos]
    if max(rates) >= 0.9:
        best = combos[int(np.argmax(rates))]
        reading = read_cells(binary, atlas, best, cfg.cell_tolerance)
    else:  # degraded: judge by tolerant agreement, then refine each axis over all phases
        best = max(combos, key=lambda o: sampled_agreement(binary, atlas, o, cfg.cell_tolerance))
        dy = max(range(c), key=lambda d: sampled_agreement(binary, atlas, (best[0], d), cfg.cell_tolerance))
        dx = max(range(c), key=lambda d: sampled_agreement(binary, atlas, (d, dy), cfg.cell_tolerance))
        reading = read_cells(binary, atlas, (dx, dy), cfg.cell_tolerance)
    r.offset = list(reading.offset)
    r.cell_agreement = round(reading.agreement, 6)
    r.measured_period = None if np.isnan(period) else round(period, 2)
    confirmed = r.cell_agreement >= cfg.min_cell_agreement
    r.cell_size = float(c) if confirmed else r.measured_period
    r.ascii = text_of(reading, atlas)
    if not binary.any():
        r.notes.append("blank: nothing drawn")
    r.criteria["grid_aligned"] = confirmed and reading.offset == (0, 0) and not (w % c or h % c)
    if confirmed and reading.offset != (0, 0):
        r.notes.append(f"content is on a {c} px grid but shifted by {reading.offset[0]},{reading.offset[1]} px (`ascii-lora snap` repairs it)")
    if not confirmed and r.measured_period and abs(r.measured_period - c) > 0.15 and abs(r.measured_period - round(r.measured_period / c) * c) > 0.15:
        r.notes.append(f"structures repeat every {r.measured_period:.2f} px, not {c}: rescaled?")
    r.passed = all(r.criteria.values())
    return r, reading


def check_file(path: Path, cfg: CheckConfig, atlas: Atlas | None = None) -> tuple[ImageReport, Reading | None, np.ndarray | None]:
    try:
        gray = load_gray(path)
    except ImageReadError as e:
        return ImageReport(file=str(path), error=str(e)), None, None
    report, reading = check_gray(str(path), gray, cfg, atlas)
    return report, reading, gray
