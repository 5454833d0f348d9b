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


def _in_venv(venv: Path) -> bool:
    return Path(sys.prefix).resolve() == venv.resolve()


def _phases(only: str | None) -> set[str] | None:
    """``--only a,b``: the phases to run (None: all); an unknown name is refused with the known ones."""
    from ..rehearse.run import PHASE_KEYS

    if only is None:
        return None
    names = {n.strip() for n in only.split(",") if n.strip()}
    unknown = sorted(names - set(PHASE_KEYS))
    if unknown or not names:
        raise UserError(f"rehearse --only {only}: unknown phase {', '.join(unknown) or '(none given)'}; "
                        f"phases: {', '.join(PHASE_KEYS)}")
    return names


def cmd_rehearse(args: argparse.Namespace) -> int:
    from ..rehearse import train_env

    root = Path.cwd()
    cfg = load_config(args.config)  # a bad config is refused before anything is installed
    only = _phases(args.only)  # so is an unknown phase
    venv = args.train_venv if args.train_venv.is_absolute() else root / args.train_venv
    # a training box whose own env already holds everything (torch, sd-scripts' requirements) needs no second one
    if not _in_venv(venv) and train_env.missing_modules(Path(sys.executable)):
        python = train_env.ensure(root, venv, log=say)
        again = ["rehearse", "--out", str(args.out), "--train-venv", str(venv)]
        if args.config:
            again += ["--config", str(args.config)]
        if args.cache:
            again += ["--cache", str(args.cache)]
        if args.full_size:
            again.append("--full-size")
        if args.only:
            again += ["--only", args.only]
        sys.stdout.flush()
        os.execv(str(python), [str(python), "-m", "ascii_lora", *again])
    if args.full_size:
        import torch

        if not torch.cuda.is_available():
            raise UserError("rehearse --full-size: stand-ins of the real sizes need a CUDA GPU (about 40 GB of files, 1024 px)")
        problem = train_env.sd_scripts_problem(root)
        if problem and not os.environ.get("ASCII_LORA_SD_SCRIPTS_FROM_TARBALL"):  # a device copy has no submodule .git
            raise UserError(problem)
        return _full_size(root, args)
    problem = train_env.sd_scripts_problem(root)
    if problem:
        raise UserError(problem)

    from ..rehearse import standins as st
    from ..rehearse.run import Phase, rehearse

    sizes = st.Sizes.tiny()
    cache = args.cache or root / ".cache" / "rehearsal" / "tiny"
    say(f"rehearsal in {args.out}: the pinned sd-scripts trains this plan on the CPU with random stand-ins "
        f"({sizes.double_blocks}+{sizes.single_blocks} FLUX blocks, {sizes.t5_layers} T5 layers); stand-ins in {cache}")

    status = console.status("starting", spinner="dots")
    status.start()

    def report(p: Phase) -> None:
        mark = "[green]  OK[/green]" if p.ok else "[red]FAIL[/red]"
        console.print(f"{mark} {escape(p.name)} ({p.seconds:.0f} s): {escape(p.detail)}", soft_wrap=True)

    def on_line(line: str) -> None:
        status.update(escape(line.strip()[:110]))

    try:
        result = rehearse(cfg, root, args.out, cache, sizes, report=report, on_line=on_line, only=only)
    finally:
        status.stop()
    total = sum(p.seconds for p in result.phases)
    verdict = "every phase held" if result.ok else f"{sum(not p.ok for p in result.phases)} phase(s) failed"
    say(f"rehearsal {verdict} in {total / 60:.1f} min; summary {result.out / 'rehearsal.json'}, logs in {result.out}")
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
            say(f"{r['profile']:>6}: peak {r.get('peak_allocated_gib', '?')} GiB allocated / {r.get('peak_reserved_gib', '?')} GiB "
                f"reserved, {r.get('seconds_per_step', '?')} s/step (batch {r['batch']}) on {r['card']}")
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
                say(f"{r['precision']:>6} drawing: load {r.get('load_s', '?')} s, {r.get('seconds_per_picture', '?')} s/picture "
                    f"({r['size']}, {r['steps']} steps; first {r.get('first_picture_s', '?')} s), peak "
                    f"{r.get('peak_allocated_gib', '?')} / {r.get('peak_reserved_gib', '?')} GiB on {r['card']}")
    say(f"results: {Path(args.out) / 'profiles.json'}, {Path(args.out) / 'drawing.json'}")
    ok = all(not r.get("exit_code") and "skipped" not in r for r in rows)
    return 0 if ok and trained is not None and all(not r.get("exit_code") for r in drawing) else 1
