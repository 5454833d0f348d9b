"""Regenerate docs/check_overlay.png, the overlay README.md and docs/check.md show (run from the repo root).

A dungeon drawn with the kit's tiles, each glyph nudged a pixel inside its cell (another
renderer's placement), with a few cells smudged: the checker reads the nudged glyphs, tints the smudges red on the left, and the
snapped picture on the right keeps them as drawn (orange) instead of guessing a character.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ascii_lora.check.overlay import overlay  # noqa: E402
from ascii_lora.check.score import check_gray  # noqa: E402
from ascii_lora.config.models import CheckConfig  # noqa: E402
from ascii_lora.grid.atlas import get_atlas  # noqa: E402
from tests import checker_cases as cases  # noqa: E402


def main() -> None:
    rng = np.random.default_rng(2026)
    grid = cases.atlas_layout(rng, "dungeon")
    tiles = cases.morphed_tiles("none")
    img = np.concatenate(
        [
            np.concatenate(
                [
                    cases.nudge(tiles[c], *rng.integers(-1, 2, 2)) if c not in "#-|{}[]~^<>*" else tiles[c]
                    for c in row
                ],
                axis=1,
            )
            for row in grid
        ],
        axis=0,
    )
    cells = img.reshape(64, 16, 64, 16).transpose(0, 2, 1, 3)
    drawn = np.argwhere(cells.reshape(64, 64, -1).max(-1)[:24, :24] > 0)
    yy, xx = np.mgrid[0:16, 0:16]
    for r, c in drawn[rng.choice(len(drawn), 12, replace=False)]:
        cells[r, c] = np.where(((yy - 8) / 6) ** 2 + ((xx - 7) / 4) ** 2 <= 1, 255, 0)
    atlas = get_atlas(16)
    report, reading = check_gray("doc", img.astype(np.float32), CheckConfig(), atlas)
    full = overlay(img.astype(np.float32), reading, atlas, move=report.offset is not None)
    side = 384
    out = np.concatenate(
        [full[:side, :side], full[:side, 1024:1032], full[:side, 1032 : 1032 + side]], axis=1
    )
    Image.fromarray(out).save(ROOT / "docs" / "check_overlay.png", optimize=True)
    print(report.criteria, report.notes)


if __name__ == "__main__":
    main()
