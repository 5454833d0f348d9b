"""Writing a plan into its run directory: the files `make train` and the user read (Kohya's; SimpleTuner's
are in simpletuner/files.py, through the same ``write_files``)."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import tomli_w

from ..fsutil import atomic_write, ensure_dir, writable_file_target
from .kohya.plan import ARGS_JSON, DATASET_CONFIG, RESOLVED, SAMPLE_PROMPTS, TRAIN_SH, Plan


def write_files(run_dir: Path, files: dict[str, str], script: str) -> list[Path]:
    """Every target checked first (no plan is left half-written), then each written atomically."""
    ensure_dir(run_dir)
    for name in files:
        writable_file_target(run_dir / name)
    written = []
    for name, text in files.items():
        path = run_dir / name
        atomic_write(path, text)
        written.append(path)
    (run_dir / script).chmod(0o755)
    return written


def train_sh(plan: Plan, root: Path) -> str:
    bindir = Path(sys.executable).parent
    return (
        "#!/usr/bin/env bash\n"
        "# Written by `ascii-lora plan`: the exact trainer command (same argv as train.args.json).\n"
        "set -euo pipefail\n"
        f"cd {shlex.quote(str(Path(root).resolve()))}\n"
        f'export PATH={shlex.quote(str(bindir))}:"$PATH"\n'
        f"exec {plan.shell()}\n"
    )


def write_plan(plan: Plan, root: Path) -> list[Path]:
    files = {
        DATASET_CONFIG: tomli_w.dumps(plan.dataset_config),
        SAMPLE_PROMPTS: plan.sample_prompts,
        ARGS_JSON: json.dumps(plan.argv, indent=1) + "\n",
        TRAIN_SH: train_sh(plan, root),
        RESOLVED: plan.resolved_toml,
    }
    return write_files(plan.run_dir, files, TRAIN_SH)
