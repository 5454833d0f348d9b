"""Writing SimpleTuner's plan into its run directory: its JSON files, train.sh and the dataset view."""

from __future__ import annotations

import json
import os
import secrets
import shlex
from pathlib import Path

from ...errors import UserError
from ..plan_files import write_files
from . import plan as st


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
        wanted = {
            p.name: p.resolve() for p in view.source.iterdir() if p.suffix in view.suffixes and p.is_file()
        }
    ours = {link.name for link in view.target.iterdir() if link.is_symlink()}
    foreign = sorted(
        p.name for p in view.target.iterdir() if p.name not in ours and p.suffix in view.suffixes
    )
    if foreign:
        shown = ", ".join(foreign[:3]) + (" ..." if len(foreign) > 3 else "")
        raise UserError(
            f"{view.target}: holds {shown}, not links the plan made; SimpleTuner would train on "
            "them and the plan never replaces them: move them away"
        )
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
    written = write_files(plan.run_dir, files, st.TRAIN_SH)
    sync_dataset_view(plan.view)
    written.append(plan.view.target)
    return written
