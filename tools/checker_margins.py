"""The numbers that separate the cases: each measured quantity's range per class of the foreign set.

    python tools/checker_margins.py [PART]     # default: tune (the part the thresholds were set on)

For every class of tools/foreign_set.py it prints the range (min..max) of what `ascii-lora check`
measures: dark and light level, edge grey, drawn share, connected share, grid score. docs/checker.md
quotes these ranges next to each threshold.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ascii_lora.check.geometry import content, solid  # noqa: E402
from ascii_lora.check.score import binarize, check_gray, ink_threshold  # noqa: E402
from ascii_lora.config.models import CheckConfig  # noqa: E402
from ascii_lora.grid.atlas import get_atlas  # noqa: E402
from tools import foreign_set as fs  # noqa: E402

FIELDS = ("background_level", "light_level", "edge_grey", "drawn_share", "connected", "grid_score")


def measures(image: np.ndarray, cfg: CheckConfig, atlas) -> dict:
    r, _ = check_gray("x", image.astype(np.float32), cfg, atlas)
    binary = binarize(image.astype(np.float32), ink_threshold(image.astype(np.float32)))
    joined = content(binary, solid(binary), atlas.cell, cfg.min_cell_pixels).connected
    return {
        "background_level": r.background_level,
        "light_level": r.light_level,
        "edge_grey": r.edge_grey,
        "drawn_share": r.drawn_share,
        "connected": joined,
        "grid_score": r.grid_score,
    }


def main(argv: list[str]) -> int:
    part = argv[0] if argv else "tune"
    cfg, atlas = CheckConfig(), get_atlas(16)
    print(f"part {part}: min..max per class\n| class | " + " | ".join(FIELDS) + " |")
    print("|---" * (len(FIELDS) + 1) + "|")
    for klass in fs.CLASSES:
        rows = [measures(p.image, cfg, atlas) for p in fs.pictures(part, klass)]
        cells = []
        for f in FIELDS:
            vals = [v[f] for v in rows if v[f] is not None]
            cells.append(f"{min(vals):.3g}..{max(vals):.3g}" if vals else "-")
        print(f"| {klass} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
