"""Dataset pictures as 1-bit PNGs, written straight from the cell grid.

A dataset picture has two colours, so one bit per pixel says everything: the file is a PNG of
colour type 0 (greyscale) at bit depth 1, which Pillow opens as mode "1" and converts to RGB as
exact 0/255 (sd-scripts' loader does exactly that; tests/test_png.py holds the two paths equal).

Why not Pillow's encoder: the picture is a grid of tiles, and a tile row of a 16 px cell is two
bytes, so the packed scanlines are a table look-up of the grid (no 1 MP boolean image is ever
made), and the PNG around them is three chunks. Pillow would need that image first and then packs
it bit by bit; this path costs a fraction of Pillow's own 1-bit encode of the same pixels
(`make bench` shows both).

Scanline filters: PNG lets every row pick a filter. Tiles are drawn at 8 px and enlarged, so most
rows repeat the row above; those get filter "Up" (their bytes become zeros, which deflate almost
for free) and the others "None". The choice depends only on the pixels, so the bytes stay a pure
function of the grid.
"""

from __future__ import annotations

import struct
import zlib
from functools import lru_cache

import numpy as np

from ..grid.atlas import Atlas

SIGNATURE = b"\x89PNG\r\n\x1a\n"
FILTER_NONE, FILTER_UP = 0, 2

# zlib level, chosen by `tools/png_levels.py` (140 default-config images, CPU ms per image for
# scanlines + filters + deflate on one core, mean file size; 2-core shared box, 2026-11-26):
#   level 0  0.24 ms  129 KiB (stored)     level 4  0.61 ms  3.7 KiB
#   level 1  0.38 ms  5.0 KiB              level 6  0.95 ms  3.1 KiB
#   level 2  0.39 ms  4.5 KiB              level 9  5.58 ms  2.7 KiB
#   level 3  0.45 ms  4.1 KiB              (Pillow mode "1" level 1: 1.59 ms, 5.1 KiB;
#                                           the old 8-bit level-6 files: 5.71 ms, 6.6 KiB)
# Levels 1-3 run zlib's fast matcher; level 2 costs what level 1 does and writes 10 % fewer bytes,
# and every level past it buys a few hundred bytes (a 280-image dataset is ~1.3 MB at level 2)
# with encode time, which is what the generator spends most of its time on: level 2.
COMPRESS_LEVEL = 2

FORMAT = {
    "mode": "1",
    "bit_depth": 1,
    "values": [0, 255],
    "compress_level": COMPRESS_LEVEL,
    "filters": "up where a row repeats the row above, else none",
}


_WORD = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


@lru_cache(maxsize=8)
def _packed_tiles(atlas: Atlas) -> np.ndarray:
    """Every tile row as PNG bits (first pixel in the high bit, 1 = white): (tiles, cell) words
    when a tile row fills a 1/2/4/8-byte word (one gather moves a whole tile row), else
    (tiles, cell, cell // 8) bytes."""
    packed = np.ascontiguousarray(np.packbits(atlas.tiles, axis=2))
    word = _WORD.get(packed.shape[2])
    return packed.view(word)[..., 0] if word else packed


def scanlines(grid: np.ndarray, atlas: Atlas) -> np.ndarray:
    """Cell grid -> packed 1-bit rows (rows*cell, cols*cell/8): the picture ``atlas.render`` draws."""
    idx = atlas.index_of_code[grid]
    if (idx < 0).any():
        atlas.render(grid)  # raises the helpful error naming the characters
    rows, cols = grid.shape
    c = atlas.cell
    table = _packed_tiles(atlas)
    if table.ndim == 2:  # (rows, cols, cell) words -> (rows, cell, cols) -> bytes
        lines = np.ascontiguousarray(table[idx].transpose(0, 2, 1))
        return lines.view(np.uint8).reshape(rows * c, cols * (c // 8))
    packed: np.ndarray = table[idx].transpose(0, 2, 1, 3).reshape(rows * c, cols * (c // 8))
    return packed


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_scanlines(bits: np.ndarray, level: int = COMPRESS_LEVEL) -> bytes:
    """Packed 1-bit rows (height, width/8) -> PNG file bytes (greyscale, bit depth 1)."""
    height, row_bytes = bits.shape
    raw = np.empty((height, row_bytes + 1), dtype=np.uint8)
    raw[:, 0] = FILTER_NONE
    raw[:, 1:] = bits
    words = bits.view(np.uint64) if row_bytes % 8 == 0 and bits.flags.c_contiguous else bits
    repeat = np.flatnonzero((words[1:] == words[:-1]).all(axis=1)) + 1
    raw[repeat, 0] = FILTER_UP
    raw[repeat, 1:] = 0  # "Up": each byte minus the byte above
    header = struct.pack(">IIBBBBB", row_bytes * 8, height, 1, 0, 0, 0, 0)
    return (
        SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw.tobytes(), level))
        + _chunk(b"IEND", b"")
    )


def encode_grid(grid: np.ndarray, atlas: Atlas, level: int = COMPRESS_LEVEL) -> bytes:
    """Cell grid -> the dataset PNG of its picture."""
    return encode_scanlines(scanlines(grid, atlas), level)
