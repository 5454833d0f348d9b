"""Writing a plan into its run directory: the files `make train` and the user read (Kohya's or SimpleTuner's)."""

from __future__ import annotations

import json
import os
import secrets
import shlex
import sys
from pathlib import Path

import tomli_w

from ..errors import UserError
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


def write_plan(plan: Plan, root: Path) -> list[Path]:
    if isinstance(plan, st.SimpleTunerPlan):
        return write_simpletuner_plan(plan)
    files = {
        DATASET_CONFIG: tomli_w.dumps(plan.dataset_config),
        SAMPLE_PROMPTS: plan.sample_prompts,
        ARGS_JSON: json.dumps(plan.argv, indent=1) + "\n",
        TRAIN_SH: train_sh(plan, root),
        RESOLVED: plan.resolved_toml,
    }
    return _write_files(plan.run_dir, files, TRAIN_SH)


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
    SimpleTuner's bucket files land in the run, not in the dataset). Returns the number of links.

    Only links are ever replaced or removed (the plan makes nothing else there): a file of the user's
    in the folder is refused, never replaced, since SimpleTuner would train on it.
    """
    view.target.mkdir(parents=True, exist_ok=True)
    wanted = {}
    if view.source.is_dir():
        wanted = {p.name: p.resolve() for p in view.source.iterdir() if p.suffix in view.suffixes and p.is_file()}
    ours = {link.name for link in view.target.iterdir() if link.is_symlink()}
    foreign = sorted(link.name for link in view.target.iterdir() if link.name not in ours and link.suffix in view.suffixes)
    if foreign:
        raise UserError(f"{view.target}: holds {', '.join(foreign[:3])}{' ...' if len(foreign) > 3 else ''}, not links the plan "
                        "made; SimpleTuner would train on them and the plan never replaces them: move them away")
    for name in ours:
        link = view.target / name
        if name not in wanted or link.resolve() != wanted[name]:
            link.unlink()
    for name, src in wanted.items():
        link = view.target / name
        if not link.is_symlink():
            tmp = view.target / f".{name}.{secrets.token_hex(6)}.link-tmp"
            tmp.symlink_to(src)  # a symlink is created exclusively: a file of that name would make it fail
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
