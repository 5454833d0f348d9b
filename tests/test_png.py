"""Dataset PNGs are 1-bit files that every reader sees as the exact 0/255 picture of the grid."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ascii_lora.config.models import DatasetConfig
from ascii_lora.dataset.families import FAMILIES
from ascii_lora.dataset.png import FORMAT, encode_grid, encode_scanlines, scanlines
from ascii_lora.dataset.sample import make_sample
from ascii_lora.grid.atlas import get_atlas


def grid_of(family: str, seed: int, cfg: DatasetConfig | None = None) -> np.ndarray:
    return FAMILIES[family](np.random.default_rng([41, seed]), cfg or DatasetConfig()).grid


def sd_scripts_load_image(path: Path) -> np.ndarray:
    """What sd-scripts does with a training image (library/train_util.py, load_image, at the pinned
    commit 48d368fa): Pillow open, convert to RGB unless it is RGB, numpy uint8 array."""
    with Image.open(path) as image:
        if not image.mode == "RGB":
            image = image.convert("RGB")
        return np.array(image, np.uint8)


def chunks(data: bytes) -> list[tuple[bytes, bytes, int]]:
    """(type, payload, stored CRC) of every chunk, read by the PNG spec's layout."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    out, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        payload = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        out.append((kind, payload, crc))
        pos += 12 + length
    return out


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_sd_scripts_loader_reads_the_1_bit_file_exactly_as_the_8_bit_one(family, tmp_path):
    grid = grid_of(family, 1)
    one_bit = tmp_path / "one.png"
    one_bit.write_bytes(encode_grid(grid, get_atlas(16)))
    eight_bit = tmp_path / "eight.png"
    Image.fromarray(get_atlas(16).render(grid).astype(np.uint8) * 255, mode="L").save(eight_bit)
    with Image.open(one_bit) as im:
        assert im.mode == "1" and im.size == (1024, 1024)
    a, b = sd_scripts_load_image(one_bit), sd_scripts_load_image(eight_bit)
    assert a.shape == (1024, 1024, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert set(np.unique(a).tolist()) == {0, 255}


@pytest.mark.parametrize("cell", [8, 16, 24, 32])  # 24: a tile row of 3 bytes, no machine word
@pytest.mark.parametrize("family", ["text", "rooms_and_mazes"])
def test_decoded_pixels_are_the_atlas_picture_at_every_cell_size(family, cell):
    grid = grid_of(family, 2, DatasetConfig(resolution=40 * 16))
    with Image.open(io.BytesIO(encode_grid(grid, get_atlas(cell)))) as im:
        assert im.mode == "1" and im.size == (40 * cell, 40 * cell)
        assert np.array_equal(np.asarray(im), get_atlas(cell).render(grid))


def test_header_declares_1_bit_greyscale_and_every_chunk_checksum_holds():
    data = encode_grid(grid_of("dungeon", 3), get_atlas(16))
    parts = chunks(data)
    assert [kind for kind, _, _ in parts] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", parts[0][1])
    assert (width, height, depth, colour, compression, filtering, interlace) == (1024, 1024, 1, 0, 0, 0, 0)
    for kind, payload, crc in parts:
        assert zlib.crc32(kind + payload) == crc


@pytest.mark.parametrize("kind", ["random", "all repeated", "alternating"])
def test_any_bits_survive_the_row_filters(kind):
    """Rows that repeat the row above are stored as "Up" differences: check both kinds of row."""
    rng = np.random.default_rng(0)
    if kind == "random":
        bits = rng.integers(0, 256, (37, 16), dtype=np.uint8)
    elif kind == "all repeated":
        bits = np.tile(rng.integers(0, 256, (1, 16), dtype=np.uint8), (37, 1))
    else:
        bits = np.repeat(rng.integers(0, 256, (19, 16), dtype=np.uint8), 2, axis=0)[:37]
    with Image.open(io.BytesIO(encode_scanlines(bits))) as im:
        assert im.size == (128, 37) and im.mode == "1"
        assert np.array_equal(np.asarray(im), np.unpackbits(bits, axis=1).astype(bool))


def test_one_bit_files_are_several_times_smaller_than_8_bit_ones_of_the_same_pixels():
    cfg = DatasetConfig()
    ours = theirs = 0
    for i, family in enumerate(sorted(FAMILIES)):
        grid = grid_of(family, i)
        ours += len(encode_grid(grid, get_atlas(16)))
        buf = io.BytesIO()
        Image.fromarray(get_atlas(cfg.cell_size).render(grid).astype(np.uint8) * 255).save(
            buf, "PNG", compress_level=2
        )
        theirs += len(buf.getvalue())
    assert theirs / ours > 2.5


def test_images_of_a_dataset_all_differ():
    cfg = DatasetConfig(count=56, seed=8)
    from ascii_lora.dataset.sample import family_schedule

    blobs = [
        make_sample(cfg, fam, i).png for i, fam in enumerate(family_schedule(cfg.mix.weights(), cfg.count))
    ]
    assert len(set(blobs)) == len(blobs)


def idat_rows(data: bytes, row_bytes: int) -> np.ndarray:
    """The decompressed IDAT as (height, 1 + row_bytes): each row's filter type byte, then its data."""
    stream = b"".join(payload for kind, payload, _ in chunks(data) if kind == b"IDAT")
    return np.frombuffer(zlib.decompress(stream), np.uint8).reshape(-1, 1 + row_bytes)


@pytest.mark.parametrize("row_bytes", [1, 3, 9, 12])  # widths that fill no 8-byte word
def test_rows_of_any_byte_width_decode_exactly(row_bytes):
    rng = np.random.default_rng(row_bytes)
    bits = np.repeat(rng.integers(0, 256, (7, row_bytes), dtype=np.uint8), 3, axis=0)  # repeats too
    with Image.open(io.BytesIO(encode_scanlines(bits))) as im:
        assert im.size == (8 * row_bytes, 21)
        assert np.array_equal(np.asarray(im), np.unpackbits(bits, axis=1).astype(bool))


@pytest.mark.parametrize("layout", ["fortran order", "column slice", "reversed rows"])
def test_rows_in_any_memory_layout_decode_exactly(layout):
    rng = np.random.default_rng(5)
    base = np.repeat(rng.integers(0, 256, (6, 32), dtype=np.uint8), 2, axis=0)
    bits = {
        "fortran order": np.asfortranarray(base[:, :16]),
        "column slice": base[:, 8:24],
        "reversed rows": base[::-1, :16],
    }[layout]
    assert not bits.flags.c_contiguous
    with Image.open(io.BytesIO(encode_scanlines(bits))) as im:
        assert np.array_equal(np.asarray(im), np.unpackbits(np.ascontiguousarray(bits), axis=1).astype(bool))


def test_a_row_that_repeats_the_row_above_is_stored_as_up_differences_and_no_other_is():
    """The module's promise (filter "Up" exactly where a row repeats the row above, "None"
    elsewhere), read back from the inflated IDAT as the PNG spec lays it out."""
    rng = np.random.default_rng(3)
    bits = rng.integers(0, 256, (12, 16), dtype=np.uint8)
    for row in (2, 3, 7, 11):  # these repeat the row above
        bits[row] = bits[row - 1]
    bits[5, 3] ^= 1  # row 5 differs from row 4 by a single bit
    bits[4] = bits[5]
    bits[4, 3] ^= 1
    rows = idat_rows(encode_scanlines(bits), 16)
    assert np.flatnonzero(rows[:, 0] == 2).tolist() == [2, 3, 7, 11]
    assert np.flatnonzero(rows[:, 0] == 0).tolist() == [0, 1, 4, 5, 6, 8, 9, 10]
    assert not rows[[2, 3, 7, 11], 1:].any()  # Up: byte minus the byte above, all zero
    assert np.array_equal(rows[[0, 1, 4, 5, 6, 8, 9, 10], 1:], bits[[0, 1, 4, 5, 6, 8, 9, 10]])


def test_a_picture_with_no_repeated_row_uses_no_up_filter():
    bits = np.arange(10 * 16, dtype=np.uint8).reshape(10, 16)
    assert not idat_rows(encode_scanlines(bits), 16)[:, 0].any()


def test_uniform_picture_stores_every_row_after_the_first_as_up():
    bits = np.full((9, 16), 0b10110001, np.uint8)
    assert idat_rows(encode_scanlines(bits), 16)[:, 0].tolist() == [0] + [2] * 8


def zlib_level_class(data: bytes) -> tuple[int, int]:
    """(FLEVEL of the zlib header, IDAT payload size): RFC 1950 FLEVEL is 0 for zlib levels 0-1,
    1 for 2-5, 2 for 6 and 3 for 7-9."""
    idat = b"".join(payload for kind, payload, _ in chunks(data) if kind == b"IDAT")
    return idat[1] >> 6, len(idat)


def test_the_compression_level_asked_for_reaches_zlib():
    grid = grid_of("dungeon", 4)
    atlas = get_atlas(16)
    stored_flevel, stored_size = zlib_level_class(encode_grid(grid, atlas, level=0))
    assert stored_flevel == 0 and stored_size > 1024 * (
        1 + 128
    )  # level 0 stores: no smaller than the raw rows
    assert zlib_level_class(encode_grid(grid, atlas, level=9))[0] == 3
    assert zlib_level_class(encode_scanlines(scanlines(grid, atlas), level=9))[0] == 3
    assert zlib_level_class(encode_grid(grid, atlas, level=4))[0] == 1
    for level in (0, 9):
        with Image.open(io.BytesIO(encode_grid(grid, atlas, level=level))) as im:
            assert np.array_equal(np.asarray(im), atlas.render(grid))


def test_the_dataset_files_use_the_documented_fast_zlib_level():
    """FORMAT (recorded in the dataset manifest) says compress_level 2: a file at level 6 would
    still decode, but would no longer be what the manifest describes."""
    assert FORMAT["compress_level"] == 2
    assert zlib_level_class(encode_grid(grid_of("text", 5), get_atlas(16)))[0] == 1


def test_the_end_chunk_is_empty_as_the_png_spec_requires():
    parts = chunks(encode_grid(grid_of("cave", 6), get_atlas(16)))
    assert parts[-1][:2] == (b"IEND", b"")


def test_a_grid_with_a_character_outside_the_atlas_is_refused_by_name():
    grid = grid_of("text", 7)
    grid[3, 4] = 7  # BEL: no glyph in the atlas
    with pytest.raises(ValueError, match=r"outside the atlas: \['\\x07'\]"):
        encode_grid(grid, get_atlas(16))
