"""check/geometry.py piece by piece, each against a slow, obvious oracle written here.

The whole-check tests (test_check_geometry.py, test_check_v3.py) judge pictures; these pin the
numbers those verdicts rest on, on random and hand-made arrays, so a wrong count or a wrong
phase cannot hide behind a verdict that happens to come out the same.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from ascii_lora.check import geometry

RNG = np.random.default_rng(20261207)


def sparse(h: int, w: int, share: float = 0.15, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w)) < share


# -- the description cost ---------------------------------------------------------------------------


def description_bits_oracle(binary: np.ndarray, cell: int, step: int = 3) -> list[float]:
    """Every third row, cut into whole cell-wide segments from column d; the empty ones are free.
    Cost = the segments' entropy x their count + cell bits per distinct segment (the dictionary).
    A phase with no whole segment cannot describe anything: infinite."""
    rows = binary[::step]
    w = binary.shape[1]
    out = []
    for d in range(cell):
        count = (w - d) // cell
        if count <= 0:
            out.append(math.inf)
            continue
        segs = Counter(tuple(row[d + k * cell : d + (k + 1) * cell]) for row in rows for k in range(count))
        segs = Counter({s: c for s, c in segs.items() if any(s)})
        n = sum(segs.values())
        out.append(sum(-c * math.log2(c / n) for c in segs.values()) + cell * len(segs) if n else 0.0)
    return out


@pytest.mark.parametrize("cell", [8, 16, 24, 32])
@pytest.mark.parametrize("seed", [1, 2])
def test_description_bits_equal_the_oracle_on_random_pictures(cell, seed):
    """Widths that leave a partial segment at the right edge, ink up to that edge, and cells above
    16 px (the other counting path) included."""
    binary = sparse(45, 5 * cell + 7, seed=seed)
    got = geometry._description_bits(binary, cell)
    assert np.allclose(got, description_bits_oracle(binary, cell), rtol=1e-9, atol=1e-9)


def test_phases_without_one_whole_segment_cost_infinity_and_the_others_stay_finite():
    cell = 16
    binary = sparse(30, cell + 5, share=0.5, seed=3)  # phases 0..5 hold one whole segment, 6..15 none
    got = geometry._description_bits(binary, cell)
    assert np.isfinite(got[:6]).all() and (got[:6] > 0).all()
    assert np.isinf(got[6:]).all() and (got[6:] > 0).all()


def test_a_phase_that_cuts_no_ink_costs_nothing_and_later_phases_are_still_measured():
    cell = 16
    binary = np.zeros((30, 40), dtype=bool)
    binary[:, 34:38] = True  # right of the two whole segments at phases 0..1, inside them from 3 on
    got = geometry._description_bits(binary, cell)
    want = description_bits_oracle(binary, cell)
    assert got[0] == 0.0 and got[1] == 0.0
    assert np.allclose(got, want)
    assert (got[3:9] > 0).all()


# -- pixels and cells --------------------------------------------------------------------------------


def test_solid_keeps_exactly_the_white_pixels_with_a_white_four_neighbour():
    binary = sparse(23, 31, share=0.35, seed=4)
    h, w = binary.shape
    want = np.zeros_like(binary)
    for y in range(h):
        for x in range(w):
            near = [(y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)]
            want[y, x] = binary[y, x] and any(0 <= a < h and 0 <= b < w and binary[a, b] for a, b in near)
    assert np.array_equal(geometry.solid(binary), want)


@pytest.mark.parametrize("cell", [8, 16, 24])
@pytest.mark.parametrize("offset", [(0, 0), (3, 0), (0, 5), (7, 2)])
def test_cell_counts_are_the_white_pixels_of_each_whole_cell(cell, offset):
    binary = sparse(4 * cell + 9, 5 * cell + 11, share=0.4, seed=cell + offset[0])
    dx, dy = offset
    rows, cols = (binary.shape[0] - dy) // cell, (binary.shape[1] - dx) // cell
    want = np.array(
        [
            [
                binary[dy + r * cell : dy + (r + 1) * cell, dx + k * cell : dx + (k + 1) * cell].sum()
                for k in range(cols)
            ]
            for r in range(rows)
        ]
    )
    assert np.array_equal(geometry.cell_counts(binary, cell, offset), want)
    got_cells = geometry.cells(binary, cell, offset)
    assert got_cells.shape == (rows, cols, cell, cell)
    assert np.array_equal(got_cells.sum(axis=(2, 3)), want)
    assert np.array_equal(got_cells[1, 2], binary[dy + cell : dy + 2 * cell, dx + 2 * cell : dx + 3 * cell])


def test_edge_grey_share_counts_grey_only_on_either_side_of_an_edge():
    binary = np.zeros((8, 8), bool)
    binary[2:6, 2:6] = True
    gray = np.where(binary, 255.0, 0.0)
    gray[0, 0] = 128.0  # grey far from every edge: not counted
    gray[2, 2] = 200.0  # on the square's edge: counted
    gray[1, 3] = 40.0  # just outside the edge: counted
    gray[4, 1] = 30.0  # at the black threshold itself: not grey
    gray[5, 4] = 220.0  # on the edge, at the white threshold itself: not grey either
    e = np.zeros_like(binary)
    for y in range(8):
        for x in range(8):
            for a, b in ((y, x + 1), (y, x - 1), (y + 1, x), (y - 1, x)):
                if 0 <= a < 8 and 0 <= b < 8 and binary[a, b] != binary[y, x]:
                    e[y, x] = True
    share, n = geometry.edge_grey_share(gray, binary, black=30.0, white=220.0)
    assert n == int(e.sum())
    assert share == pytest.approx(2 / n)
    assert geometry.edge_grey_share(gray, np.zeros_like(binary), 30.0, 220.0) == (0.0, 0)


def test_connected_share_counts_drawn_cells_with_a_drawn_neighbour_of_eight():
    drawn = np.zeros((6, 7), bool)
    drawn[0, 0] = drawn[1, 1] = True  # diagonal pair: both joined
    drawn[4, 5] = True  # alone
    drawn[3, 0] = drawn[3, 1] = True  # side by side: joined
    assert geometry.connected_share(drawn) == pytest.approx(4 / 5)
    assert geometry.connected_share(np.zeros((3, 3), bool)) == 1.0
    lone = np.zeros((3, 3), bool)
    lone[1, 1] = True
    assert geometry.connected_share(lone) == 0.0
    column = np.zeros((4, 4), bool)
    column[1, 2] = column[2, 2] = True  # one above the other
    assert geometry.connected_share(column) == 1.0


def test_off_centre_is_the_mean_distance_of_the_ink_from_its_cell_centre_at_each_phase():
    cell = 8
    binary = sparse(10, 43, share=0.3, seed=6)
    ink = binary.sum(axis=0)
    want = [
        sum(ink[x] * abs((x - d) % cell - (cell - 1) / 2) for x in range(len(ink))) / ink.sum()
        for d in range(cell)
    ]
    assert np.allclose(geometry._off_centre(binary, cell), want)
    assert np.array_equal(geometry._off_centre(np.zeros((4, 16), bool), cell), np.zeros(cell))


def test_canonical_rolls_each_cell_so_its_ink_starts_top_left():
    glyph = np.zeros((8, 8), bool)
    glyph[0:3, 0] = glyph[0, 0:4] = True
    nudged = np.stack(
        [np.roll(np.roll(glyph, dy, axis=0), dx, axis=1) for dy, dx in ((0, 0), (2, 3), (4, 1))]
    )
    out = geometry.canonical(nudged)
    for block in out:
        assert np.array_equal(block, glyph)
    empty = np.zeros((0, 8, 8), bool)
    assert geometry.canonical(empty).shape == (0, 8, 8)


def test_pattern_keys_are_equal_exactly_for_equal_blocks():
    blocks = sparse(5 * 16, 16, share=0.3, seed=7).reshape(5, 16, 16)
    blocks[3] = blocks[1]
    keys = geometry.pattern_keys(blocks)
    same = [[keys[i] == keys[j] for j in range(5)] for i in range(5)]
    want = [[np.array_equal(blocks[i], blocks[j]) for j in range(5)] for i in range(5)]
    assert same == want


@pytest.mark.parametrize("side", ["above", "below", "left", "right"])
def test_block_cuts_flag_the_cells_where_a_block_from_one_side_ends_inside(side):
    """A block wall 3 px past a cell border, seen from each side: only the cells it ends in are cut;
    the full cells it comes from, and the same edge on a lone block with nothing full beyond, are not."""
    cell = 8
    pic = np.zeros((4 * cell, 4 * cell), bool)
    pic[: cell + 3, :] = True  # fills cell row 0, ends 3 px into cell row 1
    pic[3 * cell : 3 * cell + 3, 1 * cell : 2 * cell] = (
        True  # 3 px at the top of one cell, nothing full above
    )
    turn = {"above": 0, "left": 1, "below": 2, "right": 3}[side]  # counter-clockwise quarter turns
    pic = np.ascontiguousarray(np.rot90(pic, k=turn))
    want_row = np.zeros((4, 4), bool)
    want_row[1, :] = True
    want = np.ascontiguousarray(np.rot90(want_row, k=turn))
    got = geometry.block_cuts(geometry.cells(pic, cell, (0, 0)))
    assert np.array_equal(got, want), (side, got.astype(int))


@pytest.mark.parametrize("turn", [0, 1, 2, 3])
@pytest.mark.parametrize("up, down", [(1, 1), (1, 7), (7, 1), (3, 4)])
def test_a_block_straddling_a_cell_border_is_cut_on_both_sides_of_it(up, down, turn):
    """A band ``up`` px above and ``down`` px below the border between cell rows 0 and 1 (8 px
    cells), turned four ways: each of the two cells ends the band inside itself, whether the
    band fills one row of the cell or all but one; the cells beyond are clean."""
    cell = 8
    pic = np.zeros((4 * cell, 3 * cell), bool)
    pic[cell - up : cell + down, :] = True
    want = np.zeros((4, 3), bool)
    want[0:2, :] = True
    pic, want = (np.ascontiguousarray(np.rot90(a, k=turn)) for a in (pic, want))
    got = geometry.block_cuts(geometry.cells(pic, cell, (0, 0)))
    assert np.array_equal(got, want), got.astype(int)


# -- the phase of one axis ---------------------------------------------------------------------------

FLAT = np.full(16, 3.0)  # ink equally centred at every phase


def cost(*head: float, rest: float = 1000.0) -> np.ndarray:
    return np.array(list(head) + [rest] * (16 - len(head)), dtype=np.float64)


def test_an_axis_that_cannot_be_measured_is_on_the_grid():
    """A phase without one whole cell (infinite cost) or a phase that cuts no ink (zero) means
    the axis cannot be judged: 0, however cheap another phase looks."""
    assert geometry.axis_phase(cost(np.inf, 10.0), FLAT) == 0
    assert geometry.axis_phase(cost(50.0, 10.0, np.inf), FLAT) == 0
    assert geometry.axis_phase(cost(50.0, 0.0, 10.0), FLAT) == 0
    # any positive cost is a measurement, however small
    assert geometry.axis_phase(cost(8.0, 0.5, rest=8.0), FLAT) == 1


def test_phase_zero_stands_within_five_percent_of_the_cheapest_unless_its_ink_hugs_the_borders():
    assert geometry.axis_phase(cost(105.0, 100.0), FLAT) == 0  # 5 % dearer: still as cheap
    assert geometry.axis_phase(cost(105.2, 100.0), FLAT) == 1
    centred = np.full(16, 3.0)
    centred[1] = 1.0  # phase 1's ink lies 2 px nearer the centres (cell / 8 = 2 px: the limit)
    assert geometry.axis_phase(cost(105.0, 100.0), centred) == 0
    centred[1] = 0.9  # 2.1 px: phase 0 hugs the borders
    assert geometry.axis_phase(cost(100.0, 100.0, 100.0), centred) == 1
    # phase 0's own centring decides, not a neighbour's: 1.5 px off here, phase 1 3 px off
    own = np.full(16, 3.0)
    own[0], own[2] = 1.5, 0.0
    assert geometry.axis_phase(cost(105.0, 100.0, 100.0), own) == 0
    wide = np.full(16, 3.0)
    wide[1] = 3.0 - 16 / 8.5  # nearer by under cell / 8
    assert geometry.axis_phase(cost(100.0, 100.0), wide) == 0


def test_past_the_tie_the_ink_centring_trades_against_the_cost_at_half_the_cost_per_pixel():
    """16 px cells: one pixel nearer the cell centres is worth 50 % of the cheapest description
    (weight 2 per quarter cell). Phase 2 is 10 % dearer than phase 1 and its ink the most centred."""
    oc = np.full(16, 5.0)
    oc[2] = 3.0
    oc[1] = 3.0 + 0.19  # 9.5 % of the cost: phase 1 still cheaper
    assert geometry.axis_phase(cost(200.0, 100.0, 110.0), oc) == 1
    oc[1] = 3.0 + 0.21  # 10.5 %: phase 2 wins
    assert geometry.axis_phase(cost(200.0, 100.0, 110.0), oc) == 2


# -- does the picture draw something -----------------------------------------------------------------


def breadth_oracle(solid_px: np.ndarray) -> float:
    """The smaller principal spread (px) of the stroke pixels: of every 4th pixel each way when
    those are 200 or more (plenty for a 2x2 covariance), else of all of them; under 3 pixels, 0."""
    pts = [(y / 4, x / 4) for y, x in zip(*np.nonzero(solid_px), strict=True) if y % 4 == 0 and x % 4 == 0]
    step = 4
    if len(pts) < 200:
        step = 1
        pts = [(float(y), float(x)) for y, x in zip(*np.nonzero(solid_px), strict=True)]
    if len(pts) < 3:
        return 0.0
    a = np.array(pts)
    a -= a.mean(axis=0)
    cov = a.T @ a / (len(a) - 1)
    small = (cov[0, 0] + cov[1, 1]) / 2 - math.sqrt(((cov[0, 0] - cov[1, 1]) / 2) ** 2 + cov[0, 1] ** 2)
    return step * math.sqrt(max(small, 0.0))


def content_of(solid_px: np.ndarray, cell: int = 16, min_pixels: int = 4) -> geometry.Content:
    return geometry.content(solid_px, solid_px, cell, min_pixels)


@pytest.mark.parametrize("on, off", [(3, 0), (199, 400), (200, 400), (201, 30)])
def test_breadth_is_the_smaller_spread_of_the_stroke_pixels(on, off):
    """``on`` stroke pixels on every 4th row and column, ``off`` between them, in a band of a
    1024 px picture: around 200 sampled pixels the sampling changes, and both sides count."""
    rng = np.random.default_rng(on + off)
    pic = np.zeros((1024, 1024), bool)
    grid = [(y, x) for y in range(300, 420, 4) for x in range(300, 900, 4)]
    for i in rng.choice(len(grid), on, replace=False):
        pic[grid[i]] = True
    while pic.sum() < on + off:
        y, x = int(rng.integers(300, 420)), int(rng.integers(300, 900))
        pic[y, x] |= y % 4 != 0 or x % 4 != 0
    got = content_of(pic, min_pixels=10**6)  # no cell drawn: the breadth is always measured
    assert got.drawn_share == 0.0
    assert got.breadth == pytest.approx(breadth_oracle(pic), rel=1e-9, abs=1e-12)
    assert got.breadth > 0


def test_two_stroke_pixels_have_no_breadth_and_three_do():
    pic = np.zeros((64, 64), bool)
    pic[10, 10] = pic[10, 11] = True
    assert content_of(pic).breadth == 0.0
    pic[11, 10] = True
    assert content_of(pic).breadth == pytest.approx(breadth_oracle(pic)) and breadth_oracle(pic) > 0


def test_a_tenth_of_the_cells_drawn_is_broad_by_definition_and_still_reports_how_they_join():
    cell = 16
    pic = np.zeros((10 * cell, 10 * cell), bool)
    for i in range(10):  # ten lone cells on a diagonal every other cell apart: none has a neighbour
        r, k = (2 * i) % 10, (3 * i) % 10
        pic[r * cell + 4 : r * cell + 12, k * cell + 4 : k * cell + 12] = True
    got = content_of(pic)
    assert got.drawn_share == pytest.approx(0.1)
    assert got.breadth == math.inf
    assert got.connected == pytest.approx(geometry.connected_share(got.drawn))
    assert got.connected < 1.0


def test_nothing_white_is_all_speck_and_a_picture_under_one_cell_draws_nothing():
    empty = geometry.content(np.zeros((64, 64), bool), np.zeros((64, 64), bool), 16, 4)
    assert empty.speck_share == 1.0 and empty.drawn_share == 0.0 and empty.breadth == 0.0
    tiny = np.ones((8, 8), bool)
    got = geometry.content(tiny, tiny, 16, 4)
    assert got.drawn.size == 0 and got.drawn_share == 0.0 and got.speck_share == 0.0
    specks = np.zeros((32, 32), bool)
    specks[2, 2] = specks[20, 9] = True  # white, but no pixel with a white neighbour
    assert geometry.content(specks, geometry.solid(specks), 16, 1).speck_share == 1.0


# -- the period --------------------------------------------------------------------------------------


def spikes(n: int, period: float, start: float = 3.0) -> np.ndarray:
    """An edge projection: edges at every ``period`` px (rounded), nothing between."""
    e = np.zeros(n, np.int64)
    e[np.rint(np.arange(start, n, period)).astype(int)] = 40
    return e


def test_an_axis_under_four_cells_or_without_edges_has_no_period():
    assert geometry._axis_period(spikes(63, 16), 16, 8.0, 0.02) == (None, 0.0)
    assert geometry._axis_period(np.zeros(1024, np.int64), 16, 8.0, 0.02) == (None, 0.0)
    _, ratio = geometry._axis_period(spikes(64, 16), 16, 8.0, 0.02)
    assert ratio > 0  # four cells: measured


@pytest.mark.parametrize("period", [12.0, 16.0, 17.5, 20.25])
def test_regular_edges_give_their_period_to_a_few_hundredths_of_a_pixel(period):
    p, ratio = geometry._axis_period(spikes(1024, period), 16, 8.0, 0.02)
    assert p == pytest.approx(period, abs=0.05) and ratio >= 8.0


def test_edges_every_two_cells_or_every_half_cell_still_give_the_cell():
    """A maze repeats every two cells (every other edge stronger), brick mortar every half cell."""
    maze = spikes(1024, 16.0)
    maze[np.rint(np.arange(3.0, 1024, 32.0)).astype(int)] = 100
    assert geometry._axis_period(maze, 16, 8.0, 0.02)[0] == pytest.approx(16.0, abs=0.05)
    mortar = spikes(1024, 8.0)
    assert geometry._axis_period(mortar, 16, 8.0, 0.02)[0] == pytest.approx(16.0, abs=0.05)


def test_noise_has_no_period_and_the_ratio_says_how_far_it_was():
    e = np.random.default_rng(8).integers(0, 40, 1024)
    p, ratio = geometry._axis_period(e, 16, 8.0, 0.02)
    assert p is None and 0 < ratio < 8.0


def lines(period_x: float | None, period_y: float | None, side: int = 1024) -> np.ndarray:
    pic = np.zeros((side, side), bool)
    if period_x:
        pic[:, np.rint(np.arange(3.0, side - 1, period_x)).astype(int)] = True
    if period_y:
        pic[np.rint(np.arange(3.0, side - 1, period_y)).astype(int), :] = True
    return pic


def axis_periods(pic: np.ndarray) -> tuple[tuple[float | None, float], tuple[float | None, float]]:
    across, down = geometry.transitions(pic)
    return (
        geometry._axis_period(np.count_nonzero(across, axis=0), 16, 8.0, 0.02),
        geometry._axis_period(np.count_nonzero(down, axis=1), 16, 8.0, 0.02),
    )


def test_two_axes_that_agree_give_their_weighted_mean_and_disagreeing_ones_give_none():
    """Lines every 16.1 px across and 16.5 px down: the axes agree within half a pixel, and each
    weighs by how clearly it stands out (16.25 here, nearer the clearer 16.1)."""
    pic = lines(16.1, 16.5)
    (px, rx), (py, ry) = axis_periods(pic)
    assert px == pytest.approx(16.1, abs=0.05) and py == pytest.approx(16.5, abs=0.05) and rx > ry
    p, ratio = geometry.measure_period(pic, 16)
    assert p == round((px * rx + py * ry) / (rx + ry), 2) and ratio == rx
    assert px < p < (px + py) / 2
    p, ratio = geometry.measure_period(pic.T, 16)  # the clearer axis down: the ratio is still the larger
    assert ratio == rx
    p, ratio = geometry.measure_period(lines(16.0, 17.0), 16)  # a pixel apart: not one square cell
    assert p is None and ratio >= 8.0


def test_one_axis_alone_must_stand_out_twice_as_clearly():
    pic = lines(16.0, None)
    (_, rx), (py, _) = axis_periods(pic)
    assert py is None
    assert geometry.measure_period(pic, 16, min_ratio=rx / 1.9)[0] is None
    p, ratio = geometry.measure_period(pic, 16, min_ratio=rx / 2.0)
    assert p == pytest.approx(16.0, abs=0.05) and ratio == rx
    down = np.ascontiguousarray(pic.T)  # the same from the other axis
    assert geometry.measure_period(down, 16, min_ratio=rx / 1.9)[0] is None
    assert geometry.measure_period(down, 16, min_ratio=rx / 2.0)[0] == pytest.approx(16.0, abs=0.05)
    assert geometry.measure_period(np.zeros((1024, 1024), bool), 16) == (None, 0.0)


# -- cells explained at one phase ----------------------------------------------------------------------

C8 = 8


def blob(size: int = 7, at: tuple[int, int] = (0, 0), wide: int | None = None) -> np.ndarray:
    """A filled rectangle of 7 px or more: ink, not strokes (over half of it inside a stroke)."""
    b = np.zeros((C8, C8), bool)
    b[at[0] : at[0] + size, at[1] : at[1] + (wide or size)] = True
    return b


def picture(cells: dict[tuple[int, int], np.ndarray], rows: int = 4, cols: int = 5) -> np.ndarray:
    pic = np.zeros((rows * C8, cols * C8), bool)
    for (r, k), b in cells.items():
        pic[r * C8 : (r + 1) * C8, k * C8 : (k + 1) * C8] = b
    return pic


def drawn_of(pic: np.ndarray, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    return geometry.cell_counts(pic, C8, offset) > 0


def test_nothing_drawn_explains_nothing_and_scores_zero():
    pic = picture({})
    g = geometry.explain(pic, drawn_of(pic), C8, (0, 0))
    assert g.score == 0.0 and not g.explained.any() and (g.cuts, g.patterns) == (0, 0)


def test_cells_already_read_as_tiles_are_explained_without_looking():
    pic = picture({(0, 0): blob(), (2, 3): blob(5)})
    drawn = drawn_of(pic)
    g = geometry.explain(pic, drawn, C8, (2, 1), known=drawn.copy())
    assert g.score == 1.0 and np.array_equal(g.explained, drawn) and (g.cuts, g.patterns) == (0, 0)
    assert g.offset == (2, 1) and g.drawn is drawn and g.explained is not drawn
    known = np.zeros_like(drawn)
    known[2, 3] = True  # one known; the unique blob left over is not explained
    g = geometry.explain(pic, drawn, C8, (0, 0), known=known)
    assert g.explained.tolist() == known.tolist() and g.patterns == 1
    assert g.score == pytest.approx(25 / (49 + 25))


def test_a_reused_pattern_is_explained_and_a_blob_used_once_is_not():
    """Three cells of the same blob (one nudged inside its cell: the same glyph) and one other blob:
    two patterns; the score is the explained cells' share of the ink."""
    pic = picture({(0, 0): blob(), (1, 2): blob(), (3, 4): blob(at=(1, 1)), (2, 0): blob(wide=8)})
    drawn = drawn_of(pic)
    g = geometry.explain(pic, drawn, C8, (0, 0))
    want = drawn.copy()
    want[2, 0] = False
    assert g.explained.tolist() == want.tolist()
    assert g.patterns == 2 and g.cuts == 0
    assert g.score == pytest.approx(3 * 49 / (3 * 49 + 56))
    assert g.drawn is drawn and g.offset == (0, 0)


