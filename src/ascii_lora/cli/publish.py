"""`publish`: print what ascii_lora.publish chose, wrote and uploaded."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from rich.markup import escape

from ..config.loader import load_config
from ..console import console, say
from .common import human_bytes


def cmd_publish(args: argparse.Namespace) -> int:
    from ..publish.run import publish

    cfg = load_config(args.config)
    run_dir = Path(args.run_dir or cfg.training.output_dir)
    result = publish(
        cfg,
        run_dir,
        args.repo,
        lora=args.lora,
        out=args.out,
        dry_run=args.dry_run,
        private=args.private,
        say=lambda m: console.print(escape(m), soft_wrap=True),
    )
    f = result.folder
    for rel in f.files:
        console.print(f"  {escape(rel)}", soft_wrap=True)
    say(f"{len(f.files)} files, {human_bytes(f.size)} in {f.path}")
    if f.measured is None:
        say(
            "this run was never verified: the card says so instead of a pass rate (`make verify` measures it)"
        )
    elif f.measured.lora is None:
        say("the chosen LoRA was not among verify's checkpoints: the card claims no pass rate for it")
    if result.uploaded is None:
        say(
            "dry run: nothing uploaded; the Hub would receive exactly the files above, "
            f"card {f.path / 'README.md'}"
        )
    else:
        say(
            f"published {result.uploaded.files} files to https://huggingface.co/{result.uploaded.repo_id} "
            f"({result.uploaded.url})"
        )
    return 0


def add_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add(
        "publish",
        cmd_publish,
        "share the LoRA on the Hugging Face Hub: model card with the measured pass rates, "
        "pictures, config (token from HF_TOKEN or `hf auth login`)",
    )
    p.add_argument("--repo", required=True, help="OWNER/NAME of the Hub model repo (created if missing)")
    p.add_argument("--run-dir", help="run directory (default [training] output_dir)")
    p.add_argument(
        "--lora", type=Path, help="LoRA file to share (default: verify's winner, else the run's final file)"
    )
    p.add_argument("--private", action="store_true", help="create the repo private")
    p.add_argument("--dry-run", action="store_true", help="write the folder (--out) and upload nothing")
    p.add_argument(
        "--out", type=Path, help="where the upload folder is written (dry run default: <run>/publish)"
    )
