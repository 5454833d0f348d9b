"""`rehearse`: print the rehearsal's phases (rehearse/run.py runs them; rehearse/train_env.py builds its env)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.markup import escape

from ..config.loader import load_config
from ..console import console, say
from ..errors import UserError


def add_compare_args(p: argparse.ArgumentParser) -> None:
    """`rehearse --compare` and its options (rehearse/compare.py)."""
    from ..rehearse.peers import classes_with_peers
    from .common import int_between

    p.add_argument(
        "--compare",
        action="store_true",
        help="only: train our profile and each peer kit's preset of its card class side by side "
        "(<out>/compare)",
    )
    p.add_argument(
        "--steps",
        type=int_between(2, 1000),
        default=None,
        help="--compare: steps per side (default 2; 20 with --full-size)",
    )
    p.add_argument(
        "--vram-profile",
        action="append",
        choices=classes_with_peers(),
        help="--compare: card class to compare (repeatable; default [hardware] vram_profile)",
    )


def _in_venv(venv: Path) -> bool:
    return Path(sys.prefix).resolve() == venv.resolve()


def _phases(selection: str):
    from ..rehearse.phases import phases_for

    try:
        return phases_for(selection)
    except ValueError as e:
        raise UserError(f"--phases: {e}") from None


def _argv_again(args: argparse.Namespace, venv: Path) -> list[str]:
    """The same `rehearse` command, to run again inside the train env ``venv`` once it is built."""
    again = ["rehearse", "--out", str(args.out), "--train-venv", str(venv)]
    if args.config:
        again += ["--config", str(args.config)]
    if args.cache:
        again += ["--cache", str(args.cache)]
    if args.full_size:
        again.append("--full-size")
    again += ["--phases", args.phases] + (["--fp32"] if args.fp32 else []) + (["--bf16"] if args.bf16 else [])
    if args.compare:
        again += ["--compare", *(["--steps", str(args.steps)] if args.steps else [])]
        again += [a for p in args.vram_profile or [] for a in ("--vram-profile", p)]
    return again


def cmd_rehearse(args: argparse.Namespace) -> int:
    from ..rehearse import train_env

    root = Path.cwd()
    cfg = load_config(args.config)  # a bad config is refused before anything is installed
    phases = _phases(args.phases)  # so is a bad phase name
    if args.compare:
        from ..rehearse.compare import check_classes

        check_classes(args.vram_profile or [cfg.hardware.vram_profile])
    venv = args.train_venv if args.train_venv.is_absolute() else root / args.train_venv
    # a training box whose own env already holds everything (torch, sd-scripts' requirements) needs no second one
    if not _in_venv(venv) and train_env.missing_modules(Path(sys.executable)):
        python = train_env.ensure(root, venv, log=say)
        again = _argv_again(args, venv)
        sys.stdout.flush()
        os.execv(str(python), [str(python), "-m", "ascii_lora", *again])
    if args.compare:
        return _compare(root, args, cfg)
    if args.full_size:
        import torch

        if not torch.cuda.is_available():
            raise UserError(
                "rehearse --full-size: stand-ins of the real sizes need a CUDA GPU (about 40 GB of files, 1024 px)"
            )
        problem = train_env.sd_scripts_problem(root)
        if problem and not os.environ.get(
            "ASCII_LORA_SD_SCRIPTS_FROM_TARBALL"
        ):  # a device copy has no submodule .git
            raise UserError(problem)
        return _full_size(root, args)
    problem = train_env.sd_scripts_problem(root)
    if problem:
        raise UserError(problem)

    from ..rehearse import standins as st
    from ..rehearse.precision import FP32, choose
    from ..rehearse.run import Phase, rehearse

    fp32, why = choose(args.fp32, args.bf16)
    say(f"precision: {why}")
    if fp32:
        os.environ[FP32] = "1"  # every trainer this rehearsal starts inherits it

    sizes = st.Sizes.tiny()
    cache = args.cache or root / ".cache" / "rehearsal" / "tiny"
    say(
        f"rehearsal in {args.out}: the pinned sd-scripts trains this plan on the CPU with random stand-ins "
        f"({sizes.double_blocks}+{sizes.single_blocks} FLUX blocks, {sizes.t5_layers} T5 layers); stand-ins in {cache}"
    )

    status = console.status("starting", spinner="dots")
    status.start()

    def report(p: Phase) -> None:
        mark = "[green]  OK[/green]" if p.ok else "[red]FAIL[/red]"
        console.print(f"{mark} {escape(p.name)} ({p.seconds:.0f} s): {escape(p.detail)}", soft_wrap=True)

    def on_line(line: str) -> None:
        status.update(escape(line.strip()[:110]))

    try:
        result = rehearse(cfg, root, args.out, cache, sizes, report=report, on_line=on_line, phases=phases)
    finally:
        status.stop()
    total = sum(p.seconds for p in result.phases)
    verdict = "every phase held" if result.ok else f"{sum(not p.ok for p in result.phases)} phase(s) failed"
    say(
        f"rehearsal {verdict} in {total / 60:.1f} min; summary {result.out / 'rehearsal.json'}, logs in {result.out}"
    )
    return 0 if result.ok else 1


def _full_size(root: Path, args: argparse.Namespace) -> int:
    """Every VRAM profile for a few steps on stand-ins of the real sizes (peak memory, s/step), then
    drawing with the trained stand-in LoRA at each precision (load time, s/picture, peak memory)."""
    from ..rehearse import standins as st
    from ..rehearse.profiles import measure, measure_drawing, profile_config

    cache = args.cache or root / ".cache" / "rehearsal" / "full"
    say(f"full-size profiles in {args.out}: stand-ins of FLUX.1-dev's real sizes in {cache} (about 35 GB)")
    rows = measure(root, args.out, cache, log=say)
    for r in rows:
        if "skipped" in r:
            say(f"{r['profile']:>6}: skipped ({r['skipped']})")
        elif r.get("exit_code"):
            say(f"{r['profile']:>6}: FAIL exit {r['exit_code']}: {r.get('error', '')}")
        else:
            say(
                f"{r['profile']:>6}: peak {r.get('peak_allocated_gib', '?')} GiB allocated / {r.get('peak_reserved_gib', '?')} GiB "
                f"reserved, {r.get('seconds_per_step', '?')} s/step (batch {r['batch']}) on {r['card']}"
            )
    trained = next((r for r in rows if r["profile"] == "24gb" and r.get("exit_code") == 0), None)
    drawing: list[dict] = []
    if trained is None:
        say("drawing: not measured (the 24gb profile trained no LoRA to draw with)")
    else:
        out = Path(args.out)
        cfg = profile_config("24gb", out / "data", st.paths(cache), out / "24gb", steps=1)
        drawing = measure_drawing(root, out, cfg, log=say)
        for r in drawing:
            if r.get("exit_code"):
                say(f"{r['precision']:>6} drawing: FAIL exit {r['exit_code']}: {r.get('error', '')}")
            else:
                say(
                    f"{r['precision']:>6} drawing: load {r.get('load_s', '?')} s, {r.get('seconds_per_picture', '?')} s/picture "
                    f"({r['size']}, {r['steps']} steps; first {r.get('first_picture_s', '?')} s), peak "
                    f"{r.get('peak_allocated_gib', '?')} / {r.get('peak_reserved_gib', '?')} GiB on {r['card']}"
                )
    say(f"results: {Path(args.out) / 'profiles.json'}, {Path(args.out) / 'drawing.json'}")
    ok = all(not r.get("exit_code") and "skipped" not in r for r in rows)
    return 0 if ok and trained is not None and all(not r.get("exit_code") for r in drawing) else 1


def _compare(root: Path, args: argparse.Namespace, cfg) -> int:
    """Our profile against the peers' presets of its card class (rehearse/compare.py runs them)."""
    from ..rehearse import compare as cmp
    from ..rehearse import train_env
    from ..rehearse.compare_report import table

    refusal = cmp.full_size_refusal(args.full_size, cmp.cuda_available)
    if refusal:
        raise UserError(refusal)
    problem = train_env.sd_scripts_problem(root)
    if problem and not (
        args.full_size and os.environ.get("ASCII_LORA_SD_SCRIPTS_FROM_TARBALL")
    ):  # a device copy
        raise UserError(problem)
    classes = args.vram_profile or [cfg.hardware.vram_profile]
    steps = args.steps or (20 if args.full_size else 2)
    cache = args.cache or root / ".cache" / "rehearsal" / ("full" if args.full_size else "tiny")
    out = Path(args.out) / "compare"
    say(
        f"compare in {out}: ours vs the peers' presets for {', '.join(classes)}, {steps} steps each, stand-ins in {cache}"
    )
    data, models = cmp.prepare(cfg, root, Path(args.out), cache, args.full_size, log=say)
    result = cmp.compare(cfg, root, out, models, data, classes, steps, args.full_size, log=say)
    console.print(escape(table(result)), soft_wrap=True)
    say(f"results: {out / 'compare.json'}, {out / 'compare.md'}; each side's trainer log beside them")
    return 0 if cmp.ok(result) else 1