def test_a_pattern_used_twice_is_reused():
    pic = picture({(0, 0): blob(), (3, 3): blob(at=(1, 1)), (2, 0): blob(wide=8)})
    g = geometry.explain(pic, drawn_of(pic), C8, (0, 0))
    assert g.explained[0, 0] and g.explained[3, 3] and not g.explained[2, 0]


def test_drawn_cells_without_ink_at_this_offset_score_zero():
    pic = picture({})
    drawn = np.zeros((4, 5), bool)
    drawn[1, 1] = True  # drawn at another phase, nothing here
    g = geometry.explain(pic, drawn, C8, (0, 0))
    assert g.score == 0.0


def test_a_full_cell_explains_itself_and_a_stroke_whole_in_its_cell_too():
    stroke = np.zeros((C8, C8), bool)
    stroke[1:7, 2] = True
    stroke[6, 2:6] = True  # an 'L' inside the cell, touching no border
    pic = picture({(0, 1): np.ones((C8, C8), bool), (2, 2): stroke, (3, 0): blob(7)})
    g = geometry.explain(pic, drawn_of(pic), C8, (0, 0))
    assert g.explained[0, 1] and g.explained[2, 2] and not g.explained[3, 0]
    assert g.patterns == 3


def test_a_stroke_used_once_that_runs_into_an_unexplained_cell_is_not_explained():
    pic = np.zeros((4 * C8, 5 * C8), bool)
    pic[12, 3:20] = True  # a bar from cell (1, 0) through (1, 1) into (1, 2): each piece is used once
    drawn = drawn_of(pic)
    g = geometry.explain(pic, drawn, C8, (0, 0))
    assert drawn[1, 0:3].all() and not g.explained[1, 0:3].any()


