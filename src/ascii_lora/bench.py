"""`make bench`: generation throughput against the 1-bit PNG-encode floor of the same images.

The floor is what writing these pictures must cost at least (Pillow's 1-bit encode of the same
pixels); the goal is the whole per-image pipeline <= 1.3x that floor on one worker, and every
family's structure step under 1 ms.
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from rich.table import Table

from .config.loader import load_config
from .console import console, say
from .dataset.captions import caption
from .dataset.png import encode_grid
from .dataset.sample import build_layout, family_schedule
from .dataset.writer import _write_one, default_workers
from .fsutil import sha256_bytes
from .grid.atlas import get_atlas

# --- generation ---------------------------------------------------------------------------------
# The floor is the cheapest faithful encoding of the same pixels with the standard tool: Pillow's
# mode "1" PNG at compress_level 1. The pipeline is everything `ascii-lora dataset` does per image
# (structure, render, caption, ground truth, hashes, three atomic writes). Both are timed image by
# image, interleaved, over a few rounds, so a busy machine slows both alike; each gets its best
# round. Writes go to a memory file system when there is one: file creation on a disk (up to
# ~0.75 ms a file on a virtual disk) measures the disk, not the generator; that cost is reported
# on its own line, measured where the dataset is written.


def _scratch_root() -> str | None:
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def _floor_images(cfg, schedule) -> list:
    """The dataset's pictures as Pillow mode "1" images, ready to encode (not timed)."""
    from PIL import Image

    atlas = get_atlas(cfg.cell_size)
    return [
        Image.fromarray(atlas.render(build_layout(cfg, fam, i)[0].grid)) for i, fam in enumerate(schedule)
    ]


