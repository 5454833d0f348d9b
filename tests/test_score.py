"""One picture's report (check/score.py), held against hand-built pictures whose every number is
known by construction: bands of known grey, empty cells of a known level, kit pictures shifted by
a known offset, drawings too small, too thin or too noisy to count."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from ascii_lora.check.geometry import content, solid
from ascii_lora.check.score import binarize, check_file, check_gray, read_at, whole_cells
from ascii_lora.config.models import CheckConfig, DatasetConfig
from ascii_lora.dataset.families import FAMILIES
from ascii_lora.grid.atlas import get_atlas
from ascii_lora.grid.layout import grid_text
from tests.checker_cases import (
    atlas_layout,
    draw_rooms,
    morphed_tiles,
    pil_glyphs,
    render,
    room_grid,
    text_grid,
)

CFG = CheckConfig()
ATLAS = get_atlas(16)


def kit(family: str = "dungeon", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 picture drawn with the kit's tiles, its grid of character codes)."""
    lay = FAMILIES[family](np.random.default_rng([11, seed]), DatasetConfig())
    return ATLAS.render_gray(lay.grid), lay.grid


def report(gray: np.ndarray, cfg: CheckConfig = CFG):
    return check_gray("x", np.asarray(gray, dtype=np.float32), cfg, ATLAS)


def moved(img: np.ndarray, dx: int, dy: int) -> np.ndarray:
    out = np.zeros_like(img)
    out[dy:, dx:] = img[: img.shape[0] - dy, : img.shape[1] - dx]
    return out


# -- reported pixel statistics ---------------------------------------------------------------------


@pytest.mark.parametrize("bands", ["rows", "columns"])
def test_grey_fraction_and_purity_of_bands_of_known_levels(bands):
    """Four bands of 256 rows (or columns) at 8, 9, 246 and 247: with tolerances of 8, levels 8
    and 247 count as black and white (not grey, not pure), 9 and 246 are grey."""
    gray = np.repeat(np.array([8, 9, 246, 247], np.float32), 256)[:, None] * np.ones((1, 1024), np.float32)
    r, _ = report(gray if bands == "rows" else gray.T)
    assert r.grey_fraction == 0.5 and r.purity == 0.0


def test_one_grey_pixel_in_a_quarter_sample_is_reported_to_six_decimals():
    """Every other row and column of 1024 x 1024 is 262144 pixels: one of them grey is 3.8e-6."""
    gray = np.zeros((1024, 1024), np.float32)
    gray[0, 0] = 100.0
    r, _ = report(gray)
    assert r.grey_fraction == 0.000004 and r.purity == 0.999996


def test_without_an_atlas_the_kit_s_16_px_one_reads():
    gray, grid = kit("maze", 2)
    r, _ = check_gray("x", gray.astype(np.float32), CFG)
    assert r.passed and r.ascii == grid_text(grid)


def test_grey_fraction_and_purity_of_a_kit_picture_with_a_grey_quarter():
    gray, _ = kit()
    gray = gray.astype(np.float32)
    gray[:256] = 100.0  # grey
    gray[256:512] = np.where(gray[256:512] > 0, 250.0, 3.0)  # inside the bands: not grey, not pure
    r, _ = report(gray)
    assert r.grey_fraction == 0.25 and r.purity == 0.5


def test_grey_fraction_follows_the_configured_tolerances():
    gray = np.full((64, 64), 20, np.float32)
    gray[:32] = 230.0
    assert report(gray)[0].grey_fraction == 1.0
    assert report(gray, CheckConfig(black_tolerance=20, white_tolerance=25))[0].grey_fraction == 0.0
    assert report(gray, CheckConfig(black_tolerance=20, white_tolerance=24))[0].grey_fraction == 0.5


def quarter_points(gray: np.ndarray, a: int, b: int) -> np.ndarray:
    return gray[a::16, b::16]


