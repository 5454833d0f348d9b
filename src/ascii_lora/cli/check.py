"""`check` and `snap`: print what the checker decided (check/run.py decides)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from ..config.loader import load_config
from ..console import console, fail, say, track
from ..errors import UserError


def cmd_check(args: argparse.Namespace) -> int:
    from ..check.run import run_check

    cfg, paths, outputs, losses = _check_inputs(args)
    run = run_check(paths, cfg, outputs, progress=lambda it, n: track(it, n, "checking"), losses=losses)
    reports = run.reports

    _print_images(reports)
    if run.scores:
        _print_checkpoints(run)
    n = len(reports)
    say(
        f"{n} image{'s' if n != 1 else ''}: {run.passed} passed, {run.failed} failed, {run.errors} unreadable"
    )
    return run.exit_code


def _check_inputs(args: argparse.Namespace):
    """The config, the images to check, where the outputs go and the run's validation losses."""
    from ..check.run import CheckOutputs, configured_run
    from ..validation_loss import read_losses

    trainer = getattr(args, "trainer", None)
    cfg = load_config(args.config, {"trainer": {"kind": trainer}} if trainer else None)
    if args.paths and args.run_dir:
        raise UserError("check: give image paths or --run-dir, not both (--run-dir checks <run>/sample)")
    losses: dict[int, float] = {}
    if args.paths:
        paths, outputs = args.paths, CheckOutputs()
    else:
        paths, outputs = configured_run(cfg, Path(args.run_dir) if args.run_dir else None)
        losses = read_losses(
            Path(args.run_dir or cfg.training.output_dir)
        )  # the run's validation loss per step
    outputs = CheckOutputs(
        json=Path(args.json) if args.json else outputs.json,
        overlay_dir=Path(args.overlay_dir) if args.overlay_dir else outputs.overlay_dir,
        ascii_dir=Path(args.ascii_dir) if args.ascii_dir else outputs.ascii_dir,
        report_dir=Path(args.report_dir) if args.report_dir else outputs.report_dir,
    )
    return cfg, paths, outputs, losses


def _print_images(reports) -> None:
    """One row per image: its verdict and each criterion; then the unreadable ones."""
    table = Table(show_edge=False)
    table.add_column("image", overflow="fold", ratio=1)
    table.add_column("result", no_wrap=True, min_width=10)
    for col in ("content", "black bg", "crisp", "aligned", "grid", "edge grey", "offset", "read"):
        table.add_column(col, justify="right", no_wrap=True)
    yn = lambda b: "[green]yes[/green]" if b else "[red]no[/red]"  # noqa: E731
    for r in reports:
        name = escape(Path(r.file).name)
        if r.error:
            table.add_row(name, "[red]unreadable[/red]", "", "", "", "", "", "", "", "")
            continue
        c = r.criteria
        table.add_row(
            name,
            "[green]pass[/green]" if r.passed else "[red]FAIL[/red]",
            yn(c["content"]),
            yn(c["black_background"]),
            yn(c["crisp"]),
            yn(c["grid_aligned"]),
            f"{r.grid_score:.0%}" if r.grid_score is not None else "-",
            f"{r.edge_grey:.1%}",
            f"{r.offset[0]},{r.offset[1]}" if r.offset else "-",
            f"{r.cell_agreement:.0%}" if r.cell_agreement is not None else "-",
        )
    console.print(table)
    for r in reports:
        if r.error:
            fail(f"{r.file}: {r.error}")


def _print_checkpoints(run) -> None:
    """The checkpoints' scores, the best one and where the report went."""
    from ..check.ranking import label

    ct = Table(title="checkpoints", show_edge=False)
    for col in (
        "checkpoint",
        "images",
        "pass rate",
        "content",
        "black bg",
        "crisp",
        "aligned",
        "grid score",
        "file",
    ):
        ct.add_column(col)
    for s in run.scores:
        ct.add_row(
            ("[bold]* " if s.best else "  ") + label(s) + ("[/bold]" if s.best else ""),
            str(s.images),
            f"{s.pass_rate:.0%}",
            f"{s.content_rate:.0%}",
            f"{s.black_rate:.0%}",
            f"{s.crisp_rate:.0%}",
            f"{s.aligned_rate:.0%}",
            f"{s.mean_grid_score:.2f}",
            escape(Path(s.checkpoint_file).name) if s.checkpoint_file else "-",
        )
    console.print(ct)
    best = run.best
    if best is None:
        say("no best checkpoint: no trained checkpoint draws content in at least half of its samples")
    else:
        say(
            f"best checkpoint: {label(best)} ({best.pass_rate:.0%} pass) -> {best.checkpoint_file or 'checkpoint file not found beside the samples'}"
        )
    if run.report_dir is not None:  # always set once checkpoints were scored
        say(f"report: {run.report_dir / 'report.md'}, chart: {run.report_dir / 'scores.png'}")


def cmd_snap(args: argparse.Namespace) -> int:
    from ..check.run import snap_images

    cfg = load_config(args.config)
    out = Path(args.out)
    results = snap_images(args.images, cfg, out, progress=lambda it, n: track(it, n, "snapping"))
    for s in results:
        if s.error:
            fail(f"{s.source}: {s.error}")
        else:
            say(
                f"{s.source} -> {s.png}: moved by {s.offset[0]},{s.offset[1]} px, "
                f"{s.repaired} cells redrawn as read, {s.unknown} unreadable kept as drawn ('?')"
            )
    errors = sum(1 for s in results if s.error)
    say(f"{len(results) - errors} snapped into {out}, {errors} unreadable")
    return 2 if errors else 0
