"""`dataset`, `validate`, `preview`: drawing the training set and looking at it."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from ..config.loader import load_config
from ..console import console, fail, say, track
from ..errors import UserError
from .common import human_bytes

# -- dataset -----------------------------------------------------------------------------------


def cmd_dataset(args: argparse.Namespace) -> int:
    from ..dataset.writer import worker_count, write_dataset

    overrides = {
        k: v for k, v in {"count": args.count, "seed": args.seed, "out": args.out}.items() if v is not None
    }
    flags: dict[tuple[str, ...], str] = {("dataset", k): f"--{k}" for k in overrides}
    cfg = load_config(args.config, {"dataset": overrides} if overrides else None, flags).dataset
    workers, capped = worker_count(args.workers, args.oversubscribe)
    if capped:
        say(capped)
    out = Path(cfg.out)
    summary = write_dataset(
        cfg,
        out,
        workers=workers,
        force=args.force,
        progress=lambda it, n: track(it, n, "drawing"),
    )
    table = Table(title=f"dataset {escape(str(out))}", show_edge=False)
    table.add_column("family")
    table.add_column("images", justify="right")
    for fam, n in sorted(summary.families.items()):
        table.add_row(fam, str(n))
    console.print(table)
    say(
        f"{summary.count} images ({summary.written} written, {summary.skipped} already up to date, "
        f"{summary.removed} stale files removed) in {summary.seconds:.2f} s = "
        f"{summary.images_per_second:.1f} images/s on {workers} worker(s); "
        f"{human_bytes(summary.bytes_total)} on disk, {human_bytes(summary.bytes_written)} written; seed {cfg.seed}"
    )
    return 0


# -- validate ----------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    from ..dataset.validate import validate_dir

    cfg = load_config(args.config).dataset
    directory = Path(args.dir or cfg.out)
    if not directory.is_dir():
        raise UserError(f"{directory}: not a directory (run `make dataset` first or pass DIR)")
    n, problems = validate_dir(
        directory, cfg.resolution, cfg.cell_size, progress=lambda it, k: track(it, k, "validating")
    )
    for p in problems:
        fail(f"{directory / p.file}: {p.message}")
    if n == 0:
        fail(f"{directory}: no PNG images found")
        return 1
    bad = len({p.file for p in problems if p.file.endswith(".png")})
    say(
        f"{n} images checked in {directory}: {n - bad if bad <= n else 0} perfect, {len(problems)} problem(s)"
    )
    return 1 if problems else 0


# -- preview -----------------------------------------------------------------------------------


def cmd_preview(args: argparse.Namespace) -> int:
    from ..dataset.preview import contact_sheet, default_sheet_path, sheet_png, spread
    from ..fsutil import atomic_write, writable_file_target

    cfg = load_config(args.config).dataset
    directory = Path(args.dir or cfg.out)
    pngs = sorted(directory.glob("*.png")) if directory.is_dir() else []
    if not pngs:
        raise UserError(f"{directory}: no PNG images to preview (run `make dataset` first)")
    chosen = spread(pngs, args.count)
    out, note = (Path(args.out).expanduser(), None) if args.out else default_sheet_path(directory)
    out = writable_file_target(out)
    if note:
        say(f"note: {note}")
    atomic_write(out, sheet_png(contact_sheet(chosen, columns=min(args.columns, len(chosen)))))
    say(f"contact sheet of {len(chosen)} images -> {out}")
    return 0