def test_the_background_is_the_median_level_at_the_quarter_points_of_the_empty_cells():
    """Empty cells at level 20 whose four quarter-point pixels (4 and 12 px in) are 60.257: the
    report says 60.26 (two decimals), and 60 is no black background. One quarter point in four
    at 60.257 (a faint glyph under the threshold) leaves the median at 20."""
    gray, _ = kit("text")
    gray = gray.astype(np.float32)
    gray[gray == 0] = 20.0
    empty = gray.reshape(64, 16, 64, 16).max(axis=(1, 3)) == 20.0
    for a, b in ((4, 4), (4, 12), (12, 4), (12, 12)):
        quarter_points(gray, a, b)[empty] = 60.257
    r, _ = report(gray)
    assert r.background_level == 60.26 and not r.criteria["black_background"]
    gray[gray == 60.257] = 20.0
    quarter_points(gray, 4, 4)[empty] = 60.257
    assert report(gray)[0].background_level == 20.0


def test_a_background_at_the_configured_level_is_black_and_one_above_is_not():
    """A decoder's black (10-16) is black; 24 is the configured limit; 25 is not black."""
    gray, _ = kit("text")
    assert CFG.max_background_level == 24.0
    for level, black in ((16.0, True), (24.0, True), (25.0, False)):
        g = np.where(gray > 0, 255.0, level).astype(np.float32)
        r, _ = report(g)
        assert r.background_level == level and r.criteria["black_background"] is black


def test_an_inverted_picture_sits_on_white():
    gray, _ = kit("dungeon")
    r, _ = report(255 - gray)
    assert r.background_level == 255.0 and not r.criteria["black_background"]


def checkerboard(low: float, high: float) -> np.ndarray:
    yy, xx = np.mgrid[:1024, :1024]
    return np.where((yy + xx) % 2 == 0, high, low).astype(np.float32)


def test_empty_white_cells_of_a_dense_picture_give_a_white_background():
    """A 40/200 checkerboard (no cell empty) with 5 % of its cells flat white at 250: those are the
    empty cells, so the background is 250, however dark the quartile of the busy pixels is."""
    gray = checkerboard(40, 200)
    for k in range(205):
        r, c = divmod(k * 5, 64)
        gray[r * 16 : r * 16 + 16, c * 16 : c * 16 + 16] = 250.0
    r, _ = report(gray)
    assert r.background_level == 250.0 and not r.criteria["black_background"]


def test_the_darkest_quartile_of_a_picture_without_empty_cells_is_its_25th_percentile():
    """Low squares of the checkerboard ramp through 0..97.37, high ones are 200: the 25th percentile
    lies inside the ramp (about 50), where every percentile point moves the level."""
    gray = checkerboard(0, 200)
    ramp = np.linspace(0.0, 97.37, gray.size, dtype=np.float32).reshape(gray.shape)
    gray = np.where(gray == 0, ramp, gray)
    level = report(gray)[0].background_level
    expected = round(float(np.percentile(gray, 25)), 2)  # to two decimals, like every level reported
    assert expected != round(expected) and expected != round(float(np.percentile(gray, 25)), 3)
    assert level == expected and 45 < level < 55


def test_exactly_two_percent_of_empty_cells_is_enough():
    """800 x 1024 px is 50 x 64 = 3200 cells: 64 flat ones are exactly 2 %."""
    gray = checkerboard(40, 200)[:800]
    for k in range(64):
        r, c = divmod(k * 7, 64)
        gray[r * 16 : r * 16 + 16, c * 16 : c * 16 + 16] = 3.0
    assert report(gray)[0].background_level == 3.0


@pytest.mark.parametrize("flat_cells, expected", [(82, 3.0), (81, 40.0)])
def test_without_two_percent_of_empty_cells_the_darkest_quartile_stands_in(flat_cells, expected):
    """Every cell of a 40/200 pixel checkerboard holds both colours, so none is empty. Flatten
    82 cells to level 3 and they are 2 % of the 4096: their centres give the background. With 81
    (below 2 %) the 25th percentile of all pixels does, and that is 40."""
    gray = checkerboard(40, 200)
    for k in range(flat_cells):
        r, c = divmod(k * 7, 64)
        gray[r * 16 : r * 16 + 16, c * 16 : c * 16 + 16] = 3.0
    assert report(gray)[0].background_level == expected


