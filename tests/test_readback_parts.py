"""check/readback.py piece by piece, each against a slow, obvious oracle written here.

test_check_v3.py judges readings of whole glyph sets; these pin the distances and the rules
those readings rest on, cell by cell, with loops over pixels and tiles instead of the matrix
products the module uses.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ascii_lora.check import readback
from ascii_lora.config.models import CheckConfig
from ascii_lora.grid.atlas import get_atlas

CFG = CheckConfig()
ATLAS = get_atlas(16)
INKED = [i for i in range(len(ATLAS.chars)) if ATLAS.tiles[i].any()]


def moved(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``a`` moved by (dy, dx) inside its own frame; what leaves the frame is lost, zeros come in."""
    out = np.roll(a, (dy, dx), axis=(0, 1))
    ys, xs = np.indices(a.shape)
    return out & (ys - dy >= 0) & (ys - dy < a.shape[0]) & (xs - dx >= 0) & (xs - dx < a.shape[1])


def grown(a: np.ndarray) -> np.ndarray:
    """Every pixel with an inked pixel within one (8-neighbourhood), inside the frame."""
    out = np.zeros_like(a)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            out |= moved(a, dy, dx)
    return out


def tolerant_distance(cell: np.ndarray, tile: np.ndarray) -> float:
    """Ink of each shape farther than 1 px from the other, over both inks; best of 9 moves of the tile."""
    best = np.inf
    near_cell = grown(cell)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            t = moved(tile, dy, dx)
            miss = (cell & ~grown(t)).sum() + (t & ~near_cell).sum()
            best = min(best, miss / max(cell.sum() + t.sum(), 1))
    return float(best)


def some_cells(n: int = 6, seed: int = 0) -> np.ndarray:
    """Tiles of the kit with a few pixels flipped, and one random scribble: near and far cases."""
    rng = np.random.default_rng(seed)
    cells = []
    for i in rng.choice(INKED, n - 1, replace=False):
        t = np.array(ATLAS.tiles[i])
        flip = rng.random(t.shape) < 0.04
        cells.append(t ^ flip)
    cells.append(rng.random((16, 16)) < 0.3)
    return np.stack(cells)


def test_dilate_and_shift_agree_with_pixel_loops():
    blocks = np.random.default_rng(1).random((3, 16, 16)) < 0.1
    assert np.array_equal(readback._dilate(blocks), np.stack([grown(b) for b in blocks]))
    for dy in (-2, -1, 0, 1, 3):
        for dx in (-1, 0, 2):
            want = np.stack([moved(b, dy, dx) for b in blocks])
            assert np.array_equal(readback._shift(blocks, dy, dx), want), (dy, dx)


def test_box_is_the_height_and_width_of_the_ink():
    blocks = np.zeros((3, 16, 16), bool)
    blocks[0, 2:9, 5:7] = True
    blocks[1, 0, 0] = blocks[1, 15, 15] = True
    blocks[2, 4, 3:14] = True
    assert readback._box(blocks).tolist() == [[7, 2], [16, 16], [1, 11]]


def test_the_raw_tolerant_distance_to_every_tile_matches_the_oracle():
    cells = some_cells()
    bank = readback._tile_bank(ATLAS, False)
    got = readback._distances(cells, bank)
    assert got.shape == (len(cells), len(INKED))
    for m, cell in enumerate(cells):
        for j in range(0, len(INKED), 7):
            want = tolerant_distance(cell, np.array(ATLAS.tiles[INKED[j]]))
            assert got[m, j] == pytest.approx(want, abs=1e-6), (m, ATLAS.chars[INKED[j]])


def test_tolerant_nearest_names_the_closest_tile_and_the_runner_up_distance():
    distinct = some_cells(seed=2)
    oracle = [
        sorted((tolerant_distance(cell, np.array(ATLAS.tiles[i])), i) for i in INKED) for cell in distinct
    ]
    cells = np.concatenate(
        [distinct, distinct[:2]]
    )  # repeated patterns are computed once, reported each time
    best, d1, d2, _ = readback.tolerant_nearest(ATLAS, cells)
    for m in range(len(cells)):
        dist = oracle[m % len(distinct)]
        assert d1[m] == pytest.approx(dist[0][0], abs=1e-6)
        assert d2[m] == pytest.approx(dist[1][0], abs=1e-6)
        ties = [i for d, i in dist if abs(d - dist[0][0]) < 1e-6]
        assert best[m] in ties, (m, ATLAS.chars[best[m]])
    empty = readback.tolerant_nearest(ATLAS, np.zeros((0, 16, 16), bool))
    assert [len(a) for a in empty] == [0, 0, 0, 0]
    assert (empty[0].dtype.kind, empty[3].dtype.kind) == ("i", "b")


