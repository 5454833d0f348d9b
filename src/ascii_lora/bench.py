"""`make bench`: generation throughput against the PNG-encode floor on the same images.

The floor is what writing these pictures must cost at least (encode with the same PNG settings);
the goal is structure + render + caption + write <= 1.3x that floor on one worker.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from rich.table import Table

from .grid.atlas import get_atlas
from .dataset.captions import caption
from .console import console, say
from .dataset.writer import _write_one, default_workers, write_dataset
from .config.loader import load_config
from .dataset.sample import build_layout, encode_png, family_schedule


def _timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def bench_generation(cfg, count: int, repeats: int = 3) -> dict:
    cfg = cfg.model_copy(update={"count": count})
    schedule = family_schedule(cfg.mix.weights(), count)
    atlas = get_atlas(cfg.cell_size)
    stages: dict[str, float] = defaultdict(float)
    per_family: dict[str, float] = defaultdict(float)
    images = []
    for i, fam in enumerate(schedule):  # warm-up pass doubles as the stage breakdown
        (layout, rng), t_struct = _timed(build_layout, cfg, fam, i)
        image, t_render = _timed(atlas.render_image, layout.grid)
        _, t_cap = _timed(caption, layout, rng)
        _, t_enc = _timed(encode_png, image)
        stages["structure"] += t_struct
        stages["render"] += t_render
        stages["caption"] += t_cap
        stages["encode"] += t_enc
        per_family[fam] += t_struct
        images.append(image)

    cfg_json = cfg.model_dump_json()
    best_gen = best_enc = float("inf")
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            for i, fam in enumerate(schedule):
                _write_one(cfg_json, tmp, fam, i)
            best_gen = min(best_gen, time.perf_counter() - t)
        t = time.perf_counter()
        for image in images:
            encode_png(image)
        best_enc = min(best_enc, time.perf_counter() - t)

    workers = default_workers()
    best_pool = float("inf")
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            write_dataset(cfg, Path(tmp) / "d", workers=workers)
            best_pool = min(best_pool, time.perf_counter() - t)
    counts = defaultdict(int)
    for fam in schedule:
        counts[fam] += 1
    return {
        "count": count,
        "workers": workers,
        "gen_one": best_gen,
        "gen_all": best_pool,
        "encode": best_enc,
        "stages": dict(stages),
        "structure_ms": {f: per_family[f] / counts[f] * 1000 for f in counts},
    }


def bench_check(cfg, count: int, repeats: int = 3) -> dict:
    """Check throughput on sample-like PNGs (RGB, a few levels of decoder noise) vs decoding them."""
    import io

    import numpy as np
    from PIL import Image

    from .check.score import check_gray
    from .config.models import CheckConfig
    from .imageio import to_gray

    atlas = get_atlas(cfg.cell_size)
    schedule = family_schedule(cfg.mix.weights(), count)
    rng = np.random.default_rng(0)
    blobs = []
    for i, fam in enumerate(schedule):
        layout, _ = build_layout(cfg, fam, i)
        g = atlas.render_gray(layout.grid).astype(np.int16) + rng.integers(-3, 4, (cfg.resolution, cfg.resolution))
        buf = io.BytesIO()
        Image.fromarray(np.clip(g, 0, 255).astype(np.uint8)).convert("RGB").save(buf, "PNG")
        blobs.append(buf.getvalue())
    check_cfg = CheckConfig()
    best_dec = best_chk = float("inf")
    for _ in range(repeats):
        decoded = []
        t = time.perf_counter()
        for b in blobs:
            with Image.open(io.BytesIO(b)) as im:
                im.load()
                decoded.append(im.copy())
        best_dec = min(best_dec, time.perf_counter() - t)
        t = time.perf_counter()
        for im in decoded:
            check_gray("bench", to_gray(im), check_cfg, atlas)
        best_chk = min(best_chk, time.perf_counter() - t)
    return {"count": count, "decode": best_dec, "check": best_chk}


def print_timings(title: str, count: int, rows: list[tuple[str, float]]) -> None:
    """One table of (measure, seconds) rows with the images/s each means."""
    table = Table(title=title, show_edge=False)
    table.add_column("measure")
    table.add_column("seconds", justify="right")
    table.add_column("images/s", justify="right")
    for name, seconds in rows:
        table.add_row(name, f"{seconds:.3f}", f"{count / seconds:.1f}")
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ascii-lora-bench")
    p.add_argument("--config", type=Path, default=None)
    p.add_argument("--count", type=int, default=140, help="images per measurement (default 140)")
    args = p.parse_args(argv)
    cfg = load_config(args.config).dataset
    r = bench_generation(cfg, args.count)
    n = r["count"]
    print_timings(f"dataset generation, {n} images {cfg.resolution}x{cfg.resolution}", n, [
        ("PNG encode floor (same arrays, same settings)", r["encode"]),
        ("generate + write, 1 worker", r["gen_one"]),
        (f"generate + write, {r['workers']} workers", r["gen_all"]),
    ])
    total = sum(r["stages"].values())
    say("stage share (1 worker): " + ", ".join(f"{k} {v / total:.0%}" for k, v in r["stages"].items()))
    say("structure ms/image: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(r["structure_ms"].items())))
    ratio = r["gen_one"] / r["encode"]
    verdict = "meets" if ratio <= 1.3 else "misses"
    say(f"generation / encode floor = {ratio:.2f}x on one worker ({verdict} the 1.3x goal)")

    c = bench_check(cfg, min(args.count, 70))
    n = c["count"]
    print_timings(f"checker, {n} RGB samples {cfg.resolution}x{cfg.resolution} with decoder-like noise", n, [
        ("PNG decode floor", c["decode"]),
        ("check (grey conversion, detection, read-back)", c["check"]),
    ])
    ratio = c["check"] / c["decode"]
    verdict = "meets" if ratio <= 2.0 else "misses"
    say(f"check / decode = {ratio:.2f}x ({verdict} the 2x goal)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
