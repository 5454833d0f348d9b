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


def cmd_rehearse(args: argparse.Namespace) -> int:
    from ..rehearse import train_env

    root = Path.cwd()
    cfg = load_config(args.config)  # a bad config is refused before anything is installed
    venv = args.train_venv if args.train_venv.is_absolute() else root / args.train_venv
    if not _in_venv(venv):
        python = train_env.ensure(root, venv, log=say)
        again = ["rehearse", "--out", str(args.out), "--train-venv", str(venv)]
        if args.config:
            again += ["--config", str(args.config)]
        if args.cache:
            again += ["--cache", str(args.cache)]
        if args.full_size:
            again.append("--full-size")
        sys.stdout.flush()
        os.execv(str(python), [str(python), "-m", "ascii_lora", *again])
    problem = train_env.sd_scripts_problem(root)
    if problem:
        raise UserError(problem)
    missing = [m for m in train_env.NEEDED if m != "ascii_lora" and _missing(m)]
    if missing:
        raise UserError(f"the train env {venv} lacks {', '.join(missing)}: delete {venv} and run `make rehearse` again")

    from ..rehearse import standins as st
    from ..rehearse.run import Phase, rehearse

    sizes = st.Sizes.full() if args.full_size else st.Sizes.tiny()
    if args.full_size:
        import torch

        if not torch.cuda.is_available():
            raise UserError("rehearse --full-size: stand-ins of the real sizes need a CUDA GPU (about 40 GB of files, 1024 px)")
        raise UserError("rehearse --full-size is not implemented yet: run the CPU rehearsal (no flag)")
    cache = args.cache or root / ".cache" / "rehearsal" / ("full" if args.full_size else "tiny")
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
        result = rehearse(cfg, root, args.out, cache, sizes, report=report, on_line=on_line)
    finally:
        status.stop()
    total = sum(p.seconds for p in result.phases)
    verdict = "every phase held" if result.ok else f"{sum(not p.ok for p in result.phases)} phase(s) failed"
    say(f"rehearsal {verdict} in {total / 60:.1f} min; summary {result.out / 'rehearsal.json'}, logs in {result.out}")
    return 0 if result.ok else 1


def _missing(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None