def test_a_read_agrees_when_the_ink_box_matches_the_tile_within_two_pixels():
    """A kit tile with one stroke a pixel thicker keeps its box within 2 px: the raw reading stands."""
    a = np.array(ATLAS.tiles[ATLAS.chars.index("H")])
    thick = a | moved(a, 0, 1)
    best, _, _, agrees = readback.tolerant_nearest(ATLAS, thick[None])
    assert ATLAS.chars[best[0]] == "H" and agrees[0]


def test_normalize_reports_aspect_position_and_height_of_the_ink():
    blocks = np.zeros((2, 16, 16), bool)
    blocks[0, 2:10, 4:8] = True  # 8 tall, 4 wide, rows 2..9
    blocks[1, 12:14, 1:15] = True  # 2 tall, 14 wide, rows 12..13
    scaled, feats = readback.normalize(blocks)
    assert feats[0] == pytest.approx([np.log(8 / 4), (2 + 10) / 32, np.log(8 / 16)])
    assert feats[1] == pytest.approx([np.log(2 / 14), (12 + 14) / 32, np.log(2 / 16)])
    # scaled to fill the cell less a 1 px border on its longer side, centred, aspect kept
    assert readback._box(scaled).tolist() == [[14, 7], [2, 14]]
    rows, cols = np.nonzero(scaled[0])
    assert (rows.min(), rows.max()) == (1, 14)


def variants_oracle(tile: np.ndarray) -> list[np.ndarray]:
    """The tile, each stroke a pixel thicker or thinner towards one of four directions, a pixel
    thicker or thinner all round (4-neighbours)."""
    out = [tile]
    for dy, dx in ((0, 1), (1, 0), (1, 1), (-1, 1)):
        m = moved(tile, dy, dx)
        out += [tile | m, tile & m]
    around = [moved(tile, dy, dx) for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0))]
    grown4, thinned4 = tile.copy(), tile.copy()
    for m in around:
        grown4 |= m
        thinned4 &= m
    return out + [grown4, thinned4]


def test_morphs_are_each_tile_and_its_ten_one_pixel_variants():
    tiles = np.stack([np.array(ATLAS.tiles[ATLAS.chars.index(ch)]) for ch in "A#/"])
    got = readback._morphs(tiles)
    assert got.shape == (3, 11, 16, 16)
    for k in range(3):
        for v, want in enumerate(variants_oracle(tiles[k])):
            assert np.array_equal(got[k, v], want), (k, v)


def inner_hamming(cell: np.ndarray, tile: np.ndarray) -> int:
    """Pixels of the inner 14x14 that differ from the tile's closest variant moved by at most a pixel."""
    best = 10**9
    for v in variants_oracle(tile):
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                best = min(best, int((moved(v, dy, dx)[1:-1, 1:-1] != cell[1:-1, 1:-1]).sum()))
    return best


def test_variant_distances_and_the_nearest_two_match_the_oracle():
    cells = some_cells(4, seed=3)
    dist, index = readback.variant_distances(ATLAS, cells)
    assert list(index) == INKED
    picks = INKED[::9]
    for m, cell in enumerate(cells):
        for i in picks:
            assert dist[m, INKED.index(i)] == inner_hamming(cell, np.array(ATLAS.tiles[i])), (
                m,
                ATLAS.chars[i],
            )
    tile, h1, h2 = readback.variant_nearest(ATLAS, np.concatenate([cells, cells[:1]]))
    for m in range(len(cells) + 1):
        row = sorted(dist[m % len(cells)])
        assert (h1[m], h2[m]) == (row[0], row[1])
        assert dist[m % len(cells), INKED.index(tile[m])] == row[0]


def test_variant_distances_are_the_same_in_chunks():
    cells = np.concatenate([some_cells(3, seed=s) for s in range(200)])  # 600 cells: two chunks of 512
    whole, _ = readback.variant_distances(ATLAS, cells)
    apart = np.concatenate(
        [readback.variant_distances(ATLAS, cells[a : a + 100])[0] for a in range(0, 600, 100)]
    )
    assert np.array_equal(whole, apart)


def flipped_tiles(n: int, seed: int) -> np.ndarray:
    """Kit tiles with 1-7 inner pixels flipped: near reads, near misses and runner-ups close behind."""
    rng = np.random.default_rng(seed)
    cells = np.stack([np.array(ATLAS.tiles[i]) for i in rng.choice(INKED, n)])
    for c in cells:
        for _ in range(int(rng.integers(1, 8))):
            y, x = rng.integers(1, 15, 2)
            c[y, x] ^= True
    return cells


