"""The checker measures a picture's cell size from the picture, whatever grid it was drawn on,
or says it cannot (None), never a guess; and finds the exact phase of pictures drawn with the kit's
own tiles (check/grid_detect.py), held against shifts built here with numpy."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ascii_lora.check.geometry import measure_period
from ascii_lora.check.grid_detect import _candidates, _is_valid, _segments, fit_grid
from ascii_lora.config.models import DatasetConfig
from ascii_lora.dataset.families import FAMILIES
from ascii_lora.grid.atlas import get_atlas


def drawn(family: str, seed: int = 3) -> np.ndarray:
    lay = FAMILIES[family](np.random.default_rng([11, seed]), DatasetConfig())
    return np.asarray(get_atlas(16).render_image(lay.grid)) > 127


@pytest.mark.parametrize("family", ["dungeon", "maze", "text"])
def test_period_of_a_true_grid_and_of_rescaled_copies(family):
    binary = drawn(family)
    assert measure_period(binary, 16)[0] == pytest.approx(16, abs=0.1)
    for side, cell in ((1152, 18.0), (900, 900 / 64)):
        scaled = np.asarray(Image.fromarray(binary).resize((side, side), Image.NEAREST))
        assert measure_period(scaled, 16)[0] == pytest.approx(cell, abs=0.15), side


def test_nothing_to_measure_is_unknown_not_a_guess():
    assert measure_period(np.zeros((1024, 1024), dtype=bool), 16)[0] is None
    assert measure_period(np.ones((100, 100), dtype=bool), 16)[0] is None  # too small to hold a period


# -- the atlas fast path: exact phase of the kit's own tiles (check/grid_detect.py) ---------------


def drawn_at(family: str, cell: int, seed: int = 3, side_cells: int = 64) -> np.ndarray:
    lay = FAMILIES[family](np.random.default_rng([11, seed]), DatasetConfig(resolution=side_cells * 16))
    return get_atlas(cell).render(lay.grid)


def shifted(binary: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """The picture moved right by dx and down by dy, black coming in: the grid's phase is (dx, dy)."""
    out = np.zeros_like(binary)
    out[dy:, dx:] = binary[: binary.shape[0] - dy, : binary.shape[1] - dx]
    return out


def tile_rows_and_columns(cell: int) -> tuple[set[bytes], set[bytes]]:
    """Every row and every column any tile draws, as raw bytes: what the atlas can produce."""
    tiles = get_atlas(cell).tiles
    return (
        {t[r].tobytes() for t in tiles for r in range(cell)},
        {t[:, c].tobytes() for t in tiles for c in range(cell)},
    )


@pytest.mark.parametrize("family", ["dungeon", "text", "maze"])
def test_every_shift_of_a_kit_picture_is_the_first_candidate_and_scores_one(family):
    binary = drawn_at(family, 16)
    for d in range(16):
        cx, cy, (sx, sy) = fit_grid(shifted(binary, d, 15 - d), get_atlas(16))
        assert sx[d] == 1.0 and sy[15 - d] == 1.0
        # every other phase cuts tile rows apart (a half-cell shift least: up to 0.96 here)
        assert np.delete(sx, d).max() < 0.98 and np.delete(sy, 15 - d).max() < 0.98
        assert (cx, cy) == ([d], [15 - d])  # so the true phase is the only candidate