def test_cells_a_block_edge_cuts_are_not_explained_however_often_they_repeat():
    """A band filling cell row 0 and 3 px of row 1: row 1's cells all repeat one pattern, and every
    one is cut; row 0's full cells are explained."""
    pic = np.zeros((4 * C8, 5 * C8), bool)
    pic[: C8 + 3] = True
    drawn = drawn_of(pic)
    g = geometry.explain(pic, drawn, C8, (0, 0))
    assert g.cuts == 5
    assert g.explained[0].all() and not g.explained[1].any()
    assert g.score == pytest.approx(5 * 64 / (5 * 64 + 5 * 24))


def test_the_cells_are_cut_at_the_offset_asked_for():
    pic = picture({(0, 0): blob(6), (1, 2): blob(6), (2, 0): blob(7)})
    moved_pic = np.zeros((4 * C8 + 5, 5 * C8 + 3), bool)
    moved_pic[5:, 3:] = pic
    here = geometry.explain(pic, drawn_of(pic), C8, (0, 0))
    there = geometry.explain(moved_pic, drawn_of(moved_pic, (3, 5)), C8, (3, 5))
    assert there.offset == (3, 5)
    assert there.explained.tolist() == here.explained.tolist() and there.score == here.score


def test_a_constant_added_to_every_column_changes_no_period():
    e = spikes(1024, 16.5) + np.random.default_rng(10).integers(0, 5, 1024)
    p, ratio = geometry._axis_period(e, 16, 8.0, 0.02)
    p2, ratio2 = geometry._axis_period(e + 1000, 16, 8.0, 0.02)
    assert p2 == p and ratio2 == pytest.approx(ratio, rel=1e-9)