def test_a_variant_read_is_sure_only_within_the_share_and_well_ahead_of_the_runner_up():
    """sure = differing pixels <= variant_max_share x inner ink, runner-up >= 2 x that + variant_min_gap,
    and some ink; the cells include runner-ups between 2x and 3x behind."""
    cells = np.concatenate([flipped_tiles(300, seed=4), some_cells(6, seed=4), np.zeros((1, 16, 16), bool)])
    tile, sure = readback.read_variants(ATLAS, cells, CFG)
    _, h1, h2 = readback.variant_nearest(ATLAS, cells)
    ink = cells[:, 1:-1, 1:-1].sum(axis=(1, 2))
    want = (h1 <= CFG.variant_max_share * ink) & (h2 >= 2 * h1 + CFG.variant_min_gap) & (ink > 0)
    assert sure.tolist() == want.tolist()
    assert sure.any() and not sure.all() and not sure[-1]
    between = want & (h1 > 0) & (h2 < 3 * h1 + CFG.variant_min_gap)
    assert between.any()  # the factor 2 is what reads these
    strict = CheckConfig(variant_max_share=0.0)
    assert readback.read_variants(ATLAS, cells, strict)[1].tolist() == ((h1 == 0) & want).tolist()


def test_an_empty_cell_is_never_sure_even_with_no_gap_asked_for():
    """Two tiles thin to nothing: an empty cell is 0 px from both, which a gap of 0 would accept;
    a read needs some ink."""
    empty = np.zeros((1, 16, 16), bool)
    _, h1, h2 = readback.variant_nearest(ATLAS, empty)
    assert (h1[0], h2[0]) == (0, 0)
    assert not readback.read_variants(ATLAS, empty, CheckConfig(variant_min_gap=0))[1][0]


def test_nothing_to_read_gives_empty_answers():
    tile, h1, h2 = readback.variant_nearest(ATLAS, np.zeros((0, 16, 16), bool))
    assert (len(tile), len(h1), len(h2)) == (0, 0, 0) and tile.dtype.kind == "i"


def test_the_variant_probe_reads_everything_or_nothing_by_a_fifth_of_64_cells():
    """Over 64 cells, 64 evenly spread are tried first: under a fifth read as the kit's glyphs and
    the whole lot is skipped; a fifth or more and every cell is read."""
    kit = np.stack([np.array(ATLAS.tiles[i]) for i in INKED[:40]])
    noise = np.random.default_rng(5).random((200, 16, 16)) < 0.4

    def mixed(n_kit: int, n: int = 200) -> np.ndarray:
        cells = noise[:n].copy()
        at = np.linspace(0, n - 1, 64).astype(np.intp)[:n_kit]  # the probe's own positions
        cells[at] = kit[np.arange(n_kit) % len(kit)]
        return cells

    few = mixed(12)  # 12 of 64 probed: 18.75 %
    _, sure = readback.read_kit_variants(ATLAS, few, CFG)
    assert not sure.any()
    enough = mixed(13)  # 13 of 64: 20.3 %
    tile, sure = readback.read_kit_variants(ATLAS, enough, CFG)
    assert sure.sum() == 13 and np.array_equal(tile[sure], np.array(INKED[:13]))
    small = mixed(1, n=64)  # 64 cells or fewer: read in full, no probe
    assert readback.read_kit_variants(ATLAS, small, CFG)[1].sum() == 1


def test_a_variant_read_at_exactly_the_share_is_sure():
    """'H' with two pixels flipped: 2 px from its nearest variant; a limit of exactly 2 px of its
    ink still reads it, a hair less does not."""
    cell = np.array(ATLAS.tiles[ATLAS.chars.index("H")])
    cell[7, 7] ^= True
    cell[8, 2] ^= True
    _, h1, _ = readback.variant_nearest(ATLAS, cell[None])
    ink = int(cell[1:-1, 1:-1].sum())
    share = float(h1[0]) / ink
    assert h1[0] == 2 and share * ink == h1[0]
    assert readback.read_variants(ATLAS, cell[None], CheckConfig(variant_max_share=share))[1][0]
    assert not readback.read_variants(ATLAS, cell[None], CheckConfig(variant_max_share=share * 0.99))[1][0]


