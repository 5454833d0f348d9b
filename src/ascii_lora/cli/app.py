"""Command line: argument parsing and printing only; every decision lives in the library."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from .. import __version__
from ..console import console, err_console, fail, say, track
from ..errors import UserError
from ..config.loader import load_config

Handler = Callable[[argparse.Namespace], int]


def _int_at_least(low: int) -> Callable[[str], int]:
    """argparse type: a whole number >= ``low``, with the reason in the usage error."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {v}")
        return v

    return parse


_positive = _int_at_least(1)
_nonnegative = _int_at_least(0)


def _human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


# -- dataset -----------------------------------------------------------------------------------

def cmd_dataset(args: argparse.Namespace) -> int:
    from ..dataset.writer import default_workers, write_dataset

    overrides = {k: v for k, v in {"count": args.count, "seed": args.seed, "out": args.out}.items() if v is not None}
    cfg = load_config(args.config, {"dataset": overrides} if overrides else None).dataset
    workers = args.workers or default_workers()
    out = Path(cfg.out)
    summary = write_dataset(
        cfg, out, workers=workers, force=args.force,
        progress=lambda it, n: track(it, n, "drawing"),
    )
    table = Table(title=f"dataset {out}", show_edge=False)
    table.add_column("family")
    table.add_column("images", justify="right")
    for fam, n in sorted(summary.families.items()):
        table.add_row(fam, str(n))
    console.print(table)
    say(
        f"{summary.count} images ({summary.written} written, {summary.skipped} already up to date, "
        f"{summary.removed} stale files removed) in {summary.seconds:.2f} s = "
        f"{summary.images_per_second:.1f} images/s on {workers} worker(s); "
        f"{_human_bytes(summary.bytes_total)} on disk, {_human_bytes(summary.bytes_written)} written; seed {cfg.seed}"
    )
    return 0


# -- validate ----------------------------------------------------------------------------------

def cmd_validate(args: argparse.Namespace) -> int:
    from ..dataset.validate import validate_dir

    cfg = load_config(args.config).dataset
    directory = Path(args.dir or cfg.out)
    if not directory.is_dir():
        raise UserError(f"{directory}: not a directory (run `make dataset` first or pass DIR)")
    n, problems = validate_dir(directory, cfg.resolution, cfg.cell_size, progress=lambda it, k: track(it, k, "validating"))
    for p in problems:
        fail(f"{directory / p.file}: {p.message}")
    if n == 0:
        fail(f"{directory}: no PNG images found")
        return 1
    bad = len({p.file for p in problems})
    say(f"{n} images checked in {directory}: {n - bad if bad <= n else 0} perfect, {len(problems)} problem(s)")
    return 1 if problems else 0


# -- preview -----------------------------------------------------------------------------------