@pytest.mark.parametrize("cell", [8, 24, 32])  # 24 and 32: patterns too wide for a lookup table
def test_other_cell_sizes_find_their_phase_with_their_own_atlas(cell):
    binary = drawn_at("dungeon", cell, side_cells=40)
    atlas = get_atlas(cell)
    for dx, dy in ((0, 0), (cell - 1, 1), (cell // 2, cell - 3)):
        cx, cy, (sx, sy) = fit_grid(shifted(binary, dx, dy), atlas)
        assert (cx[0], cy[0]) == (dx, dy), (cell, dx, dy)
        assert sx[dx] == 1.0 and sy[dy] == 1.0 and len(sx) == len(sy) == cell


def test_phase_score_is_the_share_of_drawn_segments_that_some_tile_row_draws():
    """A picture whose every line is the same 64 segments: 12 tile rows, 4 rows no tile draws,
    the rest blank. At phase 0 the row score is 12 / 16 whichever lines are sampled."""
    rows, _ = tile_rows_and_columns(16)
    drawn_rows = sorted(r for r in rows if any(r))[:12]
    foreign = [
        bytes([1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0, 0, 0, 1, 1]),
        bytes([1, 0] * 8),
        bytes([0, 1, 1, 0] * 4),
        bytes([1, 1, 1, 0, 1, 0, 0, 1] * 2),
    ]
    assert not set(foreign) & rows  # checked against the atlas, not assumed
    segments = [np.frombuffer(r, np.uint8) for r in drawn_rows + foreign] + [np.zeros(16, np.uint8)] * 48
    line = np.concatenate(segments).astype(bool)
    picture = np.tile(line, (1024, 1))
    _, _, (sx, _) = fit_grid(picture, get_atlas(16))
    assert sx[0] == pytest.approx(12 / 16)


def test_a_blank_picture_has_nothing_against_any_phase_and_prefers_phase_0():
    cx, cy, (sx, sy) = fit_grid(np.zeros((256, 256), bool), get_atlas(16))
    assert sx.tolist() == [1.0] * 16 and sy.tolist() == [1.0] * 16
    assert cx == cy == [0, 1, 2, 3]


def test_a_phase_with_no_whole_cell_scores_zero():
    """20 px wide: phases 0-4 hold one whole 16 px cell, phases 5-15 none."""
    narrow = np.zeros((64, 20), bool)
    narrow[:, 2:18] = drawn_at("dungeon", 16)[100:164, 16:32]
    _, _, (sx, _) = fit_grid(narrow, get_atlas(16))
    assert not sx[5:].any()
    assert sx[:5].min() > 0


def bits_at(packed_rows: np.ndarray, start: int, width: int) -> np.ndarray:
    """Bits start..start+width-1 of each packed row (first bit = high bit of byte 0), as integers."""
    bits = np.unpackbits(packed_rows, axis=1)[:, start : start + width]
    return (bits.astype(np.uint64) << np.arange(width - 1, -1, -1, dtype=np.uint64)).sum(
        axis=1, dtype=np.uint64
    )


@pytest.mark.parametrize("cell", [8, 16, 24, 32])
def test_segments_are_the_cell_wide_bit_windows_at_every_shift(cell):
    rng = np.random.default_rng(cell)
    packed = rng.integers(0, 256, (5, 5 * cell // 8), dtype=np.uint8)  # 4 windows at any shift
    pad = np.zeros((5, packed.shape[1] + cell // 8 + 2), np.uint64)  # spare byte columns, as documented
    pad[:, : packed.shape[1]] = packed
    for shift in range(cell):
        seg = _segments(pad, shift, 4, cell)
        assert seg.shape == (5, 4)
        for k in range(4):
            assert np.array_equal(seg[:, k], bits_at(packed, shift + cell * k, cell)), (shift, k)


def test_validity_against_a_sorted_pattern_array_and_a_lookup_table_agree():
    valid = np.array([3, 8, 20], np.uint64)
    table = np.zeros(32, bool)
    table[[3, 8, 20]] = True
    seg = np.array([[0, 3, 4, 8], [19, 20, 21, 31]], np.uint64)  # 21, 31: past the last valid pattern
    expected = [[False, True, False, True], [False, True, False, False]]
    assert _is_valid(seg, valid).tolist() == expected
    assert _is_valid(seg, table).tolist() == expected


def test_candidates_of_a_clear_winner_are_the_phases_within_slack_of_it():
    scores = np.full(16, 0.5)
    scores[[5, 9, 12]] = [1.0, 0.98, 0.97]
    assert _candidates(scores) == [5, 9]  # 0.98 is just within 0.02 of the best, 0.97 is not
    assert _candidates(scores, slack=0.03) == [5, 9, 12]
    scores[[3, 5, 9, 12]] = [0.95, 0.96, 0.5, 0.5]
    assert _candidates(scores) == [5, 3]  # best 0.96 is still a clear answer: no padding with phase 0
    scores[[3, 5]] = [0.5, 0.95]
    assert _candidates(scores) == [5]  # 0.95 is the least score that still counts as clear


def test_candidates_keep_at_most_four_phases_best_first_and_phase_0_first_when_tied():
    assert _candidates(np.ones(16)) == [0, 1, 2, 3]
    assert _candidates(np.ones(16), most=2) == [0, 1]
    scores = np.zeros(16)
    scores[[0, 7]] = 1.0
    scores[4] = 0.99
    assert _candidates(scores) == [0, 7, 4]  # tied: the phase a good sample sits at goes first
    scores[0] = 0.99
    assert _candidates(scores) == [7, 0, 4]  # within slack but below the best: ranked, not promoted


def test_phase_0_within_rounding_of_the_best_counts_as_tied():
    """Scores are ratios of counts: one a hair (up to 1e-9) below the best is a tie, and phase 0 leads."""
    scores = np.full(16, 0.5)
    scores[5] = 1.0
    for below in (1e-10, 1e-9):
        scores[0] = 1.0 - below
        assert _candidates(scores) == [0, 5], below
    scores[0] = 1.0 - 1e-6  # a real difference: ranked behind the best
    assert _candidates(scores) == [5, 0]


def test_equal_scores_keep_phase_order_at_32_px_too():
    scores = np.zeros(32)
    scores[[3, 9, 20, 30, 31]] = 1.0
    assert _candidates(scores) == [3, 9, 20, 30]


def test_weak_scores_send_the_four_best_and_phase_0_to_the_2d_read():
    scores = np.linspace(0.1, 0.9, 16)  # best 0.9 < 0.95: no phase is clearly the grid
    assert _candidates(scores) == [15, 14, 13, 12, 0]
    scores[0] = 0.94  # phase 0 is the best, though weak: it leads and is not repeated
    assert _candidates(scores) == [0, 15, 14, 13]
    scores[[0, 1]] = [0.1, 0.93]  # phase 1 among the best four does not stand in for phase 0
    assert _candidates(scores) == [1, 15, 14, 13, 0]
    weak_tie = np.full(16, 0.5)
    assert _candidates(weak_tie) == [0, 1, 2, 3]  # equal scores keep phase order