def _floor_encode(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


_POOL_STATE: dict = {}


def _pool_init(cfg_json: str, items: list[tuple[str, int]]) -> None:
    from .config.models import DatasetConfig

    cfg = DatasetConfig.model_validate_json(cfg_json)
    _POOL_STATE["cfg_json"] = cfg_json
    _POOL_STATE["images"] = dict(zip(items, _floor_images(cfg, [f for f, _ in items]), strict=True))


def _pool_task(kind: str, out: str, items: list[tuple[str, int]]) -> int:
    if kind == "floor":
        for item in items:
            _floor_encode(_POOL_STATE["images"][item])
    else:
        for fam, i in items:
            _write_one(_POOL_STATE["cfg_json"], out, fam, i, False, False)
    return len(items)


def _one_worker(
    cfg_json: str,
    schedule: list[str],
    families: list[str],
    floor_images: list,
    grids: list,
    atlas,
    scratch: str | None,
    rounds: int,
) -> dict[str, dict[str, float]]:
    """Best of ``rounds`` CPU seconds per family: 1-bit floor, this encoder alone, whole pipeline."""
    best: dict[str, dict[str, float]] = {
        k: defaultdict(lambda: float("inf")) for k in ("floor", "encoder", "pipeline")
    }
    for _ in range(rounds):
        spent: dict[str, defaultdict[str, float]] = {k: defaultdict(float) for k in best}
        with tempfile.TemporaryDirectory(dir=scratch) as tmp:
            for i, fam in enumerate(schedule):
                t0 = time.thread_time()
                _floor_encode(floor_images[i])
                t1 = time.thread_time()
                encode_grid(grids[i], atlas)
                t2 = time.thread_time()
                _write_one(
                    cfg_json, tmp, fam, i, False, False
                )  # a fresh directory, as `make dataset` sees it
                t3 = time.thread_time()
                spent["floor"][fam] += t1 - t0
                spent["encoder"][fam] += t2 - t1
                spent["pipeline"][fam] += t3 - t2
        for k in best:
            for fam in families:
                best[k][fam] = min(best[k][fam], spent[k][fam])
            best[k]["all"] = min(best[k]["all"], sum(spent[k].values()))

    return best


def _stage_breakdown(
    cfg, schedule: list[str], atlas, rounds: int
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """CPU seconds per pipeline stage, and the structure step's time per grid and family."""
    # stage breakdown and structure time per family (CPU time of this thread: one core; the
    # structure step is timed best of ``rounds`` per grid, its cost without a busy neighbour's
    # cache misses)
    stages: dict[str, float] = defaultdict(float)
    structure: dict[str, list[float]] = defaultdict(list)
    for i, fam in enumerate(schedule):
        fastest = float("inf")
        for _ in range(rounds):
            t0 = time.thread_time()
            layout, rng = build_layout(cfg, fam, i)
            t1 = time.thread_time()
            fastest = min(fastest, t1 - t0)
        png = encode_grid(layout.grid, atlas)
        t2 = time.thread_time()
        text = caption(layout, rng) + "\n"
        t3 = time.thread_time()
        truth = layout.text()
        t4 = time.thread_time()
        for data in (png, text.encode(), truth.encode()):
            sha256_bytes(data)
        t5 = time.thread_time()
        structure[fam].append(fastest)
        for name, dt in (
            ("structure", fastest),
            ("render + encode", t2 - t1),
            ("caption", t3 - t2),
            ("ground truth", t4 - t3),
            ("hashes", t5 - t4),
        ):
            stages[name] += dt
    return stages, structure


def _all_cores(
    cfg_json: str,
    schedule: list[str],
    families: list[str],
    count: int,
    workers: int,
    scratch: str | None,
    rounds: int,
) -> dict[str, dict[str, float]]:
    """Wall seconds of one pool of ``workers``: floor and pipeline, per family and in all."""
    # all cores: one pool, each family's images split across the workers, floor and pipeline alternating
    items = list(zip(schedule, range(count), strict=False))
    pool_best: dict[str, dict[str, float]] = {
        k: defaultdict(lambda: float("inf")) for k in ("floor", "pipeline")
    }
    with ProcessPoolExecutor(max_workers=workers, initializer=_pool_init, initargs=(cfg_json, items)) as pool:
        list(pool.map(_pool_task, ["floor"] * workers, [""] * workers, [items[:1]] * workers))  # all started
        for _ in range(rounds):
            with tempfile.TemporaryDirectory(dir=scratch) as tmp:
                for fam in [*families, "all"]:
                    mine = [it for it in items if fam in ("all", it[0])]
                    parts = [mine[k :: workers * 2] for k in range(workers * 2)]
                    for kind in ("floor", "pipeline"):
                        out = Path(tmp) / f"{fam}-{kind}"
                        out.mkdir()
                        t = time.perf_counter()
                        list(pool.map(_pool_task, [kind] * len(parts), [str(out)] * len(parts), parts))
                        pool_best[kind][fam] = min(pool_best[kind][fam], time.perf_counter() - t)
    return pool_best


def bench_generation(cfg, count: int, rounds: int = 5) -> dict:
    """Per family and in all: 1-bit floor, this encoder alone, whole pipeline; one worker and all cores."""
    cfg = cfg.model_copy(update={"count": count})
    schedule = family_schedule(cfg.mix.weights(), count)
    atlas = get_atlas(cfg.cell_size)
    cfg_json = cfg.model_dump_json()
    families = sorted(set(schedule), key=schedule.index)
    floor_images = _floor_images(cfg, schedule)
    grids = [build_layout(cfg, fam, i)[0].grid for i, fam in enumerate(schedule)]
    scratch = _scratch_root()
    # the harness holds every picture and grid; `make dataset` holds none of them. Freezing them
    # keeps the cyclic collector from rescanning the harness's heap inside the timed work.
    gc.collect()
    gc.freeze()

    # one worker, interleaved image by image: floor, this encoder, pipeline. CPU time of this
    # thread (system time of the writes included): a preempted moment on a shared machine is
    # nobody's cost, and it would land on one side of the ratio at random
    best = _one_worker(cfg_json, schedule, families, floor_images, grids, atlas, scratch, rounds)
    stages, structure = _stage_breakdown(cfg, schedule, atlas, rounds)
    workers = default_workers()
    pool_best = _all_cores(cfg_json, schedule, families, count, workers, scratch, rounds)

    gc.unfreeze()
    disk_dir = Path(cfg.out).resolve().parent
    return {
        "count": count,
        "rounds": rounds,
        "families": families,
        "images": {**{f: schedule.count(f) for f in families}, "all": count},
        "one": {k: dict(v) for k, v in best.items()},
        "all_cores": {k: dict(v) for k, v in pool_best.items()},
        "workers": workers,
        "stages": dict(stages),
        "structure_ms": {f: (1000 * sum(v) / len(v), 1000 * max(v)) for f, v in structure.items()},
        "scratch": scratch or tempfile.gettempdir(),
        "disk_dir": str(disk_dir),
        "disk_write_ms": _file_creation_ms(disk_dir, cfg_json, schedule),
        "load": os.getloadavg(),
    }


def _file_creation_ms(directory: Path, cfg_json: str, schedule: list[str], samples: int = 20) -> float | None:
    """Per image: the three atomic writes of a sample into ``directory``'s file system (None if it
    cannot be written): what a real `make dataset` adds to the pipeline above."""
    from .dataset.sample import make_sample
    from .dataset.writer import _config
    from .fsutil import atomic_write

    while not directory.exists():
        directory = directory.parent
    if not os.access(directory, os.W_OK):
        return None
    cfg = _config(cfg_json)
    files = []
    for i, fam in enumerate(schedule[:samples]):
        s = make_sample(cfg, fam, i)
        files.append((s.name, (s.png, s.caption.encode(), s.ascii.encode())))
    with tempfile.TemporaryDirectory(dir=directory, prefix=".ascii-lora-bench-") as tmp:
        t = time.perf_counter()
        for name, blobs in files:
            for ext, data in zip((".png", ".txt", ".ascii"), blobs, strict=True):
                atomic_write(Path(tmp) / f"{name}{ext}", data)
        return (time.perf_counter() - t) / len(files) * 1000


def report_generation(cfg, count: int) -> None:
    r = bench_generation(cfg, count)
    one, pool = r["one"], r["all_cores"]
    rows = [*r["families"], "all"]
    table = Table(
        title=f"generation, one worker, {r['count']} images {cfg.resolution}x{cfg.resolution}, "
        f"CPU ms per image (best of {r['rounds']} interleaved rounds)",
        show_edge=False,
    )
    for col in ("family", "images", "floor", "encoder", "pipeline", "ratio", "struct", "max"):
        table.add_column(col, justify="left" if col == "family" else "right")
    for fam in rows:
        n = r["images"][fam]
        ms = {k: one[k][fam] / n * 1000 for k in one}
        sm = r["structure_ms"].get(fam)
        table.add_row(
            fam,
            str(n),
            f"{ms['floor']:.2f}",
            f"{ms['encoder']:.2f}",
            f"{ms['pipeline']:.2f}",
            f"{ms['pipeline'] / ms['floor']:.2f}x",
            f"{sm[0]:.2f}" if sm else "",
            f"{sm[1]:.2f}" if sm else "",
        )
    console.print(table)
    table = Table(title=f"generation, {r['workers']} workers (one pool), wall ms per image", show_edge=False)
    for col in ("family", "floor", "pipeline", "ratio"):
        table.add_column(col, justify="left" if col == "family" else "right")
    for fam in rows:
        n = r["images"][fam]
        f, p = pool["floor"][fam] / n * 1000, pool["pipeline"][fam] / n * 1000
        table.add_row(fam, f"{f:.2f}", f"{p:.2f}", f"{p / f:.2f}x")
    console.print(table)
    say(
        'floor: Pillow mode "1" PNG, compress_level 1, of the same pixels; encoder: the dataset\'s own '
        f"PNG writer alone; pipeline: all per-image work, atomic writes into {r['scratch']}; "
        "struct/max: structure step, mean and slowest grid, CPU ms on one core"
    )
    total = sum(r["stages"].values())
    say(
        "stage share (1 worker, CPU time): "
        + ", ".join(f"{k} {v / total:.0%}" for k, v in r["stages"].items())
    )
    ratio = one["pipeline"]["all"] / one["floor"]["all"]
    verdict = "meets" if ratio <= 1.3 else "misses"
    say(
        f"generation / 1-bit encode floor = {ratio:.2f}x on one worker ({verdict} the 1.3x goal); "
        f"{pool['pipeline']['all'] / pool['floor']['all']:.2f}x on {r['workers']} workers"
    )
    slowest = max(r["structure_ms"], key=lambda f: r["structure_ms"][f][0])
    worst = r["structure_ms"][slowest][0]
    say(
        f"structure: slowest family {slowest} at {worst:.2f} ms per grid on one core "
        f"({'meets' if worst < 1.0 else 'misses'} the 1 ms goal)"
    )
    if r["disk_write_ms"] is not None:
        say(
            f"file creation where the dataset goes ({r['disk_dir']}): {r['disk_write_ms']:.2f} ms per image "
            "for its three atomic writes, a property of that disk, not in the numbers above"
        )
    say("load average during the run: " + " / ".join(f"{v:.1f}" for v in r["load"]))


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
        g = atlas.render_gray(layout.grid).astype(np.int16) + rng.integers(
            -3, 4, (cfg.resolution, cfg.resolution)
        )
        buf = io.BytesIO()
        Image.fromarray(np.clip(g, 0, 255).astype(np.uint8)).convert("RGB").save(buf, "PNG")
        blobs.append(buf.getvalue())
    check_cfg = CheckConfig()
    best_dec = best_chk = float("inf")
    for _ in range(repeats):
        decoded = []
        t = time.perf_counter()
        for b in blobs:
            with Image.open(io.BytesIO(b)) as opened:
                opened.load()
                decoded.append(opened.copy())
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
    report_generation(cfg, args.count)

    c = bench_check(cfg, min(args.count, 70))
    n = c["count"]
    print_timings(
        f"checker, {n} RGB samples {cfg.resolution}x{cfg.resolution} with decoder-like noise",
        n,
        [
            ("PNG decode floor", c["decode"]),
            ("check (grey conversion, detection, read-back)", c["check"]),
        ],
    )
    ratio = c["check"] / c["decode"]
    verdict = "meets" if ratio <= 2.0 else "misses"
    say(f"check / decode = {ratio:.2f}x ({verdict} the 2x goal)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
