"""The tile atlas: one binary tile per printable ASCII character, shared by generator and checker.

Everything is designed on an 8x8 grid and scaled by an integer factor, so a 16 px cell is the
VGA console glyph doubled. The map symbols replace the font's glyphs for their characters: a
``#`` is masonry, a ``.`` a centred floor dot, ``-``/``|`` and the corner characters are
line walls whose strokes reach the cell edges so that neighbouring cells join into outlines.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np

from . import symbols

if TYPE_CHECKING:  # PIL is imported where a picture is made, not with the atlas
    from PIL import Image

DESIGN = 8
PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F))

_MASONRY = (
    "#######.",
    "#######.",
    "#######.",
    "........",
    "###.####",
    "###.####",
    "###.####",
    "........",
)
_FLOOR = (
    "........",
    "........",
    "........",
    "...##...",
    "...##...",
    "........",
    "........",
    "........",
)
_DOOR = (
    "..####..",
    ".#....#.",
    ".#....#.",
    ".#...##.",
    ".#...##.",
    ".#....#.",
    ".#....#.",
    ".######.",
)


def _bitmap(rows: tuple[str, ...]) -> np.ndarray:
    return np.array([[c == "#" for c in row] for row in rows], dtype=bool)


def _line_tile(arms: int) -> np.ndarray:
    """A 2 px stroke (4 px at 16) from the centre to each edge named in ``arms``."""
    tile = np.zeros((DESIGN, DESIGN), dtype=bool)
    tile[3:5, 3:5] = True
    if arms & symbols.NORTH:
        tile[:5, 3:5] = True
    if arms & symbols.SOUTH:
        tile[3:, 3:5] = True
    if arms & symbols.WEST:
        tile[3:5, :5] = True
    if arms & symbols.EAST:
        tile[3:5, 3:] = True
    return tile


def _font_glyphs() -> dict[str, np.ndarray]:
    text = resources.files("ascii_lora.grid").joinpath("data/vga8x8_ascii.txt").read_text("ascii")
    glyphs: dict[str, np.ndarray] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        code, *rows = line.split()
        bits = np.unpackbits(np.array([int(r, 16) for r in rows], dtype=np.uint8))
        glyphs[chr(int(code, 16))] = bits.reshape(DESIGN, DESIGN).astype(bool)
    return glyphs


def design_tiles() -> dict[str, np.ndarray]:
    """All 95 tiles at the 8x8 design size, map symbols overriding the font."""
    tiles = _font_glyphs()
    tiles[symbols.VOID] = np.zeros((DESIGN, DESIGN), dtype=bool)
    tiles[symbols.FLOOR] = _bitmap(_FLOOR)
    tiles[symbols.WALL] = _bitmap(_MASONRY)
    tiles[symbols.DOOR] = _bitmap(_DOOR)
    for char, arms in symbols.ARMS_OF_LINE.items():
        tiles[char] = _line_tile(arms)
    return tiles


@dataclass(frozen=True, eq=False)
class Atlas:
    """Tiles in character order plus the lookups that make render and read-back vectorized."""

    cell: int
    chars: str
    tiles: np.ndarray  # (95, cell, cell) bool
    index_of_code: np.ndarray  # (256,) int16: ASCII code -> tile index, -1 outside the atlas
    flat: np.ndarray  # (95, cell*cell) bool
    tiles_gray: np.ndarray  # (95, cell, cell) uint8 0/255
    _keys: np.ndarray  # packed tiles as sortable void scalars
    _key_order: np.ndarray

    @property
    def codes(self) -> np.ndarray:
        return symbols.codes(self.chars)

    def min_hamming(self) -> tuple[int, str, str]:
        """Smallest pixel distance between two tiles, and which pair: how much noise a read survives."""
        f = self.flat.astype(np.int32)
        dist = f.sum(1)[:, None] + f.sum(1)[None, :] - 2 * f @ f.T
        np.fill_diagonal(dist, np.iinfo(np.int32).max)
        i, j = np.unravel_index(np.argmin(dist), dist.shape)
        return int(dist[i, j]), self.chars[i], self.chars[j]

    def render(self, grid: np.ndarray) -> np.ndarray:
        """Cell grid of ASCII codes (rows, cols) -> boolean image (rows*cell, cols*cell), True = white."""
        idx = self.index_of_code[grid]
        if (idx < 0).any():
            bad = sorted({chr(c) for c in np.unique(grid[idx < 0])})
            raise ValueError(f"grid holds characters outside the atlas: {bad!r}")
        rows, cols = grid.shape
        c = self.cell
        image: np.ndarray = self.tiles[idx].transpose(0, 2, 1, 3).reshape(rows * c, cols * c)
        return image

    def render_gray(self, grid: np.ndarray) -> np.ndarray:
        """Cell grid -> uint8 image of exact 0/255, written in one pass straight into place."""
        idx = self.index_of_code[grid]
        if (idx < 0).any():
            return self.render(grid)  # raises the helpful error
        rows, cols = grid.shape
        c = self.cell
        out = np.empty((rows, c, cols, c), dtype=np.uint8)
        np.take(self.tiles_gray, idx, axis=0, out=out.transpose(0, 2, 1, 3))
        return out.reshape(rows * c, cols * c)

    def render_image(self, grid: np.ndarray) -> Image.Image:
        """Cell grid -> PIL 'L' image: drawn at the 8 px design size, then enlarged by PIL's C
        nearest-neighbour resize (exact: every tile is its design doubled), a quarter of the bytes in numpy."""
        from PIL import Image

        small = get_atlas(DESIGN).render_gray(grid)
        if self.cell == DESIGN:
            return Image.fromarray(small)
        h, w = small.shape
        k = self.cell // DESIGN
        return Image.fromarray(small).resize((w * k, h * k), Image.Resampling.NEAREST)

    def cells(self, image: np.ndarray) -> np.ndarray:
        """Boolean image -> (rows, cols, cell*cell) blocks, one per cell."""
        c = self.cell
        h, w = image.shape
        if h % c or w % c:
            raise ValueError(f"image size {w}x{h} is not a multiple of the {c} px cell")
        return image.reshape(h // c, c, w // c, c).transpose(0, 2, 1, 3).reshape(h // c, w // c, c * c)

    def read_exact(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boolean image -> (codes grid, matched mask). Unmatched cells get code 0."""
        blocks = self.cells(image)
        rows, cols, _ = blocks.shape
        packed = np.packbits(blocks.reshape(rows * cols, -1), axis=1)
        keys = np.ascontiguousarray(packed).view(f"V{packed.shape[1]}").ravel()
        pos = np.searchsorted(self._keys, keys)
        pos = np.clip(pos, 0, len(self._keys) - 1)
        matched = self._keys[pos] == keys
        out = np.where(matched, self.codes[self._key_order[pos]], 0).astype(np.uint8)
        return out.reshape(rows, cols), matched.reshape(rows, cols)

    def nearest(self, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(..., cell*cell) bool blocks -> (tile index, Hamming distance) of the closest tile."""
        shape = blocks.shape[:-1]
        b = blocks.reshape(-1, blocks.shape[-1]).astype(np.float32)
        t = self.flat.astype(np.float32)
        dist = b.sum(1)[:, None] + t.sum(1)[None, :] - 2.0 * (b @ t.T)
        best = np.argmin(dist, axis=1)
        return best.reshape(shape), np.rint(dist[np.arange(len(best)), best]).astype(np.int32).reshape(shape)


@cache
def get_atlas(cell: int = 16) -> Atlas:
    """The atlas at ``cell`` px (a multiple of 8). Cached: building it is the only slow step."""
    if cell < DESIGN or cell % DESIGN:
        raise ValueError(f"cell size must be a positive multiple of {DESIGN}, got {cell}")
    design = design_tiles()
    scale = cell // DESIGN
    tiles = np.stack([np.kron(design[ch], np.ones((scale, scale), dtype=bool)) for ch in PRINTABLE])
    tiles.setflags(write=False)
    flat = tiles.reshape(len(PRINTABLE), -1)
    index = np.full(256, -1, dtype=np.int16)
    index[symbols.codes(PRINTABLE)] = np.arange(len(PRINTABLE))
    packed = np.packbits(flat, axis=1)
    keys = np.ascontiguousarray(packed).view(f"V{packed.shape[1]}").ravel()
    order = np.argsort(keys)
    if len(np.unique(keys)) != len(keys):
        raise AssertionError("atlas tiles are not all distinct")
    gray = tiles.astype(np.uint8) * np.uint8(255)
    return Atlas(cell, PRINTABLE, tiles, index, flat, gray, keys[order], order)
