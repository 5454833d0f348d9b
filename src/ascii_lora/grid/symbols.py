"""The characters that map families draw with.

Every symbol is a printable ASCII character and therefore a glyph of the one atlas: a map and a
text panel are read back by the same lookup. The line-drawing walls borrow punctuation that the
text family never writes (see ``RESERVED_FOR_LINES``), so a text panel cannot be mistaken for a
wall outline.
"""

from __future__ import annotations

import numpy as np

VOID = " "
FLOOR = "."
WALL = "#"
DOOR = "+"

# Line walls, indexed by the arms they have: bit 1 = north, 2 = east, 4 = south, 8 = west.
NORTH, EAST, SOUTH, WEST = 1, 2, 4, 8
LINE_BY_ARMS: dict[int, str] = {
    0: "*",  # lone pillar: drawn as a cross, the least surprising reading
    NORTH: "|",
    SOUTH: "|",
    NORTH | SOUTH: "|",
    EAST: "-",
    WEST: "-",
    EAST | WEST: "-",
    EAST | SOUTH: "{",  # top-left corner
    WEST | SOUTH: "}",  # top-right corner
    NORTH | EAST: "[",  # bottom-left corner
    NORTH | WEST: "]",  # bottom-right corner
    EAST | SOUTH | WEST: "~",  # tee opening down
    NORTH | EAST | WEST: "^",  # tee opening up
    NORTH | EAST | SOUTH: ">",  # tee opening right
    NORTH | SOUTH | WEST: "<",  # tee opening left
    NORTH | EAST | SOUTH | WEST: "*",  # cross
}

# The arms each line glyph is drawn with (the inverse of LINE_BY_ARMS for the tile designer).
ARMS_OF_LINE: dict[str, int] = {
    "|": NORTH | SOUTH,
    "-": EAST | WEST,
    "{": EAST | SOUTH,
    "}": WEST | SOUTH,
    "[": NORTH | EAST,
    "]": NORTH | WEST,
    "~": EAST | SOUTH | WEST,
    "^": NORTH | EAST | WEST,
    ">": NORTH | EAST | SOUTH,
    "<": NORTH | SOUTH | WEST,
    "*": NORTH | EAST | SOUTH | WEST,
}

RESERVED_FOR_LINES = "{}[]~^<>*"
MAP_SYMBOLS = VOID + FLOOR + WALL + DOOR + "".join(sorted(ARMS_OF_LINE))


def codes(chars: str) -> np.ndarray:
    """ASCII codes of ``chars`` as uint8, the dtype every cell grid uses."""
    return np.frombuffer(chars.encode("ascii"), dtype=np.uint8)


LINE_LUT = np.array([ord(LINE_BY_ARMS[m]) for m in range(16)], dtype=np.uint8)