def test_text_lines_three_cells_apart_still_give_the_cell():
    """The strongest line is the 48 px repeat of the text lines (broad rows of edges, so their
    harmonics fade); the cell is a third of it."""
    x = np.arange(1024)
    rows = np.maximum(0, 12 - np.abs((x - 20) % 48 - 24)) * 8
    e = spikes(1024, 16.0) // 4 + rows
    assert geometry._axis_period(e, 16, 8.0, 0.02)[0] == pytest.approx(16.0, abs=0.05)
    # four cells apart, the longest repeat the window looks at: the cell, not 4/3 of it
    rows = np.maximum(0, 12 - np.abs((x - 20) % 64 - 32)) * 8
    e = spikes(1024, 16.0) + rows
    assert geometry._axis_period(e, 16, 8.0, 0.02)[0] == pytest.approx(16.0, abs=0.05)


def edges_from(projection: np.ndarray) -> np.ndarray:
    """A (rows, len) edge map whose column counts are ``projection``."""
    rows = np.arange(int(projection.max()) + 1)[:, None]
    return np.asarray(rows < projection[None, :])


def test_the_default_clarity_is_eight_times_the_median_and_twice_that_for_one_axis():
    noise = np.random.default_rng(9).integers(0, 40, 1024)
    faint, clear = noise.copy(), noise.copy()
    faint[3::16] += 18  # stands out ~8.1x: a period when both axes show it
    clear[3::16] += 28  # ~17.7x: a period on one axis alone
    assert 8.0 <= geometry._axis_period(faint, 16, 8.0, 0.02)[1] < 9.0
    assert 16.0 <= geometry._axis_period(clear, 16, 8.0, 0.02)[1] < 18.0
    blank = np.zeros(1, bool)
    both = (edges_from(faint), edges_from(faint).T)
    assert geometry.measure_period(blank, 16, edges=both)[0] == pytest.approx(16.0, abs=0.05)
    one = (edges_from(clear), np.zeros((1024, 1), bool))
    assert geometry.measure_period(blank, 16, edges=one)[0] == pytest.approx(16.0, abs=0.05)


def test_a_period_from_one_axis_is_given_to_the_hundredth_of_a_pixel():
    p, _ = geometry.measure_period(lines(16.1, None), 16)
    assert p == round(p, 2) and p != round(p) and p == pytest.approx(16.1, abs=0.05)


def test_large_cells_with_only_a_fine_texture_have_no_candidate_period():
    """32 px cells and edges every 5 px: no m/n (m, n <= 4) of the 5 px line reaches 22-45 px."""
    assert geometry._axis_period(spikes(1024, 5.0), 32, 8.0, 0.02) == (None, 0.0)
