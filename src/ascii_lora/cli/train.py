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


def _load(args: argparse.Namespace):
    """The experiment, with ``--trainer`` (when given) overriding ``[trainer] kind``."""
    trainer = getattr(args, "trainer", None)
    return load_config(args.config, {"trainer": {"kind": trainer}} if trainer else None)


def _resume_request(args: argparse.Namespace) -> str | None:
    """How the user asked to continue a run (--resume or RESUME=1), None when they did not."""
    import os

    env = os.environ.get("RESUME", "").strip()
    if env.lower() not in ("", "0", "1", "true", "false", "yes", "no"):
        raise UserError(f"RESUME={env}: expected RESUME=1 (continue from the newest saved state) or RESUME=0")
    if getattr(args, "resume", False):
        return "--resume"
    return "RESUME=1" if env.lower() in ("1", "true", "yes") else None


def _plan(args: argparse.Namespace, machine_rank: int = 0, head: str | None = None, quiet: bool = False):
    """The plan (the argv as machine ``machine_rank`` runs it); for sd-scripts refused when a resume was
    asked for (any of the three ways) and there is no state to resume from: sd-scripts would silently
    start a fresh run."""
    from ..train.plan import build_trainer_plan

    cfg = _load(args)
    asked = _resume_request(args) or ("[training] resume = true" if cfg.training.resume else None)
    if asked:  # RESUME=1 / --resume mean `[training] resume = true`, pre-flight check included
        cfg = cfg.model_copy(update={"training": cfg.training.model_copy(update={"resume": True})})
    for w in [] if quiet else cfg.warnings():
        err_console.print(f"[yellow]warning:[/yellow] {escape(w)}", soft_wrap=True)
    run_dir = Path(args.run_dir).expanduser() if args.run_dir else None
    plan = build_trainer_plan(cfg, _root(), run_dir, True if asked else None, machine_rank, head)
    if asked and cfg.trainer.kind != "simpletuner" and not quiet:
        from ..train.runs import incomplete_states

        for d in incomplete_states(plan.run_dir, cfg.training.output_name):
            err_console.print(f"[yellow]warning:[/yellow] {escape(str(d))}: its save was cut short (no random_states_*.pkl, "
                              "which accelerate writes last): not resumed from; delete it once you no longer need it",
                              soft_wrap=True)
    if asked and cfg.trainer.kind != "simpletuner" and "--resume" not in plan.argv:
        name = cfg.training.output_name
        raise UserError(
            f"{asked} asks to continue a run, but {plan.run_dir} holds no saved state ({name}-step*-state or "
            f"{name}-state; sd-scripts saves one every {cfg.training.save_every_n_steps} steps): "
            f"check --run-dir / [training] output_dir, or drop {asked} to start fresh"
        )
    return cfg, plan


def cmd_plan(args: argparse.Namespace) -> int:
    from ..train.plan_files import write_plan

    cfg, plan = _plan(args)
    for path in write_plan(plan, _root()):
        say(f"wrote {path}")
    who = "SimpleTuner" if cfg.trainer.kind == "simpletuner" else "sd-scripts"
    say(f"{who} plan ready in {plan.run_dir}: `make train` checks the machine, then runs train.sh's command")
    return 0


def _print_checks(checks) -> bool:
    """One line per check; True when none failed (the CLI prints, the stage decides)."""
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


def _machine(args: argparse.Namespace):
    import os

    from ..train.cluster_run import this_machine

    return this_machine(_load(args), getattr(args, "machine_rank", None), os.environ)


def _cluster_handshake(args, cfg, machine, plans: dict, probes) -> list:
    """Several machines: the handshake through the shared run directory. A machine other than the head
    plans again once the head has written its plan, so both plan the same launch (RESUME=1 included)."""
    from ..train.cluster_preflight import machine_handshake
    from ..train.cluster_run import image_dir, machine_facts
    from ..train.cluster_stop import clear_interrupt
    from ..train.launcher import STOP_REQUEST
    from ..train.probes import Probes

    head_plan = plans["head"]
    if machine.is_head:
        clear_interrupt(head_plan.run_dir)
        (head_plan.run_dir / STOP_REQUEST).unlink(missing_ok=True)

    def facts():
        if not machine.is_head:
            plans["head"] = _plan(args, quiet=True)[1]
            plans["mine"] = _plan(args, machine.rank, machine.head_ip, quiet=True)[1]
        plans["facts"] = machine_facts(cfg, _root(), plans["head"], (probes or Probes()).head(_root()))
        return plans["facts"]

    return machine_handshake(cfg, machine.rank, machine.head_ip, head_plan.run_dir, image_dir(head_plan), facts)


