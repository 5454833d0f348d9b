"""`plan`, `train`, `setup-train`, `inspect`: everything that drives or describes the trainer."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from ..config.loader import load_config
from ..config.models import ExperimentConfig
from ..console import console, err_console, fail, say
from ..errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    from ..train.trainer import Trainer


# -- plan / train ------------------------------------------------------------------------------


def _root() -> Path:
    """The checkout: where vendor/, data/ and models/ live. Commands run from it (make does)."""
    return Path.cwd()


@dataclass(frozen=True)
class Context:
    """What a command works on, settled once: the config (loaded once), the run directory, the trainer."""

    cfg: ExperimentConfig
    root: Path
    run_dir: Path
    trainer: Trainer
    asked: str | None = None  # how a resume was asked for; None: it was not


def _load(args: argparse.Namespace) -> ExperimentConfig:
    """The experiment, with ``--trainer`` (when given) overriding ``[trainer] kind``."""
    trainer = getattr(args, "trainer", None)
    return load_config(args.config, {"trainer": {"kind": trainer}} if trainer else None)


def _context(args: argparse.Namespace, resume: bool = False) -> Context:
    from ..train.planning import with_resume
    from ..train.registry import trainer_for
    from ..train.runs import run_dir_of

    cfg, asked = _load(args), None
    if resume:
        cfg, asked = with_resume(cfg, _resume_request(args))
    root = _root()
    return Context(
        cfg,
        root,
        run_dir_of(root, cfg.training.output_dir, getattr(args, "run_dir", None)),
        trainer_for(cfg),
        asked,
    )


def _warn(text: str) -> None:
    err_console.print(f"[yellow]warning:[/yellow] {escape(text)}", soft_wrap=True)


def _resume_request(args: argparse.Namespace) -> str | None:
    """How the user asked to continue a run (--resume or RESUME=1), None when they did not."""
    import os

    env = os.environ.get("RESUME", "").strip()
    if env.lower() not in ("", "0", "1", "true", "false", "yes", "no"):
        raise UserError(f"RESUME={env}: expected RESUME=1 (continue from the newest saved state) or RESUME=0")
    if getattr(args, "resume", False):
        return "--resume"
    return "RESUME=1" if env.lower() in ("1", "true", "yes") else None


def _plan(ctx: Context, machine=None, quiet: bool = False):
    """The plan as ``machine`` runs it (the head's when None); ``quiet``: a second planning of the
    same launch, whose warnings were said already."""
    from ..train.planning import plan_run

    for w in [] if quiet else ctx.cfg.warnings():
        _warn(w)
    return plan_run(
        ctx.trainer, ctx.cfg, ctx.root, ctx.run_dir, ctx.asked, (lambda w: None) if quiet else _warn, machine
    )


def _say_estimate(ctx: Context, plan) -> None:
    """Expected duration (and cost with a price) of what this launch trains: docs/watching.md."""
    from ..train.validation_plan import plan_estimate

    segment = getattr(plan, "segment", None)
    e = plan_estimate(ctx.cfg, segment.offset if segment is not None else 0)
    say(e.summary())
    for line in e.details():
        say(line)


def _step_samples(ctx: Context, plan):
    """A cumulative step -> its samples' check verdicts, for the checkpoint messages of this launch."""
    from ..check.step_verdicts import step_verdicts, verdict_text

    segment = getattr(plan, "segment", None)
    offset = segment.offset if segment is not None else 0
    folder = (
        segment.output_dir if segment is not None else plan.run_dir
    ) / "sample"  # sd-scripts' <output_dir>/sample

    def describe(step: int) -> str:
        return verdict_text(*step_verdicts(folder, step - offset, ctx.cfg.check, ctx.cfg.dataset.cell_size))

    return describe


def cmd_plan(args: argparse.Namespace) -> int:
    ctx = _context(args, resume=True)
    plan = _plan(ctx)
    for path in ctx.trainer.write_plan(plan, ctx.root):
        say(f"wrote {path}")
    _say_estimate(ctx, plan)
    say(
        f"{ctx.trainer.label} plan ready in {plan.run_dir}: `make train` checks the machine, then runs train.sh's command"
    )
    return 0


def _preflight_passed(ctx: Context, plans: dict, machine, rehearsal: bool) -> bool:
    """This machine's pre-flight, then (several machines) its handshake through the shared run directory;
    ``plans`` ("head", "mine") is updated when this machine plans again after the head."""
    from ..train.probes import Probes

    probes = None
    if rehearsal:  # `ascii-lora rehearse`: the CPU stands in for each GPU, T5 layers from the file
        from ..rehearse.run import rehearsal_probes

        probes = rehearsal_probes(ctx.cfg.hardware.num_gpus)
    checks = ctx.trainer.preflight(ctx.cfg, plans["mine"], ctx.root, probes)
    if not [c for c in checks if c.ok is False]:
        checks += ctx.trainer.cluster_checks(
            ctx.cfg,
            plans,
            ctx.root,
            machine,
            lambda m: _plan(ctx, m, quiet=True),
            (probes or Probes()).head(ctx.root),
        )
    for c in checks:
        mark = {True: "[green]  ok[/green]", False: "[red]FAIL[/red]", None: "  - "}[c.ok]
        fix = f" [dim]->[/dim] {escape(c.fix)}" if c.ok is False and c.fix else ""
        console.print(f"{mark} {escape(c.name)}: {escape(c.detail)}{fix}", soft_wrap=True)
    failed = [c for c in checks if c.ok is False]
    if failed:
        gpu = next((c for c in failed if c.name == "CUDA GPU"), None)
        reason = f" ({gpu.detail})" if gpu else ""
        fail(f"{len(failed)} of {len(checks)} pre-flight checks failed{reason}; nothing was launched")
    return not failed


def cmd_train(args: argparse.Namespace) -> int:
    import os

    from ..train.cluster_run import host_ram_note, this_machine

    ctx = _context(args, resume=True)
    machine = this_machine(ctx.cfg, getattr(args, "machine_rank", None), os.environ)
    if machine.is_head:  # the head owns the run directory: segments, plan files, run.json
        for a in ctx.trainer.adopt_leftovers(
            ctx.cfg, ctx.run_dir
        ):  # a launcher killed outright left a segment
            _report_adoption(a)
    plan = _plan(ctx)
    if machine.is_head:
        ctx.trainer.write_plan(plan, ctx.root)
    plans = {"head": plan, "mine": plan if machine.rank == 0 else _plan(ctx, machine, quiet=True)}
    if args.dry_run:
        say(plans["mine"].shell())
        return 0
    rehearsal = getattr(args, "rehearsal", False)
    if not _preflight_passed(ctx, plans, machine, rehearsal):
        return 1
    plan = plans["head"]
    note = host_ram_note(ctx.cfg, plans["mine"])
    if note:
        _warn(note)
    argv = plans["mine"].argv
    _say_estimate(ctx, plan)
    if rehearsal:
        from ..rehearse.run import rehearsal_argv

        argv = rehearsal_argv(argv)
    log = machine.log(plan.run_dir)
    say(f"launching; log: {log}")
    try:
        code, adoption = ctx.trainer.launch(
            ctx.cfg, plan, ctx.root, log, say, argv, machine, plans, samples=_step_samples(ctx, plan)
        )
    except FileNotFoundError as e:
        raise UserError(str(e)) from None
    _report_adoption(adoption)
    failure = ctx.trainer.failure(plan, code, log)
    if failure:
        fail(failure)
        return 1
    say(f"trainer exited with code {code}; checkpoints and samples in {plan.run_dir}")
    return code


def cmd_stop(args: argparse.Namespace) -> int:
    ctx = _context(args)
    cfg, run_dir = ctx.cfg, ctx.run_dir
    if args.cancel:
        cancelled = ctx.trainer.cancel_stop(cfg, run_dir)
        say(
            f"stop request withdrawn in {run_dir}"
            if cancelled
            else f"no stop request was pending in {run_dir}"
        )
        return 0
    req = ctx.trainer.request_stop(cfg, run_dir)
    now = f"at step {req.step}" if req.step is not None else "before its first step"
    say(
        f"asked the training in {run_dir} ({now}) to stop right after it saves its state at step {req.next_save} "
        f"(one every {cfg.training.save_every_n_steps} steps); nothing will be lost. `make train RESUME=1` continues "
        "from it; `ascii-lora stop --cancel` withdraws the request"
    )
    return 0


def _report_adoption(a) -> None:
    if a is None:
        return
    say(
        f"resumed segment from step {a.offset}: {len(a.moved)} file(s) renumbered into the run directory"
        + (f", last saved step {a.last_step}" if a.last_step is not None else ", no step saved")
    )
    if a.kept:
        err_console.print(
            f"[yellow]warning:[/yellow] kept in {escape(str(a.segment))} (name taken in the run directory): "
            f"{escape(', '.join(a.kept))}",
            soft_wrap=True,
        )


def cmd_setup_train(args: argparse.Namespace) -> int:
    ctx = _context(args)
    say(ctx.trainer.setup(ctx.cfg, ctx.root, say, args.skip_install))
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
            ("rank", info.rank),
            ("alpha", info.alpha),
            ("module", info.module),
            ("base model", info.base_model),
            ("modules", info.modules),
            ("blocks", blocks + (f"; {info.other_modules} other" if info.other_modules else "")),
            ("dtype", info.dtype),
            ("parameters", f"{info.parameters:,}"),
            *info.training.items(),
        ):
            table.add_row(escape(str(k)), escape(str(v)))
        console.print(table)
    for w in info.warnings:
        err_console.print(f"[yellow]warning:[/yellow] {escape(w)}", soft_wrap=True)
    return 0