def test_the_probe_is_64_cells_spread_from_the_first_to_the_last():
    """Every cell is the kit's except 52 of the 64 probed ones: the probe alone decides (12 of 64
    are under a fifth), so nothing is read, however many kit cells lie between the probed ones."""
    n = 200
    kit = np.stack([np.array(ATLAS.tiles[INKED[i % len(INKED)]]) for i in range(n)])
    noise = np.random.default_rng(6).random((n, 16, 16)) < 0.4
    probe = np.linspace(0, n - 1, 64).astype(np.intp)
    cells = kit.copy()
    cells[probe[12:]] = noise[probe[12:]]
    assert not readback.read_kit_variants(ATLAS, cells, CFG)[1].any()
    cells[probe[11]] = noise[probe[11]]  # one probed cell more or less is the whole difference
    cells[probe[12]] = kit[probe[12]]
    cells[probe[13]] = kit[probe[13]]
    assert readback.read_kit_variants(ATLAS, cells, CFG)[1].sum() >= n - 64


def drawn_smaller(ch: str, scale: float) -> np.ndarray:
    """The kit's glyph drawn at ``scale`` by nearest-neighbour resampling, centred: another font's size."""
    t = np.array(ATLAS.tiles[ATLAS.chars.index(ch)]).astype(np.uint8) * 255
    side = int(round(16 * scale))
    small = np.array(Image.fromarray(t).resize((side, side), Image.NEAREST)) > 127
    out = np.zeros((16, 16), bool)
    o = (16 - side) // 2
    out[o : o + side, o : o + side] = small
    return out


def ink_box(a: np.ndarray) -> tuple[int, int]:
    ys, xs = np.nonzero(a)
    return int(ys.max() - ys.min() + 1), int(xs.max() - xs.min() + 1)


def test_a_raw_reading_agrees_by_its_box_or_by_the_scaled_second_opinion():
    """agrees = the ink's box within 2 px of the read tile's (both ways), or the second opinion names
    the same tile: both shapes scaled to fill the cell (1 px border), the tolerant distance between
    them plus |features| x (0.25, 1, 0.15) for log aspect, centre row / 16 and log height / 16, the
    batch's heights first moved so their median is the kit's median letter height."""
    glyphs = [("H", 0.6), ("e", 0.5), ("M", 0.5), ("#", 0.6), ("k", 0.7), ("H", 0.8), ("K", 0.8), ("#", 0.8)]
    cells = np.concatenate([np.stack([drawn_smaller(ch, s) for ch, s in glyphs]), flipped_tiles(4, seed=7)])
    best, _, _, agrees = readback.tolerant_nearest(ATLAS, cells)
    tiles = np.stack([np.array(ATLAS.tiles[i]) for i in INKED])
    scaled_tiles, tile_feats = readback.normalize(tiles)
    letters = np.stack([np.array(ATLAS.tiles[i]) for i, ch in enumerate(ATLAS.chars) if ch.isalnum()])
    scaled, feats = readback.normalize(cells)
    feats[:, 2] -= np.median(feats[:, 2]) - np.median(readback.normalize(letters)[1][:, 2])
    weights = np.array([0.25, 1.0, 0.15])
    kinds = set()
    for m in range(len(cells)):
        second = [
            tolerant_distance(scaled[m], scaled_tiles[j]) + np.abs(feats[m] - tile_feats[j]) @ weights
            for j in range(len(INKED))
        ]
        named = INKED[int(np.argmin(second))] == best[m]
        box, tile_box = ink_box(cells[m]), ink_box(np.array(ATLAS.tiles[best[m]]))
        same_box = abs(box[0] - tile_box[0]) <= 2 and abs(box[1] - tile_box[1]) <= 2
        assert agrees[m] == (same_box or named), (m, ATLAS.chars[best[m]], same_box, named)
        kinds.add((same_box, named))
    assert {(True, False), (False, True), (False, False)} <= kinds  # each rule decides somewhere


# -- scaling a shape to fill the cell ------------------------------------------------------------------


def test_a_shape_filling_the_cell_less_its_border_is_unchanged_and_one_in_a_corner_is_centred():
    rng = np.random.default_rng(11)
    body = rng.random((14, 14)) < 0.4
    body[0, :] = body[:, 0] = True  # ink on every side of its 14 x 14 box
    body[-1, 3] = body[5, -1] = True
    centred = np.zeros((16, 16), bool)
    centred[1:15, 1:15] = body
    for dy, dx in ((0, 0), (-1, -1), (1, 1), (-1, 1)):  # in the middle, touching two edges of the cell
        placed = np.roll(centred, (dy, dx), axis=(0, 1))
        scaled, _ = readback.normalize(placed[None])
        assert np.array_equal(scaled[0], centred), (dy, dx)


