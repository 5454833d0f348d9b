"""`plan`, `train`, `setup-train`, `inspect`: everything that drives or describes the trainer."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from ..config.loader import load_config
from ..console import console, err_console, fail, say
from ..errors import UserError


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
    from ..train.plan_files import write_plan

    _, plan = _plan(args)
    for path in write_plan(plan, _root()):
        say(f"wrote {path}")
    say(f"plan ready in {plan.run_dir}: `make train` checks the machine, then runs train.sh's command")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    import os

    from ..train.launcher import launch
    from ..train.plan_files import write_plan
    from ..train.preflight import run_preflight
    from ..train.segments import close_segment, segments_with

    resume = True if (args.resume or os.environ.get("RESUME", "") not in ("", "0")) else None
    _adopt_leftovers(args)
    cfg, plan = _plan(args, resume)
    write_plan(plan, _root())
    if args.dry_run:
        say(plan.shell())
        return 0
    argv, probes = plan.argv, None
    if getattr(args, "rehearsal", False):  # `ascii-lora rehearse`: the CPU stands in for the GPU, T5 layers from the file
        from ..rehearse.run import rehearsal_argv, rehearsal_probes

        argv, probes = rehearsal_argv(plan.argv), rehearsal_probes()
    checks = run_preflight(cfg, plan, _root(), probes)
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
        code = launch(argv, _root(), log, echo=say, keep={"segments": segments_with(plan.run_dir, plan.segment)})
    except FileNotFoundError as e:
        raise UserError(str(e)) from None
    _report_adoption(close_segment(plan.run_dir, cfg.training.output_name, plan.segment, code))
    say(f"trainer exited with code {code}; checkpoints and samples in {plan.run_dir}")
    return code


def _adopt_leftovers(args: argparse.Namespace) -> None:
    """A segment folder left by a launcher that was killed outright is renumbered before anything else."""
    from ..train.runs import resolve_path
    from ..train.segments import adopt_pending

    cfg = load_config(args.config)
    run_dir = Path(resolve_path(_root(), args.run_dir or cfg.training.output_dir))
    for a in adopt_pending(run_dir, cfg.training.output_name, cfg.training.max_train_steps):
        _report_adoption(a)


def _report_adoption(a) -> None:
    if a is None:
        return
    say(f"resumed segment from step {a.offset}: {len(a.moved)} file(s) renumbered into the run directory"
        + (f", last saved step {a.last_step}" if a.last_step is not None else ", no step saved"))
    if a.kept:
        err_console.print(f"[yellow]warning:[/yellow] kept in {escape(str(a.segment))} (name taken in the run directory): "
                          f"{escape(', '.join(a.kept))}", soft_wrap=True)


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
