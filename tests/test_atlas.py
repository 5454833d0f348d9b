"""The atlas is a font: one distinct tile per printable ASCII character, shared by draw and read."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ascii_lora.grid import symbols
from ascii_lora.grid.atlas import PRINTABLE, get_atlas


def test_one_tile_per_printable_character_all_distinct():
    atlas = get_atlas(16)
    assert atlas.chars == PRINTABLE and len(PRINTABLE) == 95
    assert atlas.tiles.shape == (95, 16, 16)
    packed = {t.tobytes() for t in atlas.tiles}
    assert len(packed) == 95


def test_reports_minimum_hamming_distance():
    dist, a, b = get_atlas(16).min_hamming()
    assert dist == 4 and {a, b} == {"I", "l"}  # one 8x8 design pixel = 4 px at 16


def test_map_symbols_are_characters_of_the_atlas():
    for ch in symbols.MAP_SYMBOLS:
        assert ch in PRINTABLE


def test_wall_reads_as_solid_masonry_and_floor_as_a_centred_dot():
    atlas = get_atlas(16)
    wall = atlas.tiles[PRINTABLE.index("#")]
    floor = atlas.tiles[PRINTABLE.index(".")]
    assert wall.mean() > 0.6  # mostly brick, with mortar joints
    ys, xs = np.nonzero(floor)
    assert floor.sum() == 16 and ys.mean() == 7.5 and xs.mean() == 7.5
    assert not atlas.tiles[PRINTABLE.index(" ")].any()


@pytest.mark.parametrize("char,arms", sorted(symbols.ARMS_OF_LINE.items()))
def test_line_walls_reach_exactly_the_edges_of_their_arms(char, arms):
    tile = get_atlas(16).tiles[PRINTABLE.index(char)]
    assert tile[0, 6:10].all() == bool(arms & symbols.NORTH) and tile[0].any() == bool(arms & symbols.NORTH)
    assert tile[-1].any() == bool(arms & symbols.SOUTH)
    assert tile[:, 0].any() == bool(arms & symbols.WEST)
    assert tile[:, -1].any() == bool(arms & symbols.EAST)


def _build_font_tool():
    path = Path(__file__).parents[1] / "tools" / "build_font.py"
    spec = importlib.util.spec_from_file_location("build_font", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


VGA_FONT = (
    Path(__file__).parent / "fixtures" / "fonts" / "Uni2-VGA8.psf.gz"
)  # provenance: README.md beside it


def test_packaged_font_is_exactly_the_vga_console_font():
    tool = _build_font_tool()
    psf = gzip.decompress(VGA_FONT.read_bytes())
    packaged = (
        Path(__file__).parents[1] / "src" / "ascii_lora" / "grid" / "data" / "vga8x8_ascii.txt"
    ).read_text()
    assert packaged == tool.render_table(tool.read_psf1(psf))


def test_text_glyphs_are_the_vga_font_doubled():
    font = _build_font_tool().read_psf1(gzip.decompress(VGA_FONT.read_bytes()))
    atlas = get_atlas(16)
    for ch in "AZaz09!?@$%&()/=_":
        bits = np.unpackbits(np.frombuffer(font[ord(ch)], dtype=np.uint8)).reshape(8, 8).astype(bool)
        assert np.array_equal(atlas.tiles[PRINTABLE.index(ch)], np.kron(bits, np.ones((2, 2), dtype=bool))), (
            ch
        )


@pytest.mark.parametrize("cell", [8, 16, 32])
def test_cell_size_scales_the_same_design(cell):
    small, big = get_atlas(8), get_atlas(cell)
    k = cell // 8
    assert np.array_equal(big.tiles, small.tiles.repeat(k, axis=1).repeat(k, axis=2))


def test_bad_cell_size_is_refused():
    with pytest.raises(ValueError, match="multiple of 8"):
        get_atlas(12)


def test_render_refuses_characters_outside_the_atlas():
    with pytest.raises(ValueError, match="outside the atlas"):
        get_atlas(16).render(np.array([[9]], dtype=np.uint8))


printable_grids = arrays(
    np.uint8,
    st.tuples(st.integers(1, 12), st.integers(1, 12)),
    elements=st.integers(0x20, 0x7E),
)


@settings(max_examples=60, deadline=None)
@given(printable_grids)
def test_round_trip_render_then_read_gives_the_grid_back(grid):
    atlas = get_atlas(16)
    image = atlas.render(grid)
    assert image.shape == (grid.shape[0] * 16, grid.shape[1] * 16)
    codes, matched = atlas.read_exact(image)
    assert matched.all()
    assert np.array_equal(codes, grid)
    idx, dist = atlas.nearest(atlas.cells(image))
    assert (dist == 0).all() and np.array_equal(atlas.codes[idx], grid)


def test_read_marks_cells_that_match_no_tile():
    atlas = get_atlas(16)
    image = atlas.render(np.array([[ord("#"), ord(".")]], dtype=np.uint8))
    image[3, 20] ^= True
    codes, matched = atlas.read_exact(image)
    assert matched.tolist() == [[True, False]]
    idx, dist = atlas.nearest(atlas.cells(image))
    assert dist.tolist() == [[0, 1]] and atlas.chars[idx[0, 1]] == "."


@pytest.mark.parametrize("cell", [8, 16, 32])
def test_pil_render_equals_numpy_render(cell):
    grid = np.frombuffer(PRINTABLE.encode() * 3, dtype=np.uint8)[:285].reshape(15, 19)
    atlas = get_atlas(cell)
    assert np.array_equal(np.asarray(atlas.render_image(grid)), atlas.render(grid).astype(np.uint8) * 255)


DOOR_DESIGN = """
..####..
.#....#.
.#....#.
.#...##.
.#...##.
.#....#.
.#....#.
.######.
"""


def test_door_is_a_framed_panel_with_a_handle():
    """The design, pixel for pixel: a door that loses its handle or a frame pixel reads as wall."""
    want = np.array([[c == "#" for c in row] for row in DOOR_DESIGN.split()], dtype=bool)
    tile = get_atlas(8).tiles[PRINTABLE.index(symbols.DOOR)]
    assert np.array_equal(tile, want)
    assert np.array_equal(
        get_atlas(16).tiles[PRINTABLE.index(symbols.DOOR)], np.kron(want, np.ones((2, 2), dtype=bool))
    )


def test_map_glyph_designs_are_pinned():
    """Changing any map glyph changes every dataset and the checker's reading: do it on purpose.

    On a deliberate change: re-check min_hamming, update this digest, regenerate datasets.
    """
    import hashlib

    atlas = get_atlas(8)
    packed = b"".join(atlas.tiles[PRINTABLE.index(c)].tobytes() for c in sorted(symbols.MAP_SYMBOLS))
    assert (
        hashlib.sha256(packed).hexdigest()
        == "efe90cbbb25eb818d035c43f4529513cb9534c0ec10999ad12b2a1adfe371c9e"
    )