@pytest.mark.parametrize("corner", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_a_small_shape_is_scaled_to_fourteen_pixels_on_its_longer_side_wherever_it_sits(corner):
    shape = np.zeros((5, 3), bool)
    shape[:, 0] = shape[0] = shape[-1] = True  # a '[': 5 tall, 3 wide
    cell = np.zeros((16, 16), bool)
    y, x = (0 if corner[0] == 0 else 16 - 5), (0 if corner[1] == 0 else 16 - 3)
    cell[y : y + 5, x : x + 3] = shape
    scaled, feats = readback.normalize(cell[None])
    h, w = readback._box(scaled)[0]
    assert h == 14 and 8 <= w <= 9  # aspect 3:5 kept, nothing read from beyond the shape's own box
    assert feats[0] == pytest.approx([np.log(5 / 3), (2 * y + 5) / 32, np.log(5 / 16)])


def test_a_one_pixel_line_has_height_or_width_one():
    rows = np.zeros((2, 16, 16), bool)
    rows[0, 6, 3:13] = True  # 1 tall, 10 wide
    rows[1, 2:14, 9] = True  # 12 tall, 1 wide
    _, feats = readback.normalize(rows)
    assert feats[0] == pytest.approx([np.log(1 / 10), 13 / 32, np.log(1 / 16)])
    assert feats[1] == pytest.approx([np.log(12 / 1), 16 / 32, np.log(12 / 16)])


# -- reading the cells of a crop -----------------------------------------------------------------------


def kit(ch: str) -> np.ndarray:
    return np.array(ATLAS.tiles[ATLAS.chars.index(ch)])


def crop_of(cells: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(cells, axis=1)


def test_read_takes_exact_tiles_then_the_kit_1_px_off_then_the_tolerant_distance():
    """One row: an exact 'A', a blank cell, an 'H' a pixel thicker (the kit's variant), a foreign 'x'
    drawn at 70 % (the tolerant distance), a scribble (unknown), two specks the caller did not count as
    drawn (left blank, and no doubt about it)."""
    h = kit("H")
    thick = h | np.roll(h, 1, axis=1)
    scribble = np.random.default_rng(12).random((16, 16)) < 0.45
    specks = np.zeros((16, 16), bool)
    specks[3, 4] = specks[11, 9] = True
    cells = [kit("A"), np.zeros((16, 16), bool), thick, drawn_smaller("x", 0.7), scribble, specks]
    crop = crop_of(cells)
    drawn = np.array([[True, False, True, True, True, False]])
    r = readback.read(crop, drawn, ATLAS, (3, 2), CFG)
    best, d1, _, _ = readback.tolerant_nearest(ATLAS, np.stack(cells[3:5]))
    assert bytes(r.codes[0]).decode() == "A Hx? "
    assert r.exact[0].tolist() == [True, True, False, False, False, False]  # a blank cell is the space tile
    assert r.confident[0].tolist() == [True, True, True, True, False, True]
    assert r.distance[0].tolist() == pytest.approx([0.0, 0.0, 0.0, float(d1[0]), float(d1[1]), 0.0])
    assert 0 < d1[0] <= CFG.read_max_distance and ATLAS.chars[best[0]] == "x"
    assert r.offset == (3, 2) and r.drawn is drawn and r.confidence == pytest.approx(3 / 4)
    assert np.array_equal(r.blocks[0, 4], scribble)
    quick = readback.read(crop, drawn, ATLAS, (0, 0), CFG, tolerant=False)
    assert bytes(quick.codes[0]).decode() == "A ??? "
    assert quick.confident[0].tolist() == [True, True, False, False, False, True]


def test_a_tolerant_read_holds_at_exactly_the_distance_and_margin_limits():
    x = drawn_smaller("x", 0.7)
    _, d1, d2, _ = readback.tolerant_nearest(ATLAS, x[None])
    drawn = np.ones((1, 1), bool)
    at_limits = CheckConfig(read_max_distance=float(d1[0]), read_min_margin=float(d2[0] - d1[0]))
    assert readback.read(x, drawn, ATLAS, (0, 0), at_limits).confident[0, 0]
    tighter = CheckConfig(read_max_distance=float(d1[0]) * 0.999)
    assert not readback.read(x, drawn, ATLAS, (0, 0), tighter).confident[0, 0]
    wider_margin = CheckConfig(read_min_margin=float(d2[0] - d1[0]) * 1.001)
    assert not readback.read(x, drawn, ATLAS, (0, 0), wider_margin).confident[0, 0]