def cmd_preview(args: argparse.Namespace) -> int:
    from ..fsutil import atomic_write
    from ..dataset.preview import contact_sheet, spread

    cfg = load_config(args.config).dataset
    directory = Path(args.dir or cfg.out)
    pngs = sorted(directory.glob("*.png")) if directory.is_dir() else []
    if not pngs:
        raise UserError(f"{directory}: no PNG images to preview (run `make dataset` first)")
    chosen = spread(pngs, args.count)
    sheet = contact_sheet(chosen, columns=args.columns)
    out = Path(args.out or directory.parent / f"{directory.name}_preview.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    import io

    buf = io.BytesIO()
    sheet.save(buf, "PNG")
    atomic_write(out, buf.getvalue())
    say(f"contact sheet of {len(chosen)} images -> {out}")
    return 0


# -- plan / train ------------------------------------------------------------------------------

def _root() -> Path:
    """The checkout: where vendor/, data/ and models/ live. Commands run from it (make does)."""
    return Path.cwd()


def _plan(args: argparse.Namespace, resume: bool | None = None):
    from ..train.plan import build_plan

    cfg = load_config(args.config)
    for w in cfg.warnings():
        err_console.print(f"[yellow]warning:[/yellow] {escape(w)}", soft_wrap=True)
    return cfg, build_plan(cfg, _root(), Path(args.run_dir) if args.run_dir else None, resume)


def cmd_plan(args: argparse.Namespace) -> int:
    from ..train.plan import write_plan

    _, plan = _plan(args)
    for path in write_plan(plan, _root()):
        say(f"wrote {path}")
    say(f"plan ready in {plan.run_dir}: `make train` checks the machine, then runs train.sh's command")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    import os

    from ..train.launcher import launch
    from ..train.plan import write_plan
    from ..train.preflight import run_preflight

    resume = True if (args.resume or os.environ.get("RESUME", "") not in ("", "0")) else None
    cfg, plan = _plan(args, resume)
    write_plan(plan, _root())
    if args.dry_run:
        say(plan.shell())
        return 0
    checks = run_preflight(cfg, plan, _root())
    for c in checks:
        mark = {True: "[green]  ok[/green]", False: "[red]FAIL[/red]", None: "  - "}[c.ok]
        fix = f" [dim]->[/dim] {escape(c.fix)}" if c.ok is False and c.fix else ""
        console.print(f"{mark} {escape(c.name)}: {escape(c.detail)}{fix}", soft_wrap=True)
    failed = [c for c in checks if c.ok is False]
    if failed:
        gpu = next((c for c in failed if c.name == "CUDA GPU"), None)
        reason = f" ({gpu.detail})" if gpu else ""
        fail(f"{len(failed)} of {len(checks)} pre-flight checks failed{reason}; nothing was launched")
        return 1
    log = plan.run_dir / "train.log"
    say(f"launching; log: {log}")
    try:
        code = launch(plan.argv, _root(), log, echo=say)
    except FileNotFoundError as e:
        raise UserError(str(e)) from None
    say(f"trainer exited with code {code}; checkpoints and samples in {plan.run_dir}")
    return code


def cmd_setup_train(args: argparse.Namespace) -> int:
    from ..train.setup import setup_train

    cfg = load_config(args.config)
    setup_train(cfg, _root(), say, skip_install=args.skip_install)
    say("setup-train done: run `make train`")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    import json

    from ..train.lora_inspect import inspect_lora
    from ..train.safetensors_header import NotSafetensors

    cfg = load_config(args.config) if args.config or Path("configs/flux_ascii.toml").exists() else None
    try:
        info = inspect_lora(Path(args.file), cfg)
    except FileNotFoundError:
        raise UserError(f"{args.file}: file not found") from None
    except NotSafetensors as e:
        raise UserError(f"{args.file}: {e}") from None
    if args.json:
        say(json.dumps(info.as_dict(), indent=1))
    else:
        table = Table(title=args.file, show_header=False, show_edge=False)
        table.add_column("key")
        table.add_column("value", overflow="fold")
        blocks = "; ".join(f"{k} {v[0]}-{v[-1]} ({len(v)})" for k, v in info.blocks.items())
        for k, v in (
            ("rank", info.rank), ("alpha", info.alpha), ("module", info.module), ("base model", info.base_model),
            ("modules", info.modules), ("blocks", blocks + (f"; {info.other_modules} other" if info.other_modules else "")),
            ("dtype", info.dtype), ("parameters", f"{info.parameters:,}"),
            *info.training.items(),
        ):
            table.add_row(escape(str(k)), escape(str(v)))
        console.print(table)
    for w in info.warnings:
        err_console.print(f"[yellow]warning:[/yellow] {escape(w)}", soft_wrap=True)
    return 0


# -- check / snap ------------------------------------------------------------------------------

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


def _collect(paths: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Images named or inside the named folders (not recursive), and (path, why) for what is unusable."""
    images: list[Path] = []
    problems: list[tuple[str, str]] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            try:
                entries = sorted(p.iterdir())
            except OSError as e:
                problems.append((raw, f"folder cannot be read ({e.strerror})"))
                continue
            images += [e for e in entries if e.is_file() and e.suffix.lower() in IMAGE_EXTENSIONS]
        elif p.exists():
            images.append(p)
        else:
            problems.append((raw, "not found"))
    return images, problems


def _unique_stems(images: list[Path]) -> dict[Path, str]:
    seen: dict[str, int] = {}
    out = {}
    for p in images:
        stem = p.stem if p.stem not in seen else f"{p.parent.name}_{p.stem}"
        seen[p.stem] = seen.get(p.stem, 0) + 1
        out[p] = stem
    return out


def _save_png(path: Path, array) -> None:
    import io

    from PIL import Image

    from ..fsutil import atomic_write

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    atomic_write(path, buf.getvalue())


def cmd_check(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from ..grid.atlas import get_atlas
    from ..check.score import ImageReport, check_file
    from ..check.ranking import chart, label, rank, report_markdown
    from ..fsutil import atomic_write
    from ..check.overlay import overlay

    cfg = load_config(args.config)
    run_dir = Path(cfg.training.output_dir)
    paths = args.paths or [str(run_dir / "sample")]
    if not args.paths and not (run_dir / "sample").is_dir():
        raise UserError(f"{run_dir / 'sample'}: no samples yet; sd-scripts draws them there during `make train` "
                        f"(every [sample] every_n_steps), or pass image files/folders")
    if not args.paths:  # checking the configured run: every output goes to <run>/check
        out = run_dir / "check"
        args.overlay_dir = args.overlay_dir or str(out / "overlays")
        args.ascii_dir = args.ascii_dir or str(out / "ascii")
        args.json = args.json or str(out / "report.json")
        args.report_dir = args.report_dir or str(out)
    images, problems = _collect(paths)
    if not images and not problems:
        raise UserError(f"no images in {', '.join(paths)} (sd-scripts writes samples to <output_dir>/sample)")
    atlas = get_atlas(cfg.dataset.cell_size)
    stems = _unique_stems(images)
    for d in (args.overlay_dir, args.ascii_dir):
        if d:
            Path(d).mkdir(parents=True, exist_ok=True)
    reports: list[ImageReport] = [ImageReport(file=p, error=why) for p, why in problems]
    for path in track(images, len(images), "checking"):
        report, reading, gray = check_file(path, cfg.check, atlas)
        reports.append(report)
        if gray is None:
            continue
        if args.overlay_dir:
            _save_png(Path(args.overlay_dir) / f"{stems[path]}.overlay.png", overlay(gray, reading, atlas))
        if args.ascii_dir and report.ascii is not None:
            atomic_write(Path(args.ascii_dir) / f"{stems[path]}.ascii", report.ascii)

    table = Table(show_edge=False)
    table.add_column("image", overflow="fold", ratio=1)
    table.add_column("result", no_wrap=True, min_width=10)
    for col in ("black bg", "crisp", "aligned", "grey", "offset", "cells ok"):
        table.add_column(col, justify="right", no_wrap=True)
    yn = lambda b: "[green]yes[/green]" if b else "[red]no[/red]"  # noqa: E731
    for r in reports:
        name = escape(Path(r.file).name)
        if r.error:
            table.add_row(name, "[red]unreadable[/red]", "", "", "", "", "", "")
            continue
        c = r.criteria
        table.add_row(name, "[green]pass[/green]" if r.passed else "[red]FAIL[/red]", yn(c["black_background"]), yn(c["crisp"]),
                      yn(c["grid_aligned"]), f"{r.grey_fraction:.2%}", f"{r.offset[0]},{r.offset[1]}" if r.offset else "-",
                      f"{r.cell_agreement:.1%}" if r.cell_agreement is not None else "-")
    console.print(table)
    for r in reports:
        if r.error:
            fail(f"{r.file}: {r.error}")

    scores = rank(reports)
    if scores:
        ct = Table(title="checkpoints", show_edge=False)
        for col in ("checkpoint", "images", "pass rate", "aligned", "mean grey", "cell agreement", "file"):
            ct.add_column(col)
        for s in scores:
            ct.add_row(("[bold]* " if s.best else "  ") + label(s) + ("[/bold]" if s.best else ""), str(s.images), f"{s.pass_rate:.0%}",
                       f"{s.aligned_rate:.0%}", f"{s.mean_grey_fraction:.2%}", f"{s.mean_cell_agreement:.1%}",
                       escape(Path(s.checkpoint_file).name) if s.checkpoint_file else "-")
        console.print(ct)
        best = next(s for s in scores if s.best)
        report_dir = Path(args.report_dir) if args.report_dir else Path(next(r.file for r in reports if not r.error)).parent.parent / "check"
        report_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(report_dir / "report.md", report_markdown(scores, reports))
        _save_png(report_dir / "scores.png", np.asarray(chart(scores)))
        say(f"best checkpoint: {label(best)} ({best.pass_rate:.0%} pass) -> {best.checkpoint_file or 'checkpoint file not found beside the samples'}")
        say(f"report: {report_dir / 'report.md'}, chart: {report_dir / 'scores.png'}")
    elif args.report_dir:
        Path(args.report_dir).mkdir(parents=True, exist_ok=True)
        atomic_write(Path(args.report_dir) / "report.md", report_markdown([], reports))

    if args.json:
        payload = {"images": [r.as_dict() for r in reports], "checkpoints": [s.as_dict() for s in scores]}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(Path(args.json), json.dumps(payload, indent=1) + "\n")

    errors = sum(1 for r in reports if r.error)
    passed = sum(1 for r in reports if r.passed)
    failed = len(reports) - passed - errors
    say(f"{len(reports)} image{'s' if len(reports) != 1 else ''}: {passed} passed, {failed} failed, {errors} unreadable")
    return 2 if errors else (1 if failed else 0)


def cmd_snap(args: argparse.Namespace) -> int:
    from ..grid.atlas import get_atlas
    from ..check.score import check_file
    from ..fsutil import atomic_write
    from ..grid.layout import grid_text
    from ..check.overlay import snapped

    cfg = load_config(args.config)
    atlas = get_atlas(cfg.dataset.cell_size)
    images, problems = _collect(args.images)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for p, why in problems:
        fail(f"{p}: {why}")
    errors = len(problems)
    stems = _unique_stems(images)
    for path in track(images, len(images), "snapping"):
        report, reading, gray = check_file(path, cfg.check, atlas)
        if gray is None or reading is None:
            fail(f"{path}: {report.error or 'too small to hold a cell'}")
            errors += 1
            continue
        image, codes = snapped(reading, atlas, gray.shape)
        _save_png(out / f"{stems[path]}.png", image)
        atomic_write(out / f"{stems[path]}.ascii", grid_text(codes))
        repaired = int((reading.distance > 0).sum())
        say(f"{path} -> {out / (stems[path] + '.png')}: moved by {-reading.offset[0]},{-reading.offset[1]} px, "
            f"{repaired} cells repaired, {int((~reading.agree).sum())} beyond tolerance")
    say(f"{len(images) - (errors - len(problems))} snapped into {out}, {errors} unreadable")
    return 2 if errors else 0


# -- parser ------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ascii-lora",
        description="Train a FLUX.1-dev LoRA that draws on an exact 16 px cell grid. "
        "Flow: dataset -> setup-train -> train -> check.",
    )
    parser.add_argument("--version", action="version", version=f"ascii-lora {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, handler: Handler, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("--config", type=Path, default=None, help="experiment TOML (default configs/flux_ascii.toml)")
        p.set_defaults(handler=handler)
        return p

    p = add("dataset", cmd_dataset, "draw the training set: PNG + caption .txt + ground truth .ascii")
    p.add_argument("--out", help="output directory (default [dataset] out)")
    p.add_argument("--count", type=_positive, help="number of images (default [dataset] count)")
    p.add_argument("--seed", type=_nonnegative, help="master seed (default [dataset] seed)")
    p.add_argument("--workers", type=_positive, help="processes (default: number of cores)")
    p.add_argument("--force", action="store_true", help="replace a dataset of another config in --out")

    p = add("validate", cmd_validate, "check every image of a dataset pixel by pixel against its .ascii")
    p.add_argument("dir", nargs="?", help="dataset directory (default [dataset] out)")

    p = add("preview", cmd_preview, "contact sheet of dataset images with their captions")
    p.add_argument("dir", nargs="?", help="dataset directory (default [dataset] out)")
    p.add_argument("--out", help="sheet PNG (default <dir>_preview.png beside the dataset)")
    p.add_argument("--count", type=_positive, default=16, help="images on the sheet (default 16)")
    p.add_argument("--columns", type=_positive, default=4, help="columns (default 4)")
    p = add("plan", cmd_plan, "write the run's Kohya dataset_config.toml, sample prompts, argv and resolved config")
    p.add_argument("--run-dir", help="where to write (default [training] output_dir)")

    p = add("train", cmd_train, "plan, pre-flight check this machine, then run sd-scripts (CUDA only)")
    p.add_argument("--run-dir", help="run directory (default [training] output_dir)")
    p.add_argument("--dry-run", action="store_true", help="write the plan and print the exact command; run nothing")
    p.add_argument("--resume", action="store_true", help="continue from the newest saved state (or RESUME=1)")

    p = add("setup-train", cmd_setup_train, "CUDA box set-up: sd-scripts submodule, packages, model files, tokenizers")
    p.add_argument("--skip-install", action="store_true", help="do not pip install (packages already there)")

    p = add("inspect", cmd_inspect, "describe a LoRA .safetensors from its header (no torch)")
    p.add_argument("file", help="LoRA .safetensors")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = add("check", cmd_check, "score samples against the 16 px grid, read them back as ASCII, rank checkpoints")
    p.add_argument("paths", nargs="*", help="images or folders (default: the configured run's sample folder, outputs in <run>/check)")
    p.add_argument("--json", help="write every score as JSON here")
    p.add_argument("--overlay-dir", help="write <image>.overlay.png (grid + unmatched cells | snapped) here")
    p.add_argument("--ascii-dir", help="write the read-back <image>.ascii here")
    p.add_argument("--report-dir", help="report.md + scores.png (default: <sample folder>/../check)")

    p = add("snap", cmd_snap, "repair near-misses: threshold, move onto the grid, nearest tile per cell")
    p.add_argument("images", nargs="+", help="images or folders")
    p.add_argument("--out", required=True, help="output folder for <image>.png + <image>.ascii")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except UserError as e:
        fail(str(e))
        return e.exit_code
    except KeyboardInterrupt:
        say("interrupted; re-run the same command to continue where it stopped")
        return 130


if __name__ == "__main__":
    sys.exit(main())
