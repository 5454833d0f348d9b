"""Captions from a layout's facts: varied phrasing, never a claim the picture does not bear out.

Kohya reads ``name.txt`` as the caption and keeps the first token (``keep_tokens = 1``), so the
trigger word always comes first. Every number and quoted string comes from ``Layout.facts``:
what the family drew (rooms, chambers, corridors) or counted on the finished grid (doors, density,
dead ends). tests/test_captions.py recounts each claim on the grid independently.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import TRIGGER_WORD
from ..grid.layout import Layout


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _walls(rng: np.random.Generator, style: str) -> str:
    if style == "outline":
        return _pick(rng, ("thin line walls", "outlined walls", "line-drawn walls"))
    return _pick(rng, ("brick walls", "solid masonry walls", "block walls"))


def _quoted(items: Sequence[str]) -> str:
    q = [f'"{s}"' for s in items]
    return q[0] if len(q) == 1 else ", ".join(q[:-1]) + " and " + q[-1]


def _doors(f: dict[str, Any]) -> list[str]:
    return [_plural(f["doors"], "door")] if f["doors"] else []


def _dungeon(rng: np.random.Generator, f: dict[str, Any]) -> list[str]:
    subject = _pick(
        rng, ("systematic dungeon map", "top-down dungeon floor plan", "roguelike dungeon layout")
    )
    rooms = len(f["rooms"])
    return [
        subject,
        f"{_plural(rooms, _pick(rng, ('room', 'rectangular room')))} joined by corridors",
        *_doors(f),
    ]


def _mixed(rng: np.random.Generator, f: dict[str, Any]) -> list[str]:
    subject = _pick(rng, ("mixed dungeon map", "dungeon map with natural caverns", "ruined dungeon layout"))
    body = f"{_plural(len(f['rooms']), 'room')} and {_plural(f['caves'], 'cave')} joined by corridors"
    return [subject, body, *_doors(f)]


def _rooms_and_mazes(rng: np.random.Generator, f: dict[str, Any]) -> list[str]:
    subject = _pick(
        rng,
        ("roguelike rooms and mazes", "dungeon of rooms and winding maze passages", "rooms and mazes map"),
    )
    return [
        subject,
        f"{_plural(len(f['rooms']), 'room')} linked by winding passages",
        *_doors(f),
        "no dead ends",
    ]


def _cave(rng: np.random.Generator, f: dict[str, Any]) -> list[str]:
    subject = _pick(rng, ("cave system", "natural cavern map", "cellular cave layout"))
    k = f["chambers"]
    body = f"{k} chambers joined by tunnels" if k > 1 else "one connected cavern"
    return [subject, body, _pick(rng, ("irregular organic walls", "ragged rock outlines"))]


def _maze(rng: np.random.Generator, f: dict[str, Any]) -> list[str]:
    h, w = f["size"]
    look = {"backtracker": "long winding passages", "prim": "many short branching passages"}[f["algorithm"]]
    subject = _pick(rng, ("perfect maze", "labyrinth", "maze map"))
    return [
        subject,
        f"{w} by {h} cells",
        look,
        f"{_plural(f['dead_ends'], 'dead end')}",
        _pick(
            rng, ("openings on the west and east edges", "entrance on the west edge, exit on the east edge")
        ),
    ]


def _corridor(rng: np.random.Generator, f: dict[str, Any]) -> list[str]:
    subject = _pick(rng, ("infinite corridor", "endless corridors", "infinite corridor map"))
    parts = [subject, _plural(len(f["corridors"]), "corridor") + " running off the edges"]
    for c in f["corridors"]:
        turns = _plural(c["turns"], "turn") if c["turns"] else "no turns"
        width = "one cell" if c["width"] == 1 else f"{c['width']} cells"
        parts.append(f"{width} wide from the {c['entry']} edge to the {c['exit']} edge with {turns}")
    return parts


def _text(rng: np.random.Generator, f: dict[str, Any]) -> list[str]:
    titles = [p["title"] for p in f["panels"]]
    frame = "line frame" if f["frame_style"] == "outline" else "brick frame"
    if f["kind"] == "terminal":
        first = next((line for line in f["panels"][0]["lines"] if line.startswith("$")), "$ _")
        return [
            _pick(rng, ("terminal screen", "retro computer terminal", "console screen")),
            f"titled {_quoted(titles)}",
            f'command line "{first}"',
            frame,
        ]
    noun = _plural(len(titles), _pick(rng, ("text panel", "framed text panel")))
    return [noun, f"titled {_quoted(titles)}", frame, _pick(rng, ("monospace text", "bitmap font text"))]


PHRASES = {
    "dungeon": _dungeon,
    "mixed": _mixed,
    "rooms_and_mazes": _rooms_and_mazes,
    "cave": _cave,
    "maze": _maze,
    "corridor": _corridor,
    "text": _text,
}

FINISH = ("white on black", "white on pure black", "pure white on black")
EXTRAS = ("ascii art", "16 px grid", "pixel-perfect cells", "top-down view")


def caption(layout: Layout, rng: np.random.Generator) -> str:
    f = layout.facts
    parts = PHRASES[layout.family](rng, f)
    if "wall_style" in f:
        parts.append(_walls(rng, f["wall_style"]))
        parts.append(f"{f['density']} layout")
    parts.append(_pick(rng, FINISH))
    parts.append(_pick(rng, EXTRAS))
    return ", ".join([TRIGGER_WORD, *parts])
