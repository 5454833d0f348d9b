"""Captions say only what the picture bears out, in varied words, trigger word first."""

from __future__ import annotations

import re

import numpy as np
import pytest

from ascii_lora import TRIGGER_WORD
from ascii_lora.grid import ops as gridops
from ascii_lora.dataset.captions import caption
from ascii_lora.dataset.families import FAMILIES
from ascii_lora.grid.layout import density_word, floor_fraction

SEEDS = range(15)


def pair(family: str, seed: int):
    rng = np.random.default_rng([7, seed])
    lay = FAMILIES[family](rng, _cfg())
    return lay, caption(lay, rng)


def _cfg():
    from ascii_lora.config.models import DatasetConfig

    return DatasetConfig()


def number_before(text: str, noun: str) -> int | None:
    m = re.search(rf"(\d+) (?:rectangular )?{noun}s?\b", text)
    return int(m.group(1)) if m else None


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("seed", SEEDS)
def test_one_line_trigger_word_first_white_on_black(family, seed):
    _, cap = pair(family, seed)
    assert cap.startswith(TRIGGER_WORD + ", ")
    assert "\n" not in cap and cap.count(TRIGGER_WORD) == 1
    assert "white on" in cap


@pytest.mark.parametrize("family", ["dungeon", "rooms_and_mazes", "mixed"])
@pytest.mark.parametrize("seed", SEEDS)
def test_room_and_door_counts_match_the_grid(family, seed):
    lay, cap = pair(family, seed)
    assert number_before(cap, "room") == len(lay.facts["rooms"])
    doors = int((lay.grid == gridops.DOOR).sum())
    assert number_before(cap, "door") == doors
    if family == "mixed":
        assert number_before(cap, "cave") == lay.facts["caves"]


@pytest.mark.parametrize("family", ["dungeon", "rooms_and_mazes", "cave", "maze", "corridor", "mixed"])
@pytest.mark.parametrize("seed", SEEDS)
def test_density_and_wall_style_words_match_the_grid(family, seed):
    lay, cap = pair(family, seed)
    assert f"{density_word(floor_fraction(lay.grid))} layout" in cap
    has_blocks = bool((lay.grid == gridops.WALL).any())
    block_words = ("brick walls", "masonry walls", "block walls")
    line_words = ("line walls", "outlined walls", "line-drawn walls")
    assert any(w in cap for w in block_words) == has_blocks
    assert any(w in cap for w in line_words) == (not has_blocks)


@pytest.mark.parametrize("seed", SEEDS)
def test_maze_caption_gives_its_true_size_and_dead_ends(seed):
    lay, cap = pair("maze", seed)
    top, left, h, w = lay.facts["bounds"]
    assert f"{(w - 1) // 2} by {(h - 1) // 2} cells" in cap
    open_ = lay.grid == gridops.FLOOR
    degree = sum(gridops.shift(open_, dy, dx).astype(int) for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)))
    dead = (open_ & (degree == 1))[top + 1 : top + h - 1, left + 1 : left + w - 1]  # inside the outer wall
    assert number_before(cap, "dead end") == int(dead.sum())


@pytest.mark.parametrize("seed", SEEDS)
def test_corridor_caption_names_edges_that_floor_reaches(seed):
    lay, cap = pair("corridor", seed)
    open_ = lay.grid == gridops.FLOOR
    edges = {"north": open_[0], "south": open_[-1], "west": open_[:, 0], "east": open_[:, -1]}
    claims = re.findall(r"from the (\w+) edge to the (\w+) edge", cap)
    assert len(claims) == len(lay.facts["corridors"]) == number_before(cap, "corridor")
    for a, b in claims:
        assert edges[a].any() and edges[b].any()


@pytest.mark.parametrize("seed", SEEDS)
def test_text_caption_quotes_text_that_is_in_the_picture(seed):
    lay, cap = pair("text", seed)
    quoted = re.findall(r'"([^"]*)"', cap)
    assert quoted
    for q in quoted:
        assert q in lay.text()


def test_phrasing_varies_across_seeds():
    caps = {pair("dungeon", s)[1].split(",")[1] for s in range(30)}
    assert len(caps) >= 2