def half_and_half(left_rows_grey: int, level: float = 128.0) -> np.ndarray:
    """The left quarter white, the rest black: one vertical edge on every row, and a black
    background. The first ``left_rows_grey`` rows of the white quarter are at ``level`` (a mid
    grey), so beside the edge exactly one of the two pixels of such a row is grey. Under half the
    rows grey, the picture's light level (the median of its strokes) stays 255."""
    gray = np.zeros((1024, 1024), np.float32)
    gray[:, :256] = 255.0
    gray[:left_rows_grey, :256] = level
    return gray


@pytest.mark.parametrize("grey_rows, share", [(0, 0.0), (256, 0.125), (341, 0.166504)])
def test_edge_grey_is_the_grey_share_of_the_pixels_beside_an_edge(grey_rows, share):
    """341 grey rows: 341 / 2048 = 0.1665039..., reported to six decimals."""
    r, _ = report(half_and_half(grey_rows))
    assert r.edge_grey == share and r.light_level == 255.0 and r.background_level == 0.0


def test_beside_an_edge_the_edge_band_of_the_contrast_decides_what_is_grey():
    """Dark 0, light 255, band 0.15: a pixel is white from 216.75 up and black up to 38.25."""
    assert CFG.edge_band == 0.15
    assert report(half_and_half(256, 217.0))[0].edge_grey == 0.0
    assert report(half_and_half(256, 216.0))[0].edge_grey == 0.125
    # rows at 38 or 39 are dark: the edge runs along them, 256 px above 1791 px of white edge
    assert report(half_and_half(256, 38.0))[0].edge_grey == 0.0
    assert report(half_and_half(256, 39.0))[0].edge_grey == round(256 / 2047, 6)
    assert report(half_and_half(256, 216.0), CheckConfig(edge_band=0.16))[0].edge_grey == 0.0


def test_levels_are_judged_against_the_picture_s_own_dark_and_light_levels():
    """A decoder's picture: black at 12, white at 240. Against its own levels nothing beside an
    edge is grey, the background is black, and both levels are reported."""
    gray, _ = kit("dungeon", 2)
    r, _ = report(np.where(gray > 0, 240.0, 12.0))
    assert (r.background_level, r.light_level, r.edge_grey) == (12.0, 240.0, 0.0)
    assert r.passed


@pytest.mark.parametrize("white, crisp", [(192.0, True), (191.0, False)])
def test_strokes_must_reach_the_minimum_white_level_to_be_crisp(white, crisp):
    """Sharp strokes at 191 are grey strokes, not white: not crisp, and a note says so."""
    gray, _ = kit("dungeon", 2)
    r, _ = report(np.where(gray > 0, white, 0.0))
    assert CFG.min_white_level == 192.0 and r.light_level == white and r.edge_grey == 0.0
    assert r.criteria["crisp"] is crisp
    assert any("strokes are grey" in n for n in r.notes) is not crisp


def test_crisp_up_to_the_configured_edge_grey():
    gray = half_and_half(256)  # edge grey 0.125
    assert report(gray, CheckConfig(max_edge_grey=0.125))[0].criteria["crisp"]
    assert not report(gray, CheckConfig(max_edge_grey=0.124))[0].criteria["crisp"]
    assert not report(gray)[0].criteria["crisp"] and report(half_and_half(0))[0].criteria["crisp"]


def test_a_blurred_kit_picture_is_not_crisp_and_fails():
    from PIL import ImageFilter

    gray, _ = kit("dungeon", 1)
    r, _ = report(np.asarray(Image.fromarray(gray).filter(ImageFilter.GaussianBlur(1))))
    assert r.edge_grey > CFG.max_edge_grey and not r.criteria["crisp"] and not r.passed
    assert r.criteria["content"] and r.criteria["black_background"]