def cmd_train(args: argparse.Namespace) -> int:
    from ..train.launcher import launch
    from ..train.plan_files import write_plan
    from ..train.preflight import run_preflight
    from ..train.segments import close_segment, segments_with

    machine = _machine(args)
    if machine.is_head:
        _adopt_leftovers(args)
    cfg, plan = _plan(args)
    if machine.is_head:
        write_plan(plan, _root())
    mine = plan if machine.rank == 0 and not args.dry_run else _plan(args, machine.rank, machine.head_ip, quiet=True)[1]
    if args.dry_run:
        say(mine.shell())
        return 0
    argv, probes = plan.argv, None
    if cfg.trainer.kind == "simpletuner":
        from ..train.preflight_simpletuner import run_simpletuner_preflight

        checks = run_simpletuner_preflight(cfg, plan, _root())
    else:
        if getattr(args, "rehearsal", False):  # `ascii-lora rehearse`: the CPU stands in for the GPU, T5 layers from the file
            from ..rehearse.run import rehearsal_probes

            probes = rehearsal_probes(cfg.hardware.num_gpus)
        checks = run_preflight(cfg, mine, _root(), probes)
        plans = {"head": plan, "mine": mine}
        if not [c for c in checks if c.ok is False]:
            checks += _cluster_handshake(args, cfg, machine, plans, probes)
        plan, mine = plans["head"], plans["mine"]
        argv = mine.argv
        if getattr(args, "rehearsal", False):
            from ..rehearse.run import rehearsal_argv

            argv = rehearsal_argv(argv)
    if not _print_checks(checks):
        return 1
    if cfg.trainer.kind != "simpletuner":
        from ..train.cluster_run import host_ram_note

        note = host_ram_note(cfg, mine)
        if note:
            err_console.print(f"[yellow]warning:[/yellow] {escape(note)}", soft_wrap=True)
    log = machine.log(plan.run_dir)
    say(f"launching; log: {log}")
    simpletuner = cfg.trainer.kind == "simpletuner"
    try:
        if simpletuner:
            code = launch(plan.argv, plan.run_dir, log, echo=say, env=plan.env)
        else:
            code = _launch_kohya(cfg, plan, mine, argv, machine, log, launch, segments_with, plans.get("facts"))
    except FileNotFoundError as e:
        raise UserError(str(e)) from None
    if not simpletuner and machine.is_head:
        _report_adoption(close_segment(plan.run_dir, cfg.training.output_name, plan.segment, code))
    if simpletuner and code == 0:
        from ..train.simpletuner_plan import finished_lora

        if finished_lora(plan.run_dir) is None:
            # SimpleTuner's train.py prints a failure's traceback and still exits 0
            fail(f"SimpleTuner exited 0 but wrote no final LoRA in {plan.run_dir}: it failed; see {log}")
            return 1
    say(f"trainer exited with code {code}; checkpoints and samples in {plan.run_dir}")
    return code


def _launch_kohya(cfg, plan, mine, argv, machine, log, launch, segments_with, facts) -> int:
    """sd-scripts under our launcher: the head records the run (segments, plan hash), every machine
    watches the shared run directory for a peer's stop or interrupt."""
    from ..train.cluster_run import machine_facts, peer_watch
    from ..train.launcher import STOP_REQUEST

    stop = plan.run_dir / STOP_REQUEST
    facts = facts or machine_facts(cfg, _root(), plan, None)
    keep = {"segments": segments_with(plan.run_dir, plan.segment), "plan_hash": facts.plan,
            "machines": cfg.cluster.num_machines, "processes": cfg.hardware.num_gpus * cfg.cluster.num_machines}
    return launch(argv, _root(), log, echo=say, keep=keep if machine.is_head else {"plan_hash": facts.plan},
                  stop_request=stop, step_offset=mine.segment.offset, record=machine.record(plan.run_dir),
                  peers=peer_watch(cfg, mine, machine, stop))


def cmd_stop(args: argparse.Namespace) -> int:
    from ..train.runs import resolve_path
    from ..train.stop import cancel_stop, request_stop

    cfg = _load(args)
    run_dir = Path(resolve_path(_root(), args.run_dir or cfg.training.output_dir))
    if cfg.trainer.kind == "simpletuner":
        raise UserError("`ascii-lora stop` waits for sd-scripts' saved states; a SimpleTuner run stops with Ctrl-C "
                        "(it resumes from its last checkpoint)")
    if args.cancel:
        say(f"stop request withdrawn in {run_dir}" if cancel_stop(run_dir) else f"no stop request was pending in {run_dir}")
        return 0
    req = request_stop(run_dir, cfg.training.save_every_n_steps)
    now = f"at step {req.step}" if req.step is not None else "before its first step"
    say(f"asked the training in {run_dir} ({now}) to stop right after it saves its state at step {req.next_save} "
        f"(one every {cfg.training.save_every_n_steps} steps); nothing will be lost. `make train RESUME=1` continues "
        "from it; `ascii-lora stop --cancel` withdraws the request")
    return 0


def _adopt_leftovers(args: argparse.Namespace) -> None:
    """A segment folder left by a launcher that was killed outright is renumbered before anything else."""
    from ..train.runs import resolve_path
    from ..train.segments import adopt_pending

    cfg = _load(args)
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

    cfg = _load(args)
    if cfg.trainer.kind == "simpletuner":
        from ..train.setup import setup_simpletuner

        setup_simpletuner(cfg, _root(), say, skip_install=args.skip_install)
        say("setup-train (SimpleTuner) done: run `make train TRAINER=simpletuner` (or [trainer] kind = \"simpletuner\")")
        return 0
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
