"""Every family draws a grid the atlas can render, with the structure its facts claim."""

from __future__ import annotations

import numpy as np
import pytest

from ascii_lora.config.models import DatasetConfig
from ascii_lora.dataset.families import FAMILIES
from ascii_lora.grid import ops as gridops
from ascii_lora.grid import symbols
from ascii_lora.grid.atlas import PRINTABLE, get_atlas
from ascii_lora.grid.layout import floor_fraction

from . import grid_oracle as oracle

SEEDS = range(12)
MAP_FAMILIES = ["dungeon", "rooms_and_mazes", "cave", "maze", "corridor", "mixed"]
WALLS = set(symbols.WALL) | set(symbols.ARMS_OF_LINE)


def layout(family: str, seed: int, cfg: DatasetConfig | None = None):
    return FAMILIES[family](np.random.default_rng([99, seed]), cfg or DatasetConfig())


def walkable(grid: np.ndarray) -> np.ndarray:
    return (grid == gridops.FLOOR) | (grid == gridops.DOOR)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_grid_is_64x64_printable_and_renders_binary_on_the_atlas(family):
    for seed in SEEDS:
        lay = layout(family, seed)
        assert lay.family == family
        assert lay.grid.shape == (64, 64) and lay.grid.dtype == np.uint8
        assert set(np.unique(lay.grid).tolist()) <= {ord(c) for c in PRINTABLE}
        image = get_atlas(16).render(lay.grid)
        assert image.shape == (1024, 1024) and image.dtype == bool
        codes, matched = get_atlas(16).read_exact(image)
        assert matched.all() and np.array_equal(codes, lay.grid)
        lines = lay.text().splitlines()
        assert len(lines) == 64 and all(len(line) == 64 for line in lines)


@pytest.mark.parametrize("family", ["dungeon", "rooms_and_mazes", "cave", "maze", "mixed"])
def test_every_floor_cell_is_reachable(family):
    for seed in SEEDS:
        assert oracle.is_connected(walkable(layout(family, seed).grid))


@pytest.mark.parametrize("family", MAP_FAMILIES)
def test_walls_enclose_the_floor_except_where_corridors_leave_the_image(family):
    for seed in SEEDS:
        grid = layout(family, seed).grid
        open_ = walkable(grid)
        void = grid == gridops.VOID
        # no walkable cell touches the void: a wall always stands between them
        assert not (gridops.dilate(void) & open_).any()


@pytest.mark.parametrize("family", ["dungeon", "mixed"])
def test_rooms_are_whole_floor_rectangles_that_never_touch(family):
    for seed in SEEDS:
        lay = layout(family, seed)
        grid = lay.grid
        seen = np.zeros(grid.shape, dtype=bool)
        for top, left, h, w in lay.facts["rooms"]:
            assert h >= 3 and w >= 3
            assert (grid[top : top + h, left : left + w] == gridops.FLOOR).all()
            ring = gridops.rect_ring(grid.shape, top, left, h, w)
            assert not (ring & seen).any()
            seen[top - 1 : top + h + 1, left - 1 : left + w + 1] = True


@pytest.mark.parametrize("family", ["dungeon", "rooms_and_mazes", "mixed"])
def test_doors_stand_in_a_wall_between_two_walkable_cells(family):
    for seed in SEEDS:
        grid = layout(family, seed).grid
        doors = grid == gridops.DOOR
        assert doors.any()
        open_ = walkable(grid)
        wallish = np.isin(grid, [ord(c) for c in WALLS | {symbols.DOOR}])
        across_v = (
            gridops.shift(open_, 1, 0)
            & gridops.shift(open_, -1, 0)
            & gridops.shift(wallish, 0, 1)
            & gridops.shift(wallish, 0, -1)
        )
        across_h = (
            gridops.shift(open_, 0, 1)
            & gridops.shift(open_, 0, -1)
            & gridops.shift(wallish, 1, 0)
            & gridops.shift(wallish, -1, 0)
        )
        assert (across_v | across_h)[doors].all()


def test_rooms_and_mazes_has_no_dead_ends():
    for seed in SEEDS:
        lay = layout("rooms_and_mazes", seed)
        open_ = walkable(lay.grid)
        degree = sum(
            gridops.shift(open_, dy, dx).astype(int) for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1))
        )
        assert not (open_ & (degree <= 1)).any()
        assert len(lay.facts["rooms"]) >= 3


def test_maze_is_perfect_one_path_between_any_two_cells():
    for seed in SEEDS:
        lay = layout("maze", seed)
        top, left, h, w = lay.facts["bounds"]
        inside = walkable(lay.grid)[top : top + h, left : left + w]
        cells = int(inside.sum())
        edges = int((inside[:, 1:] & inside[:, :-1]).sum() + (inside[1:, :] & inside[:-1, :]).sum())
        assert oracle.is_connected(inside) and edges == cells - 1  # a tree
        ny, nx = lay.facts["size"]
        assert (h, w) == (2 * ny + 1, 2 * nx + 1)
        open_full = walkable(lay.grid)
        assert open_full[:, 0].any() and open_full[:, -1].any()  # entrances run off west and east


def _edge(mask: np.ndarray, side: str) -> np.ndarray:
    return {"north": mask[0], "south": mask[-1], "west": mask[:, 0], "east": mask[:, -1]}[side]


def test_corridors_run_off_the_edges_they_claim():
    for seed in SEEDS:
        lay = layout("corridor", seed)
        open_ = walkable(lay.grid)
        assert lay.facts["corridors"]
        for c in lay.facts["corridors"]:
            assert _edge(open_, c["entry"]).any() and _edge(open_, c["exit"]).any()
            assert 1 <= c["width"] <= 3


def test_cave_chambers_are_tunnelled_into_one_system():
    for seed in SEEDS:
        lay = layout("cave", seed)
        assert lay.facts["chambers"] >= 1
        assert oracle.is_connected(walkable(lay.grid))
        assert floor_fraction(lay.grid) > 0.08


def test_mixed_layouts_hold_rooms_and_caves():
    for seed in SEEDS:
        lay = layout("mixed", seed)
        assert lay.facts["rooms"] and lay.facts["caves"] >= 1


def test_text_panels_hold_their_title_and_lines_verbatim():
    for seed in SEEDS:
        lay = layout("text", seed)
        text = lay.text()
        assert lay.facts["panels"]
        for panel in lay.facts["panels"]:
            assert panel["title"] in text
            for line in panel["lines"]:
                assert line in text
                assert not set(line) & set(symbols.RESERVED_FOR_LINES + "#+|-")


@pytest.mark.parametrize("family", MAP_FAMILIES)
def test_wall_style_follows_outline_chance(family):
    cfg_blocks = DatasetConfig(outline_chance=0.0)
    cfg_lines = DatasetConfig(outline_chance=1.0)
    blocks, lines = layout(family, 3, cfg_blocks), layout(family, 3, cfg_lines)
    assert (blocks.grid == gridops.WALL).any() and blocks.facts["wall_style"] == "blocks"
    assert not (lines.grid == gridops.WALL).any() and lines.facts["wall_style"] == "outline"
    # the same structure, only the wall glyphs differ
    assert np.array_equal(walkable(blocks.grid), walkable(lines.grid))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_families_fit_other_resolutions(family):
    for cells in (24, 40, 64, 96):
        cfg = DatasetConfig(resolution=cells * 16)
        assert layout(family, 1, cfg).grid.shape == (cells, cells)