def test_level_128_is_white_and_127_black():
    assert binarize(np.array([0.0, 127.0, 127.9, 128.0, 255.0])).tolist() == [False, False, False, True, True]
    gray, grid = kit("text", 4)
    r, _ = report(np.where(gray > 0, 128.0, 0.0))  # strokes at the threshold still read (though not crisp)
    assert r.ascii == grid_text(grid) and not r.criteria["crisp"]


def test_whole_cells_is_the_part_of_the_picture_covered_by_whole_cells():
    b = np.arange(40 * 50).reshape(40, 50)
    assert np.array_equal(whole_cells(b, 16, (3, 2)), b[2:34, 3:35])
    assert np.array_equal(whole_cells(b, 16, (0, 0)), b[:32, :48])
    assert whole_cells(b[:20], 16, (0, 5)) is None  # 15 rows left: no whole cell
    assert whole_cells(b[:, :20], 16, (5, 0)) is None  # 15 columns left
    assert whole_cells(b[:20, :20], 16, (5, 5)) is None


# -- pictures too small or of the wrong size -------------------------------------------------------


@pytest.mark.parametrize("shape", [(8, 8), (15, 64), (64, 15)])
def test_a_picture_smaller_than_one_cell_is_reported_not_read(shape):
    gray = np.full(shape, 3.257, np.float32)
    gray[: shape[0] // 2] = 200.0  # half its pixels: the darkest quartile is 3.257, reported to 2 decimals
    r, reading = report(gray)
    assert reading is None and r.size == [shape[1], shape[0]]
    assert r.notes == ["smaller than one 16 px cell"]
    assert r.background_level == 3.26 and r.criteria["black_background"]
    assert r.grid_score is None and r.ascii is None and not r.passed


def test_a_tiny_picture_s_background_is_its_25th_percentile_and_24_is_still_black():
    ramp = np.arange(64, dtype=np.float32).reshape(8, 8) + 10.0  # 25th percentile of 10..73: 25.75
    r, _ = report(ramp)
    assert r.background_level == 25.75 and not r.criteria["black_background"]
    r, _ = report(np.full((8, 8), 24.0, np.float32))
    assert r.background_level == 24.0 and r.criteria["black_background"]


def test_one_whole_cell_is_read():
    gray = np.zeros((16, 16), np.float32)
    r, reading = report(gray)
    assert reading is not None and "smaller than one 16 px cell" not in r.notes


@pytest.mark.parametrize("size", [(1024, 1000), (1000, 1024)])
def test_a_size_off_the_cell_in_either_direction_is_noted_and_not_aligned(size):
    gray, _ = kit("maze")
    w, h = size
    r, _ = report(gray[:h, :w])
    assert f"size {w}x{h} is not a multiple of the 16 px cell" in r.notes
    assert r.criteria["content"] and not r.criteria["grid_aligned"] and not r.passed


# -- content ---------------------------------------------------------------------------------------


def test_a_blank_picture_draws_nothing():
    r, _ = report(np.zeros((1024, 1024), np.float32))
    assert "blank: nothing drawn" in r.notes
    assert r.drawn_share == 0.0 and not r.criteria["content"] and not r.criteria["grid_aligned"]


def test_isolated_specks_are_noise_not_a_drawing():
    gray = np.zeros((1024, 1024), np.float32)
    gray[::4, ::4] = 255.0  # every white pixel alone
    r, _ = report(gray)
    assert "100% of the white pixels are isolated specks: noise, not a drawing" in r.notes
    assert not r.criteria["content"]


def kit_cells(n: int) -> np.ndarray:
    """A kit picture of n '#' cells on an empty 64 x 64 grid (first n cells of every 3rd row)."""
    grid = np.full((64, 64), ord(" "), np.int64)
    for k in range(n):
        grid[(k // 32) * 3, k % 32] = ord("#")
    return ATLAS.render_gray(grid)


def test_too_few_drawn_cells_are_not_content_and_the_note_says_how_few():
    r, _ = report(kit_cells(10))
    assert r.drawn_share == round(10 / 4096, 6)
    assert (
        "only 0.2% of cells drawn (content needs 1%, or 0.5% joined up)" in r.notes
        and not r.criteria["content"]
    )


def scattered_cells(n: int) -> np.ndarray:
    """n '#' cells none of which touches another (every 3rd cell of every 3rd row)."""
    grid = np.full((64, 64), ord(" "), np.int64)
    for k in range(n):
        grid[(k // 21) * 3, (k % 21) * 3] = ord("#")
    return ATLAS.render_gray(grid)


@pytest.mark.parametrize(
    "cells, joined, enough",
    [(41, False, True), (40, False, False), (40, True, True), (21, True, True), (20, True, False)],
)
def test_one_percent_of_the_cells_drawn_or_half_a_percent_joined_up_is_content(cells, joined, enough):
    """41 of 4096 cells is 1.001 %, 40 is 0.977 %: scattered, only 41 is content; in runs (a
    panel) down to 21 cells (0.513 %) is, 20 (0.488 %) is not."""
    r, _ = report(kit_cells(cells) if joined else scattered_cells(cells))
    assert r.criteria["content"] is enough


@pytest.mark.parametrize("joined, enough", [(15, True), (14, False)])
def test_half_of_a_sparse_picture_s_drawn_cells_must_touch_another(joined, enough):
    """30 cells (0.73 %): ``joined`` of them in one run on row 0, the rest scattered far from it
    and from each other. 15 of 30 touching is exactly the 0.5 limit: content; 14 is not."""
    grid = np.full((64, 64), ord(" "), np.int64)
    grid[0, :joined] = ord("#")
    for k in range(30 - joined):
        grid[6 + (k // 16) * 4, (k % 16) * 4] = ord("#")
    r, _ = report(ATLAS.render_gray(grid))
    assert CFG.min_connected_share == 0.5 and r.drawn_share == round(30 / 4096, 6)
    assert r.criteria["content"] is enough


def test_content_thresholds_are_inclusive():
    """A drawn share, a breadth or a speck share exactly at its configured limit is still content."""
    r, _ = report(kit_cells(41), CheckConfig(min_drawn_share=41 / 4096))
    assert r.criteria["content"] and not any(n.startswith("only") for n in r.notes)
    gray, _ = kit("text", 2)
    binary = gray >= 128
    breadth = content(binary, solid(binary), 16, CFG.min_cell_pixels).breadth  # measured by geometry
    r, _ = report(gray, CheckConfig(min_breadth=min(breadth, 1024)))
    assert breadth <= 1024 and r.criteria["content"] and not any("lone line" in n for n in r.notes)


def test_a_speck_share_exactly_at_the_limit_is_still_content():
    """12 stroke pixels (six 2-px dashes) and 4 lone specks: 4 / 16 = 0.25 of the white is specks."""
    gray = np.zeros((256, 256), np.float32)
    for k in range(6):
        gray[20 + 30 * k, 40:42] = 255.0
    for k in range(4):
        gray[30 + 50 * k, 200] = 255.0
    loose = dict(min_drawn_share=0.0, min_breadth=0.0)
    r, _ = report(gray, CheckConfig(max_speck_share=0.25, **loose))
    assert r.criteria["content"] and not any("specks" in n for n in r.notes)
    r, _ = report(gray, CheckConfig(max_speck_share=0.24, **loose))
    assert (
        not r.criteria["content"]
        and "25% of the white pixels are isolated specks: noise, not a drawing" in r.notes
    )


def test_a_lone_line_is_not_a_picture():
    gray = np.zeros((1024, 1024), np.float32)
    i = np.arange(1024)
    gray[i, i] = 255.0
    gray[i[1:], i[:-1]] = 255.0  # two pixels thick: strokes, not specks
    r, _ = report(gray)
    assert r.drawn_share >= CFG.min_drawn_share  # enough cells: only its thinness fails it
    assert "the drawing is a lone line or a few specks, not a picture" in r.notes
    assert not r.criteria["content"] and not r.passed


# -- the grid --------------------------------------------------------------------------------------


def test_a_clean_kit_picture_passes_at_phase_0_with_nothing_to_note():
    gray, grid = kit("dungeon", 5)
    r, reading = report(gray)
    assert r.passed and r.notes == [] and r.phase_from == "atlas"
    assert r.offset == [0, 0] and r.cell_size == 16.0 and r.grid_score == 1.0
    assert r.ascii == grid_text(grid) and r.cell_agreement == 1.0
    assert r.as_dict()["criteria"] == {
        "content": True,
        "black_background": True,
        "crisp": True,
        "grid_aligned": True,
    }


def test_a_grid_score_of_exactly_the_minimum_is_a_grid_and_a_period_error_of_exactly_the_maximum_is_aligned():
    gray, _ = kit("dungeon", 5)
    r, _ = report(gray, CheckConfig(min_grid_score=1.0, max_period_error=0.0))  # score 1.0, period 16.0
    assert r.grid_score == 1.0 and r.measured_period == 16.0
    assert r.criteria["grid_aligned"] and r.offset == [0, 0] and r.cell_size == 16.0


def test_thinned_kit_glyphs_are_read_by_the_tolerant_distance():
    """Every stroke of the kit's tiles eroded by a pixel: no cell is an exact tile any more, the grid
    is found by geometry and most cells still read back as their character."""
    rows = atlas_layout(np.random.default_rng(1), "text")
    r, _ = report(render(rows, morphed_tiles("erode")))
    drawn = [(y, x) for y, row in enumerate(rows) for x, ch in enumerate(row) if ch != " "]
    read = r.ascii.splitlines()
    right = sum(read[y][x] == rows[y][x] for y, x in drawn)
    assert r.passed and r.phase_from == "geometry" and right > len(drawn) / 2


def test_kit_tiles_used_once_each_are_on_the_grid():
    """Geometry alone would call a pattern seen once unexplained; exact tiles of the kit need no
    repeat. Every printable character once, spread over six rows."""
    grid = np.full((64, 64), ord(" "), np.int64)
    for k, code in enumerate(range(0x21, 0x7F)):
        grid[10 + 8 * (k // 16), 10 + 3 * (k % 16)] = code
    r, _ = report(ATLAS.render_gray(grid))
    assert r.grid_score == 1.0 and r.passed
    assert r.ascii == "".join("".join(map(chr, row)) + "\n" for row in grid)


@pytest.mark.parametrize("dx, dy", [(3, 5), (0, 7), (11, 0), (15, 15), (1, 0), (0, 1)])
def test_a_shifted_kit_picture_reports_its_offset_and_how_to_repair_it(dx, dy):
    gray, grid = kit("text", 2)
    r, reading = report(moved(gray, dx, dy))
    assert r.offset == [dx, dy] and r.phase_from == "atlas" and reading.offset == (dx, dy)
    assert not r.criteria["grid_aligned"] and not r.passed and r.cell_size == 16.0
    assert f"content is on a 16 px grid but shifted by {dx},{dy} px (`ascii-lora snap` repairs it)" in r.notes
    rows = grid_text(grid).splitlines()
    assert r.ascii.splitlines() == [row[: 64 - (dx > 0)] for row in rows[: 64 - (dy > 0)]]


def test_a_kit_picture_with_a_few_foreign_cells_still_takes_the_atlas_path():
    gray, grid = kit("text", 3)
    blob = np.zeros((16, 16), np.uint8)
    blob[2:14, 2:14] = 255
    blob[5:11, 5:11] = 0  # a hollow square: no character of the kit
    drawn = np.argwhere(grid != ord(" "))[:20]
    for r, c in drawn:
        gray[r * 16 : r * 16 + 16, c * 16 : c * 16 + 16] = blob
    rep, _ = report(gray)
    assert rep.phase_from == "atlas" and rep.offset == [0, 0]


@pytest.mark.parametrize("foreign, path", [(10, "atlas"), (11, "geometry")])
def test_the_fast_path_takes_a_picture_with_up_to_a_tenth_of_its_drawn_cells_foreign(foreign, path):
    """100 drawn cells, 10 of them no character of the kit: exactly 90 % exact tiles is enough."""
    gray = kit_cells(100)
    drawn = np.argwhere(gray.reshape(64, 16, 64, 16).any(axis=(1, 3)))
    assert len(drawn) == 100
    for r, c in drawn[:foreign]:
        gray[r * 16 : r * 16 + 16, c * 16 : c * 16 + 16] = hollow_square()
    assert report(gray)[0].phase_from == path


def test_a_kit_picture_with_a_fifth_of_its_cells_foreign_is_placed_by_geometry():
    """The fast path needs 90 % of the drawn cells to be exact tiles; blank cells do not count."""
    gray, grid = kit("text", 3)
    drawn = np.argwhere(grid != ord(" "))
    for r, c in drawn[: len(drawn) // 5]:
        gray[r * 16 : r * 16 + 16, c * 16 : c * 16 + 16] = hollow_square()
    rep, _ = report(gray)
    assert rep.phase_from == "geometry"


def test_pictures_not_drawn_with_the_kit_are_placed_by_geometry():
    """Block-walled rooms drawn with numpy and text in Pillow's font: no tile of the kit."""
    rooms = draw_rooms(room_grid(np.random.default_rng(4), True), "block")
    r, _ = report(moved(rooms, 4, 6))
    assert r.phase_from == "geometry" and r.offset == [4, 6] and not r.criteria["grid_aligned"]
    text = render(text_grid(np.random.default_rng(4), True), pil_glyphs())
    r0, _ = report(text)
    assert r0.phase_from == "geometry" and r0.offset == [0, 0] and r0.criteria["grid_aligned"]


def test_a_picture_drawn_at_another_pitch_reports_the_measured_period():
    gray, _ = kit("dungeon", 6)
    big = np.asarray(Image.fromarray(gray).resize((1152, 1152), Image.Resampling.NEAREST))[:1024, :1024]
    r, _ = report(big)
    assert r.measured_period == pytest.approx(18.0, abs=0.15) and r.cell_size == r.measured_period
    assert any(
        re.fullmatch(
            r"structures repeat every 1[78]\.\d\d px, not 16: rescaled or drawn at another pitch\?", n
        )
        for n in r.notes
    )
    assert not r.criteria["grid_aligned"]


def test_ink_off_any_grid_says_how_little_sits_in_cells():
    rng = np.random.default_rng(13)
    gray = np.zeros((1024, 1024), np.float32)
    for _ in range(300):  # rectangles at random pixel positions and sizes: no 16 px structure
        y, x = rng.integers(0, 1000, 2)
        h, w = rng.integers(3, 23, 2)
        gray[y : y + h, x : x + w] = 255.0
    r, _ = report(gray)
    assert r.criteria["content"] and not r.criteria["grid_aligned"] and r.offset is None
    note = [n for n in r.notes if n.startswith("no 16 px grid")]
    assert note and re.fullmatch(
        r"no 16 px grid: only \d+% of the drawn ink is reused cell patterns that sit in their cells", note[0]
    )
    assert r.grid_score < CFG.min_grid_score and r.grid_score == round(r.grid_score, 6) != round(
        r.grid_score, 5
    )
    assert r.cell_size is None  # no grid found and no period measured: no cell size to report
    # no grid: the fragments are not read as characters, only exact tiles are ('_' here: an edge of a rectangle)
    assert set(r.ascii) <= {" ", "?", "_", "\n"} and r.ascii.count("?") > 100


def test_cells_that_read_as_no_character_are_counted_in_a_note():
    gray, grid = kit("text", 8)
    hollow = np.zeros((16, 16), np.uint8)
    hollow[2:14, 2:14] = 255
    hollow[5:11, 5:11] = 0  # a hollow square: no character of the kit
    targets = np.argwhere(grid != ord(" "))[:5]
    for r, c in targets:
        gray[r * 16 : r * 16 + 16, c * 16 : c * 16 + 16] = hollow
    rep, reading = report(gray)
    drawn = int((grid != ord(" ")).sum())
    assert f"5 of {drawn} drawn cells read as no character ('?')" in rep.notes
    assert rep.cell_agreement == round((drawn - 5) / drawn, 6)
    assert [rep.ascii.splitlines()[r][c] for r, c in targets] == ["?"] * 5


def hollow_square() -> np.ndarray:
    cell = np.zeros((16, 16), np.uint8)
    cell[2:14, 2:14] = 255
    cell[5:11, 5:11] = 0  # no character of the kit draws this
    return cell


def test_on_a_shifted_grid_a_cell_with_two_stroke_pixels_is_drawn():
    gray, grid = kit("text", 1)
    r0, c0 = map(int, np.argwhere(grid[:63, :63] == ord(" "))[0])
    shifted = moved(gray, 3, 5)
    shifted[5 + 16 * r0 + 7, 3 + 16 * c0 + 5 : 3 + 16 * c0 + 7] = 255  # a 2-px dash in an empty cell
    r, reading = report(shifted)
    assert r.offset == [3, 5] and reading.drawn[r0, c0] and r.ascii.splitlines()[r0][c0] == "?"


def test_read_at_reads_the_cells_of_a_given_offset():
    gray, grid = kit("text", 1)
    reading = read_at(moved(gray, 5, 9).astype(np.float32), CFG, ATLAS, (5, 9))
    assert reading.offset == (5, 9)
    assert np.array_equal(reading.codes, grid[:63, :63])


def test_read_at_marks_cells_no_character_draws_and_counts_a_two_pixel_stroke_as_drawn():
    gray, grid = kit("text", 1)
    gray[:16, :16] = hollow_square()
    gray[16:32, :16] = 0
    gray[16 + 7, 5:7] = 255  # exactly min_cell_pixels (2) stroke pixels: a drawn cell
    reading = read_at(gray.astype(np.float32), CFG, ATLAS, (0, 0))
    assert not reading.confident[0, 0] and reading.drawn[0, 0]
    assert reading.drawn[1, 0]
    assert np.array_equal(reading.codes[2:], grid[2:])


def test_check_file_reads_a_file_and_returns_its_grey_levels(tmp_path):
    gray, grid = kit("cave", 1)
    Image.fromarray(gray).save(tmp_path / "a.png")
    r, reading, loaded = check_file(tmp_path / "a.png", CFG, ATLAS)
    assert r.file == str(tmp_path / "a.png") and r.passed and r.error is None
    assert np.array_equal(loaded, gray) and np.array_equal(reading.codes, grid)
    r, reading, loaded = check_file(tmp_path / "missing.png", CFG, ATLAS)
    assert r.file == str(tmp_path / "missing.png") and "not found" in r.error
    assert reading is None and loaded is None and not r.passed


def test_check_file_reads_with_the_atlas_it_is_given(tmp_path):
    atlas = get_atlas(8)
    lay = FAMILIES["text"](np.random.default_rng(3), DatasetConfig(resolution=512, cell_size=8))
    Image.fromarray(atlas.render_gray(lay.grid)).save(tmp_path / "small.png")
    r, reading, _ = check_file(tmp_path / "small.png", CFG, atlas)
    assert r.passed and r.cell_size == 8.0 and r.ascii == lay.text()
