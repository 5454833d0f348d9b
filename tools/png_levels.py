"""Measure the dataset PNG's deflate level: encode time against file size, on real dataset grids.

Run by a developer when the encoder changes (`.venv/bin/python tools/png_levels.py`); the chosen
level and the numbers behind it are written down at ``COMPRESS_LEVEL`` in
src/ascii_lora/dataset/png.py. Every encoder is timed on one core (CPU time, best of a few
rounds, all rounds interleaved so a busy machine slows every row alike).
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
from PIL import Image

from ascii_lora.config.models import DatasetConfig
from ascii_lora.dataset import png
from ascii_lora.dataset.sample import build_layout, family_schedule
from ascii_lora.grid.atlas import get_atlas


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--count", type=int, default=140)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    cfg = DatasetConfig(count=args.count)
    atlas = get_atlas(cfg.cell_size)
    grids = [
        build_layout(cfg, fam, i)[0].grid
        for i, fam in enumerate(family_schedule(cfg.mix.weights(), args.count))
    ]
    bilevel = [Image.fromarray(atlas.render(g)) for g in grids]
    gray = [im.convert("L") for im in bilevel]

    def pillow(images, level):
        def run():
            out = []
            for im in images:
                buf = io.BytesIO()
                im.save(buf, "PNG", compress_level=level)
                out.append(len(buf.getvalue()))
            return out

        return run

    def ours(level):
        return lambda: [len(png.encode_grid(g, atlas, level)) for g in grids]

    rows = {f"this encoder, level {lv}": ours(lv) for lv in range(10)}
    rows["Pillow mode 1, level 1"] = pillow(bilevel, 1)
    rows["Pillow mode L, level 6 (the old files)"] = pillow(gray, 6)
    best = {k: float("inf") for k in rows}
    sizes: dict[str, list[int]] = {}
    for _ in range(args.rounds):
        for name, fn in rows.items():
            t = time.thread_time()
            sizes[name] = fn()
            best[name] = min(best[name], time.thread_time() - t)
    print(
        f"{len(grids)} images {cfg.resolution}x{cfg.resolution}, CPU ms per image (best of {args.rounds}), mean KiB"
    )
    for name in rows:
        print(f"  {name:40s} {best[name] / len(grids) * 1e3:7.3f} ms  {np.mean(sizes[name]) / 1024:7.2f} KiB")


if __name__ == "__main__":
    main()
