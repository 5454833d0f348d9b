"""Text: framed panels and terminal screens of real words, one glyph per cell."""

from __future__ import annotations

import numpy as np

from ...config.models import DatasetConfig
from ...grid import ops as gridops
from ...grid import symbols
from ...grid.layout import Layout
from ..words import COMMANDS, FILES, WORDS


def _words(rng: np.random.Generator, k: int) -> list[str]:
    return [WORDS[i] for i in rng.integers(0, len(WORDS), size=k).tolist()]


def _wrap(rng: np.random.Generator, width: int, lines: int) -> list[str]:
    """Lines of whole words filling up to ``width``; some end in a full stop.

    Every draw is made up front (a word is at least two letters, so a line holds fewer than
    width // 2 + 2 of them), then the lines are filled from the drawn words.
    """
    per_line = width // 2 + 2
    picks = rng.integers(0, len(WORDS), size=(lines, per_line)).tolist()
    stops = (rng.random(lines) < 0.3).tolist()
    out = []
    for row, stop in zip(picks, stops, strict=True):
        line = ""
        for k in row:
            nxt = f"{line} {WORDS[k]}" if line else WORDS[k]
            if len(nxt) > width:
                break
            line = nxt
        if stop and len(line) < width:
            line += "."
        out.append(line)
    return out


def _terminal_lines(rng: np.random.Generator, width: int, lines: int) -> list[str]:
    out: list[str] = []
    while len(out) < lines - 1:
        cmd = COMMANDS[int(rng.integers(len(COMMANDS)))]
        arg = FILES[int(rng.integers(len(FILES)))] if rng.random() < 0.7 else _words(rng, 1)[0]
        out.append(f"$ {cmd} {arg}"[:width])
        for _ in range(int(rng.integers(1, 4))):
            if len(out) < lines - 1:
                out.append(" ".join(_words(rng, int(rng.integers(2, 6))))[:width])
    out.append("$ _")
    return out[:lines]


def _place(rng: np.random.Generator, n: int, taken: np.ndarray, h: int, w: int) -> tuple[int, int] | None:
    for _ in range(30):
        top = int(rng.integers(1, n - h))
        left = int(rng.integers(1, n - w))
        if not taken[top - 1 : top + h + 1, left - 1 : left + w + 1].any():
            return top, left
    return None


def generate(rng: np.random.Generator, cfg: DatasetConfig) -> Layout:
    n = cfg.cells
    p = cfg.text
    outline = bool(rng.random() < 0.5)
    terminal = bool(rng.random() < p.terminal_chance)
    upper = bool(rng.random() < p.uppercase_chance)
    grid = np.full((n, n), ord(symbols.VOID), dtype=np.uint8)
    frames = np.zeros((n, n), dtype=bool)
    taken = np.zeros((n, n), dtype=bool)
    panels = []
    count = 1 if terminal else int(rng.integers(1, 4))
    for _ in range(count):
        w = (
            int(rng.integers(min(24, n - 4), n - 2))
            if terminal or count == 1
            else int(rng.integers(16, max(17, n // 2 + 8)))
        )
        body = int(rng.integers(3, max(4, (n - 8) // count - 4)))
        h = body + 4  # frame, title, separator, body..., frame
        w, h = min(w, n - 2), min(h, n - 2)
        spot = _place(rng, n, taken, h, w)
        if spot is None:
            continue
        top, left = spot
        taken[top : top + h, left : left + w] = True
        ring = gridops.rect_ring((n, n), top + 1, left + 1, h - 2, w - 2)
        frames |= ring
        frames[top + 2, left : left + w] = True  # separator under the title
        inner = w - 4
        title = " ".join(_words(rng, int(rng.integers(1, 4))))[:inner].strip()
        if terminal:
            title = f"terminal {int(rng.integers(1, 10))}"
            lines = _terminal_lines(rng, inner, h - 4)
        else:
            lines = _wrap(rng, inner, h - 4)
        if upper:
            title, lines = title.upper(), [line.upper() for line in lines]
        else:
            title = title.title() if not terminal else title
        for row, line in enumerate([title, *lines]):
            y = top + 1 + row + (1 if row else 0)
            grid[y, left + 2 : left + 2 + len(line)] = symbols.codes(line)
        panels.append({"title": title, "lines": lines, "bounds": [top, left, h, w]})
    grid[frames] = gridops.WALL
    if outline:
        grid = gridops.outline_walls(grid)
    facts = {
        "kind": "terminal" if terminal else "panel",
        "panels": panels,
        "frame_style": "outline" if outline else "blocks",
        "uppercase": upper,
    }
    return Layout("text", grid, facts)
