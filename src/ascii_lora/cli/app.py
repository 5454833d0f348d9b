"""The `ascii-lora` parser: one sub-command per stage, each handled by its command module."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import get_args

from .. import __version__, interrupts
from ..config.models import TrainerConfig
from ..console import fail, say, stdout_failed
from ..errors import UserError, write_trace
from ..fsutil import describe
from .check import cmd_check, cmd_snap
from .common import int_between
from .common import nonnegative as _nonnegative
from .common import positive as _positive
from .dataset import cmd_dataset, cmd_preview, cmd_validate
from .publish import add_commands as add_publish_commands
from .rehearse import add_compare_args, cmd_rehearse
from .train import cmd_inspect, cmd_plan, cmd_setup_train, cmd_stop, cmd_train
from .verify import add_commands as add_verify_commands

Handler = Callable[[argparse.Namespace], int]
TRAINERS = get_args(TrainerConfig.model_fields["kind"].annotation)


# -- parser ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ascii-lora",
        description="Train a FLUX.1-dev LoRA that draws on an exact 16 px cell grid. "
        "Flow: dataset -> setup-train -> train -> check -> verify -> generate.",
    )
    parser.add_argument("--version", action="version", version=f"ascii-lora {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, handler: Handler, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument(
            "--config", type=Path, default=None, help="experiment TOML (default configs/flux_ascii.toml)"
        )
        p.set_defaults(handler=handler)
        return p

    for add_commands in (
        _dataset_commands,
        _train_commands,
        _check_commands,
        add_verify_commands,
        add_publish_commands,
    ):
        add_commands(add)
    return parser


Add = Callable[[str, Handler, str], argparse.ArgumentParser]


def _dataset_commands(add: Add) -> None:
    p = add("dataset", cmd_dataset, "draw the training set: PNG + caption .txt + ground truth .ascii")
    p.add_argument("--out", help="output directory (default [dataset] out)")
    p.add_argument("--count", type=_positive, help="number of images (default [dataset] count)")
    p.add_argument("--seed", type=_nonnegative, help="master seed (default [dataset] seed)")
    p.add_argument(
        "--workers", type=_positive, help="processes (default: number of cores; more are capped at it)"
    )
    p.add_argument(
        "--oversubscribe", action="store_true", help="allow --workers above the core count (at most 64)"
    )
    p.add_argument("--force", action="store_true", help="replace a dataset of another config in --out")

    p = add("validate", cmd_validate, "check every image of a dataset pixel by pixel against its .ascii")
    p.add_argument("dir", nargs="?", help="dataset directory (default [dataset] out)")

    p = add("preview", cmd_preview, "contact sheet of dataset images with their captions")
    p.add_argument("dir", nargs="?", help="dataset directory (default [dataset] out)")
    p.add_argument("--out", help="sheet PNG (default <dir>_preview.png beside the dataset)")
    # a 20 x 20 sheet of 256 px thumbnails is already ~30 MP
    p.add_argument(
        "--count", type=int_between(1, 400), default=16, help="images on the sheet (default 16, at most 400)"
    )
    p.add_argument("--columns", type=int_between(1, 20), default=4, help="columns (default 4, at most 20)")


def _train_commands(add: Add) -> None:
    _plan_command(add)
    _train_command(add)
    _stop_command(add)
    _setup_train_command(add)
    _inspect_command(add)
    _rehearse_command(add)


def _plan_command(add: Add) -> None:
    p = add(
        "plan",
        cmd_plan,
        "write the run's trainer files (Kohya: dataset_config.toml, prompts, argv; SimpleTuner: config.json, multidatabackend.json) and resolved config",
    )
    p.add_argument("--run-dir", help="where to write (default [training] output_dir)")
    p.add_argument("--trainer", choices=TRAINERS, help="override [trainer] kind")


def _train_command(add: Add) -> None:
    p = add("train", cmd_train, "plan, pre-flight check this machine, then run sd-scripts (CUDA only)")
    p.add_argument("--run-dir", help="run directory (default [training] output_dir)")
    p.add_argument(
        "--dry-run", action="store_true", help="write the plan and print the exact command; run nothing"
    )
    p.add_argument("--resume", action="store_true", help="continue from the newest saved state (or RESUME=1)")
    p.add_argument(
        "--machine-rank",
        type=int,
        default=None,
        metavar="N",
        help="this machine's rank with [cluster] "
        "num_machines > 1 (else MACHINE_RANK, else SLURM_NODEID); with --dry-run: print machine N's command",
    )
    p.add_argument(
        "--rehearsal", action="store_true", help=argparse.SUPPRESS
    )  # `ascii-lora rehearse` only: CPU, stand-ins
    p.add_argument("--trainer", choices=TRAINERS, help="override [trainer] kind")


def _stop_command(add: Add) -> None:
    p = add(
        "stop", cmd_stop, "ask a running training to stop right after its next saved state (nothing lost)"
    )
    p.add_argument("--run-dir", help="run directory (default [training] output_dir)")
    p.add_argument("--cancel", action="store_true", help="withdraw a pending stop request")
    p.add_argument("--trainer", choices=TRAINERS, help="override [trainer] kind")


def _setup_train_command(add: Add) -> None:
    p = add(
        "setup-train",
        cmd_setup_train,
        "CUDA box set-up: sd-scripts submodule, packages, model files, tokenizers",
    )
    p.add_argument("--skip-install", action="store_true", help="do not pip install (packages already there)")
    p.add_argument(
        "--trainer", choices=TRAINERS, help="override [trainer] kind (simpletuner: its own .venv-simpletuner)"
    )


def _inspect_command(add: Add) -> None:
    p = add("inspect", cmd_inspect, "describe a LoRA .safetensors from its header (no torch)")
    p.add_argument("file", help="LoRA .safetensors")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _rehearse_command(add: Add) -> None:
    p = add(
        "rehearse",
        cmd_rehearse,
        "run the real trainer on this plan on the CPU with tiny random stand-in models",
    )
    p.add_argument(
        "--out", type=Path, default=Path("runs/rehearsal"), help="rehearsal folder (default runs/rehearsal)"
    )
    p.add_argument(
        "--cache", type=Path, default=None, help="stand-in models (default .cache/rehearsal/<size>)"
    )
    p.add_argument(
        "--full-size", action="store_true", help="stand-ins of the real sizes at 1024 px (CUDA GPU)"
    )
    p.add_argument(
        "--train-venv",
        type=Path,
        default=Path(".venv-train"),
        help="train env to build/use (default .venv-train)",
    )
    precision = p.add_mutually_exclusive_group()
    precision.add_argument(
        "--fp32",
        action="store_true",
        help="train in float32 (default: float32 only where this CPU runs bf16 over 8x slower, measured at start)",
    )
    precision.add_argument(
        "--bf16", action="store_true", help="keep the plan's bf16 even where this CPU makes it crawl"
    )
    p.add_argument(
        "--phases",
        default="all",
        metavar="GROUP[,GROUP]",
        help="all (default), or groups run after the dataset and stand-ins: single (one process: train, "
        "interrupt, resume, stop, inspect, check, verify, generate), interop (diffusers and ComfyUI load "
        "the LoRA of a rehearsal already in --out, and publish --dry-run judges its card), compare "
        "(the peers' presets), multi (2 processes, 2 machines), watch (validation loss, ETA, webhooks)",
    )
    add_compare_args(p)


def _check_commands(add: Add) -> None:
    p = add(
        "check", cmd_check, "score samples against the 16 px grid, read them back as ASCII, rank checkpoints"
    )
    p.add_argument(
        "paths",
        nargs="*",
        help="images or folders (default: the configured run's sample folder, outputs in <run>/check)",
    )
    p.add_argument("--json", help="write every score as JSON here")
    p.add_argument("--overlay-dir", help="write <image>.overlay.png (grid + unmatched cells | snapped) here")
    p.add_argument("--ascii-dir", help="write the read-back <image>.ascii here")
    p.add_argument("--report-dir", help="report.md + scores.png (default: <sample folder>/../check)")
    p.add_argument(
        "--run-dir",
        help="check this run's sample folder, outputs in <run>/check (a run planned with --run-dir)",
    )
    p.add_argument(
        "--trainer", choices=TRAINERS, help="override [trainer] kind (where the configured run's samples are)"
    )

    p = add("snap", cmd_snap, "repair near-misses: threshold, move onto the grid, nearest tile per cell")
    p.add_argument("images", nargs="+", help="images or folders")
    p.add_argument("--out", required=True, help="output folder for <image>.png + <image>.ascii")


def _first_line(error: BaseException) -> str:
    """``Type: message`` on one printable line of at most 200 characters."""
    text = f"{type(error).__name__}: {error}".splitlines()[0] if str(error) else type(error).__name__
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= 200 else text[:199] + "…"


def _os_error_words(e: OSError) -> str:
    """An OS error no stage turned into a UserError, blamed on what failed: a path, stdout or nothing."""
    if e.filename:
        return f"{e.filename}: {describe(e)}"
    if stdout_failed(e):
        return f"standard output could not be written ({describe(e)}); nothing else failed"
    return describe(e)


def main(argv: list[str] | None = None) -> int:
    try:
        os.getcwd()
    except FileNotFoundError:  # every relative path would fail with "its folder does not exist"
        fail(
            "the current folder no longer exists (deleted or moved away while this shell was in it): "
            "cd into an existing folder and run the command again"
        )
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    restore = interrupts.install()
    try:
        return args.handler(args)
    except UserError as e:
        fail(str(e))
        return e.exit_code
    except KeyboardInterrupt as e:
        what = "terminated" if isinstance(e, interrupts.Terminated) else "interrupted"
        say(f"{what}; re-run the same command to continue where it stopped")
        return 143 if isinstance(e, interrupts.Terminated) else 130
    except OSError as e:  # last resort: a path we could not read or write, still one line
        fail(_os_error_words(e))
        return 2
    except Exception as e:  # noqa: BLE001 - our bug: one line here, the whole trace in a file
        fail(
            f"internal error, not a mistake in your input ({_first_line(e)}); the full trace is in "
            f"{write_trace(e)}: please report it with that file"
        )
        return 70  # EX_SOFTWARE
    finally:
        restore()


if __name__ == "__main__":
    sys.exit(main())
