"""Writing a plan into its run directory: the files `make train` and the user read (Kohya's or SimpleTuner's)."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import tomli_w

from ..fsutil import atomic_write, ensure_dir, writable_file_target
from . import simpletuner_plan as st
from .plan import ARGS_JSON, DATASET_CONFIG, RESOLVED, SAMPLE_PROMPTS, TRAIN_SH, Plan



def _write_files(run_dir: Path, files: dict[str, str], script: str) -> list[Path]:
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


def plan_texts(plan: Plan, root: Path) -> dict[str, str]:
    """Every Kohya plan file by name; the cluster's files add to them (and replace train.sh for several machines)."""
    return {
        DATASET_CONFIG: tomli_w.dumps(plan.dataset_config),
        SAMPLE_PROMPTS: plan.sample_prompts,
        ARGS_JSON: json.dumps(plan.argv, indent=1) + "\n",
        TRAIN_SH: train_sh(plan, root),
        RESOLVED: plan.resolved_toml,
        **(plan.cluster_files or {}),
    }


def write_plan(plan: Plan, root: Path) -> list[Path]:
    if isinstance(plan, st.SimpleTunerPlan):
        return write_simpletuner_plan(plan)
    written = _write_files(plan.run_dir, plan_texts(plan, root), TRAIN_SH)
    for path in written:
        if path.suffix == ".sbatch":
            path.chmod(0o755)
    return written


# -- SimpleTuner ---------------------------------------------------------------------------------

def simpletuner_train_sh(plan: st.SimpleTunerPlan) -> str:
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in plan.env.items())
    return (
        "#!/usr/bin/env bash\n"
        "# Written by `ascii-lora plan --trainer simpletuner`: SimpleTuner reads config.json (CONFIG_PATH),\n"
        "# which names multidatabackend.json and user_prompt_library.json beside it.\n"
        "set -euo pipefail\n"
        f"cd {shlex.quote(str(plan.run_dir))}\n"
        f"{exports}"
        f"exec {shlex.join(plan.argv)}\n"
    )


def sync_dataset_view(view: st.DatasetView) -> int:
    """Point <run>/dataset at the dataset's images and captions (links, so nothing is copied and
    SimpleTuner's bucket files land in the run, not in the dataset). Returns the number of links."""
    view.target.mkdir(parents=True, exist_ok=True)
    wanted = {}
    if view.source.is_dir():
        wanted = {p.name: p.resolve() for p in view.source.iterdir() if p.suffix in view.suffixes and p.is_file()}
    for link in view.target.iterdir():
        if link.is_symlink() and (link.name not in wanted or link.resolve() != wanted[link.name]):
            link.unlink()
    for name, src in wanted.items():
        link = view.target / name
        if not link.is_symlink():
            tmp = view.target / f".{name}.link-tmp"
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(src)
            os.replace(tmp, link)
    return len(wanted)


def write_simpletuner_plan(plan: st.SimpleTunerPlan) -> list[Path]:
    files = {
        st.CONFIG_JSON: json.dumps(plan.config, indent=1) + "\n",
        st.BACKEND_JSON: json.dumps(plan.backends, indent=1) + "\n",
        st.TRAIN_SH: simpletuner_train_sh(plan),
        st.RESOLVED: plan.resolved_toml,
    }
    if plan.prompt_library:
        files[st.PROMPT_LIBRARY] = json.dumps(plan.prompt_library, indent=1, ensure_ascii=False) + "\n"
    written = _write_files(plan.run_dir, files, st.TRAIN_SH)
    sync_dataset_view(plan.view)
    written.append(plan.view.target)
    return written
