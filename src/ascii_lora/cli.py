"""Command line: argument parsing and printing only; every decision lives in the library."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from . import __version__
from .console import console, err_console, fail, say, track
from .errors import UserError
from .loader import load_config

Handler = Callable[[argparse.Namespace], int]


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


def _nonnegative(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {v}")
    return v


def _human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


# -- dataset -----------------------------------------------------------------------------------

def cmd_dataset(args: argparse.Namespace) -> int:
    from .dataset import default_workers, write_dataset

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
    from .validate import validate_dir

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
    from .fsutil import atomic_write
    from .preview import contact_sheet, spread

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
    from .plan import build_plan

    cfg = load_config(args.config)
    for w in cfg.warnings():
        err_console.print(f"[yellow]warning:[/yellow] {escape(w)}", soft_wrap=True)
    return cfg, build_plan(cfg, _root(), Path(args.run_dir) if args.run_dir else None, resume)


def cmd_plan(args: argparse.Namespace) -> int:
    from .plan import write_plan

    _, plan = _plan(args)
    for path in write_plan(plan, _root()):
        say(f"wrote {path}")
    say(f"plan ready in {plan.run_dir}: `make train` checks the machine, then runs train.sh's command")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    import os

    from .launcher import launch
    from .plan import write_plan
    from .preflight import run_preflight

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
    code = launch(plan.argv, _root(), log, echo=say)
    say(f"trainer exited with code {code}; checkpoints and samples in {plan.run_dir}")
    return code


def cmd_setup_train(args: argparse.Namespace) -> int:
    from .setup_train import setup_train

    cfg = load_config(args.config)
    setup_train(cfg, _root(), say, skip_install=args.skip_install)
    say("setup-train done: run `make train`")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    import json

    from .lora_inspect import inspect_lora
    from .safetensors_header import NotSafetensors

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


# -- parser ------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ascii-lora", description=__doc__)
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
