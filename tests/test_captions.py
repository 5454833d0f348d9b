"""Captions say only what the picture bears out, in varied words, trigger word first.

Every claim is checked against a count made on the drawn grid by tests/grid_oracle.py (flood
fill, window openings, border runs), never against the generator's own ``facts``: a generator
that reports one thing and draws another must fail here.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from ascii_lora import TRIGGER_WORD
from ascii_lora.config.models import DatasetConfig
from ascii_lora.dataset.captions import caption
from ascii_lora.dataset.families import FAMILIES

from . import grid_oracle as oracle

SEEDS = range(15)
MAP_FAMILIES = ["dungeon", "rooms_and_mazes", "cave", "maze", "corridor", "mixed"]
OPPOSITE = {"north": "south", "south": "north", "east": "west", "west": "east"}


def pair(family: str, seed: int, cfg: DatasetConfig | None = None):
    rng = np.random.default_rng([7, seed])
    lay = FAMILIES[family](rng, cfg or DatasetConfig())
    return lay.grid, caption(lay, rng)


def number_before(text: str, noun: str) -> int | None:
    m = re.search(rf"(\d+) (?:rectangular )?{noun}s?\b", text)
    return int(m.group(1)) if m else None


def test_one_line_trigger_word_first_white_on_black():
    for family in sorted(FAMILIES):
        for seed in SEEDS:
            _, cap = pair(family, seed)
            assert cap.startswith(TRIGGER_WORD + ", "), (family, seed, cap)
            assert "\n" not in cap and cap.count(TRIGGER_WORD) == 1, (family, seed, cap)
            assert re.search(r"\b(pure )?white on (pure )?black\b", cap), (family, seed, cap)


def test_counted_nouns_agree_in_number():
    """'1 door', '2 doors', never '1 doors' or '3 room'."""
    for family in sorted(FAMILIES):
        for seed in SEEDS:
            _, cap = pair(family, seed)
            for n, noun in re.findall(r"\b(\d+) ((?:rectangular |dead |text |framed text )?[a-z]+)\b", cap):
                if noun.split()[-1] in ("by", "cells", "px"):  # sizes ("12 by 9 cells", "16 px"), not counts
                    continue
                plural = noun.endswith("s")
                assert plural == (int(n) != 1), f"{family} seed {seed}: '{n} {noun}' in {cap!r}"


def test_door_count_is_the_doors_drawn():
    for family in ("dungeon", "rooms_and_mazes", "mixed"):
        for seed in SEEDS:
            grid, cap = pair(family, seed)
            drawn = int((grid == oracle.DOOR).sum())
            assert drawn > 0
            assert number_before(cap, "door") == drawn, (family, seed, cap)


def test_room_counts_are_the_rooms_a_flood_fill_finds():
    """A room is a wide open area: one component of the 3x3 opening of the floor.

    rooms_and_mazes passages are one cell wide, so its rooms are counted exactly. A dungeon
    corridor that runs along a room wall can merge two rooms in the picture, so there the
    measured count may be lower on a few layouts, never higher, and equal on most.
    """
    for seed in SEEDS:
        grid, cap = pair("rooms_and_mazes", seed)
        assert number_before(cap, "room") == len(
            oracle.components(oracle.opening(grid == oracle.FLOOR, 3))
        ), (seed, cap)
        walk = oracle.walkable(grid)
        assert "no dead ends" in cap and not (walk & (oracle.degree(walk) <= 1)).any(), seed
    equal = 0
    for seed in SEEDS:
        grid, cap = pair("dungeon", seed)
        measured = len(oracle.components(oracle.opening(grid == oracle.FLOOR, 3)))
        claimed = number_before(cap, "room")
        assert measured <= claimed, (seed, measured, cap)
        equal += measured == claimed
    assert equal >= 0.8 * len(SEEDS)


def test_cave_chamber_count_is_measured_on_most_layouts():
    """Chambers are the wide parts left when the one-cell tunnels are opened away (2x2 opening).

    A chamber pinched to one cell wide reads as two, and a tunnel hugging a chamber can join two,
    so the measurement is a census, not an identity: it must agree on most layouts. An
    off-by-one in the caption agrees on almost none.
    """
    seeds = range(30)
    agree = 0
    for seed in seeds:
        grid, cap = pair("cave", seed)
        m = re.search(r"(\d+) chambers joined by tunnels|one connected cavern", cap)
        assert m, cap
        claimed = int(m.group(1)) if m.group(1) else 1
        chambers = [
            c
            for c in oracle.components(oracle.opening(grid == oracle.FLOOR, 2))
            if len(c) >= DatasetConfig().cave.min_chamber
        ]
        agree += len(chambers) == claimed
        assert oracle.is_connected(oracle.walkable(grid)), seed  # "joined by tunnels"
    assert agree >= 0.5 * len(seeds), (
        f"only {agree} of {len(seeds)} caves show the chamber count their caption claims"
    )


def test_mixed_caption_claims_rooms_and_caves_that_are_drawn():
    for seed in SEEDS:
        grid, cap = pair("mixed", seed)
        wide = oracle.components(oracle.opening(grid == oracle.FLOOR, 3))
        rectangles = sum(oracle.is_solid_rectangle(c) for c in wide)
        ragged = len(wide) - rectangles
        assert number_before(cap, "room") >= 1 and number_before(cap, "cave") >= 1, cap
        assert rectangles >= 1 and ragged >= 1, (seed, cap)


DENSITY = ((0.12, "sparse"), (0.30, "moderately dense"), (1.01, "dense"))  # the captions' density bands


def test_density_and_wall_style_words_match_the_grid():
    block_words = ("brick walls", "masonry walls", "block walls")
    line_words = ("line walls", "outlined walls", "line-drawn walls")
    for family in MAP_FAMILIES:
        for seed in SEEDS:
            grid, cap = pair(family, seed)
            fraction = float(oracle.walkable(grid).mean())
            word = next(w for limit, w in DENSITY if fraction < limit)
            assert f", {word} layout" in cap, (family, seed, fraction, cap)
            has_blocks = bool((grid == ord("#")).any())
            assert any(w in cap for w in block_words) == has_blocks, (family, seed, cap)
            assert any(w in cap for w in line_words) == (not has_blocks), (family, seed, cap)


def test_maze_caption_gives_its_size_dead_ends_and_look():
    """Size and dead ends are recounted inside the measured outer wall; the look follows the
    dead-end share: a backtracker leaves few (under 10% of open cells), Prim many (over 13%)."""
    for seed in range(20):
        grid, cap = pair("maze", seed)
        top, left, bottom, right = oracle.maze_box(grid)
        inside = oracle.maze_interior(grid)
        assert oracle.is_tree(inside), seed  # "perfect maze": exactly one path between two cells
        assert f"{(right - left) // 2} by {(bottom - top) // 2} cells" in cap, (seed, cap)
        ends = oracle.maze_dead_ends(grid)
        assert number_before(cap, "dead end") == ends, (seed, cap)
        bushy = ends / inside.sum() > 0.115
        look = "many short branching passages" if bushy else "long winding passages"
        assert look in cap, (seed, round(ends / inside.sum(), 3), cap)
        m = re.search(
            r"openings on the (\w+) and (\w+) edges|entrance on the (\w+) edge, exit on the (\w+) edge", cap
        )
        claimed = {e for e in m.groups() if e}
        runs = oracle.border_runs(oracle.walkable(grid))
        assert claimed == {e for e, r in runs.items() if r} and all(len(r) <= 1 for r in runs.values()), (
            seed,
            runs,
            cap,
        )


def test_corridor_caption_names_the_edges_and_widths_drawn():
    """Each corridor leaves the picture through two border runs as wide as the corridor.

    Runs of two corridors that cross the same edge side by side merge, so widths are compared
    only on edges with as many runs as claims.
    """
    compared = 0
    for seed in range(20):
        grid, cap = pair("corridor", seed)
        claims = re.findall(
            r"(one cell|\d+ cells) wide from the (\w+) edge to the (\w+) edge with (no turns|\d+ turns?)", cap
        )
        assert len(claims) == number_before(cap, "corridor") >= 1, cap
        widths: dict[str, list[int]] = {}
        for width, a, b, turns in claims:
            # each turn swaps a vertical heading for a horizontal one: an even number of turns
            # leaves by the entry's axis, an odd number by the other; with none, straight across
            k = 0 if turns == "no turns" else int(turns.split()[0])
            assert (k % 2 == 0) == ({a, b} <= {"north", "south"} or {a, b} <= {"east", "west"}), (seed, cap)
            assert k or OPPOSITE[a] == b, (seed, cap)
            w = 1 if width == "one cell" else int(width.split()[0])
            for edge in (a, b):
                widths.setdefault(edge, []).append(w)
        runs = oracle.border_runs(oracle.walkable(grid))
        assert {e for e, r in runs.items() if r} == set(widths), (seed, runs, cap)
        for edge, claimed in widths.items():
            assert len(runs[edge]) <= len(claimed), (seed, edge, runs, cap)
            if len(runs[edge]) == len(claimed):
                assert sorted(runs[edge]) == sorted(claimed), (seed, edge, runs, cap)
                compared += 1
    assert compared >= 20


def test_text_caption_quotes_text_that_is_in_the_picture():
    panels_seen = set()
    for seed in range(40):
        grid, cap = pair("text", seed)
        rows = [row.tobytes().decode("ascii") for row in grid]
        quoted = re.findall(r'"([^"]*)"', cap)
        assert quoted, cap
        for q in quoted:
            assert q in "\n".join(rows), (seed, q)
        m = re.search(r'command line "([^"]*)"', cap)
        if m:  # the terminal's first command: the first row of the picture with a prompt
            assert m.group(1) in next(r for r in rows if "$" in r), (seed, cap)
        else:  # one distinct quoted title per panel claimed
            n = int(re.search(r"(\d+) (?:framed )?text panels?", cap).group(1))
            assert len(quoted) == len(set(quoted)) == n, (seed, cap)
            panels_seen.add(n)
        assert ("brick frame" in cap) == bool((grid == ord("#")).any()), (seed, cap)  # text never uses '#'
    assert max(panels_seen) >= 3  # the "a, b and c" form is exercised


def test_phrasing_varies_across_seeds():
    caps = Counter(pair("dungeon", s)[1].split(",")[1] for s in range(30))
    assert len(caps) >= 2


# The caption language, written out: every caption must be one sentence of its family's grammar,
# and every alternative wording must occur (a wording dropped or misspelt is a changed prompt).
N = r"(\d+)"
WORDS = {
    "dungeon": [
        ("systematic dungeon map", "top-down dungeon floor plan", "roguelike dungeon layout"),
        (rf"{N} (rectangular )?rooms? joined by corridors",),
        (rf"{N} doors?",),
    ],
    "mixed": [
        ("mixed dungeon map", "dungeon map with natural caverns", "ruined dungeon layout"),
        (rf"{N} rooms? and {N} caves? joined by corridors",),
        (rf"{N} doors?",),
    ],
    "rooms_and_mazes": [
        ("roguelike rooms and mazes", "dungeon of rooms and winding maze passages", "rooms and mazes map"),
        (rf"{N} rooms? linked by winding passages",),
        (rf"{N} doors?",),
        ("no dead ends",),
    ],
    "cave": [
        ("cave system", "natural cavern map", "cellular cave layout"),
        (rf"{N} chambers joined by tunnels", "one connected cavern"),
        ("irregular organic walls", "ragged rock outlines"),
    ],
    "maze": [
        ("perfect maze", "labyrinth", "maze map"),
        (rf"{N} by {N} cells",),
        ("long winding passages", "many short branching passages"),
        (rf"{N} dead ends?",),
        ("openings on the west and east edges", "entrance on the west edge, exit on the east edge"),
    ],
    "corridor": [
        ("infinite corridor", "endless corridors", "infinite corridor map"),
        (rf"{N} corridors? running off the edges",),
        (
            r"(one cell|\d+ cells) wide from the (north|east|south|west) edge to the (north|east|south|west) edge "
            r"with (no turns|\d+ turns?)",
        ),
    ],
    "terminal": [
        ("terminal screen", "retro computer terminal", "console screen"),
        (r'titled "[^"]+"',),
        (r'command line "\$[^"]*"',),
        ("line frame", "brick frame"),
    ],
    "panels": [
        (r"\d+ (text|framed text) panels?",),
        (r'titled "[^"]+"((, "[^"]+")* and "[^"]+")?',),
        ("line frame", "brick frame"),
        ("monospace text", "bitmap font text"),
    ],
}
WALLS = (
    "thin line walls",
    "outlined walls",
    "line-drawn walls",
    "brick walls",
    "solid masonry walls",
    "block walls",
)
DENSITIES = ("sparse layout", "moderately dense layout", "dense layout")
FINISH = ("white on black", "white on pure black", "pure white on black")
EXTRAS = ("ascii art", "16 px grid", "pixel-perfect cells", "top-down view")


def _alt(options) -> str:
    return "(?:" + "|".join(options) + ")"


def grammar(kind: str) -> re.Pattern:
    slots = WORDS[kind]
    parts = [_alt(slots[0])] + [_alt(s) for s in slots[1:]]
    if kind == "corridor":  # one clause per corridor
        body = f"{parts[0]}, {parts[1]}(?:, {parts[2]})+"
    elif kind in ("dungeon", "mixed", "rooms_and_mazes"):  # the door clause only when doors are drawn
        body = ", ".join(parts[:2]) + f"(?:, {parts[2]})?" + "".join(f", {p}" for p in parts[3:])
    else:
        body = ", ".join(parts)
    walls = "" if kind in ("terminal", "panels") else f", {_alt(WALLS)}, {_alt(DENSITIES)}"
    return re.compile(f"{re.escape(TRIGGER_WORD)}, {body}{walls}, {_alt(FINISH)}, {_alt(EXTRAS)}")


def _literal(w: str) -> bool:
    return not set(w) & set('\\[]()"$+*?')


RARE = {"one connected cavern", "sparse layout"}  # a single-chamber cave, a near-empty map: not in 40 seeds


def test_captions_follow_their_family_grammar_and_use_every_wording():
    fixed = {w for slots in WORDS.values() for slot in slots for w in slot if _literal(w)}
    fixed |= set(WALLS) | set(DENSITIES) | set(FINISH) | set(EXTRAS)
    seen = set()
    for family in sorted(FAMILIES):
        for seed in range(40):
            _, cap = pair(family, seed)
            kind = family if family != "text" else ("terminal" if "command line" in cap else "panels")
            assert grammar(kind).fullmatch(cap), f"{family} seed {seed}: {cap!r}"
            seen |= {w for w in fixed if f", {w}" in cap}
    assert fixed - RARE <= seen, "wordings never used: " + ", ".join(sorted(fixed - RARE - seen))


def test_rare_branches_are_worded_by_what_is_drawn():
    """A single-chamber cave, straight one-cell corridors, a dungeon without doors."""
    one_cave = DatasetConfig(cave={"fill": (0.2, 0.2), "iterations": 5, "min_chamber": 12})
    for seed in range(5):
        grid, cap = pair("cave", seed, one_cave)
        chambers = [c for c in oracle.components(oracle.opening(grid == oracle.FLOOR, 2)) if len(c) >= 12]
        assert len(chambers) == 1 and ", one connected cavern, " in cap and grammar("cave").fullmatch(cap), (
            cap
        )
    straight = DatasetConfig(corridor={"count": (1, 1), "width": (1, 1), "segment": (200, 200)})
    for seed in range(5):
        grid, cap = pair("corridor", seed, straight)
        runs = oracle.border_runs(oracle.walkable(grid))
        ((a, b),) = re.findall(r"one cell wide from the (\w+) edge to the (\w+) edge with no turns", cap)
        assert OPPOSITE[a] == b and runs[a] == [1] and runs[b] == [1], (cap, runs)
    from ascii_lora.grid.layout import Layout

    blank = np.full((8, 8), ord(" "), dtype=np.uint8)
    doorless = Layout(
        "dungeon", blank, {"rooms": [[1, 1, 3, 3]], "doors": 0, "wall_style": "blocks", "density": "sparse"}
    )
    assert "door" not in caption(doorless, np.random.default_rng(0))
    two = Layout("cave", blank, {"chambers": 2, "wall_style": "blocks", "density": "sparse"})
    assert ", 2 chambers joined by tunnels, " in caption(two, np.random.default_rng(0))
    promptless = {
        "kind": "terminal",
        "frame_style": "outline",
        "panels": [{"title": "LOG", "lines": ["no prompt here"]}],
    }
    cap = caption(Layout("text", blank, promptless), np.random.default_rng(0))
    assert ', command line "$ _", ' in cap and grammar("terminal").fullmatch(cap), cap  # an idle prompt
