"""The cluster's plan files: accelerate_config.yaml, the train.sh every machine runs, train.sbatch.

All three come from the same config models as the argv (cluster.py decides the flags), so
``plan``, ``train --dry-run`` and a hand-run ``accelerate launch --config_file`` cannot disagree.
Written only when the plan has several processes; a one-GPU plan keeps its files as before.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from ..config.models import ExperimentConfig
from .cluster import HEAD_ENV, num_processes

ACCELERATE_YAML = "accelerate_config.yaml"
TRAIN_SBATCH = "train.sbatch"
RESOLVED = "config.resolved.toml"  # plan.RESOLVED: the config every machine launches from


def _yaml_scalar(value: object) -> str:
    """A YAML scalar: JSON's quoting is valid YAML, and YAML reads 'no' as false, so strings are quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)


def accelerate_config(cfg: ExperimentConfig) -> dict[str, object]:
    """The keys ``accelerate config`` writes for this cluster, as seen from the head (machine_rank 0)."""
    c = cfg.cluster
    data: dict[str, object] = {
        "compute_environment": "LOCAL_MACHINE",
        "debug": False,
        "distributed_type": "MULTI_GPU" if num_processes(cfg) > 1 else "NO",
        "downcast_bf16": "no",
        "enable_cpu_affinity": False,
        "gpu_ids": "all",
        "machine_rank": 0,
        "main_training_function": "main",
        "mixed_precision": cfg.training.mixed_precision,
        "num_machines": c.num_machines,
        "num_processes": num_processes(cfg),
        "rdzv_backend": c.rdzv_backend,
        "same_network": c.same_network,
        "tpu_env": [],
        "tpu_use_cluster": False,
        "tpu_use_sudo": False,
        "use_cpu": False,
    }
    if c.multi_machine:
        data["main_process_ip"] = c.main_process_ip
        data["main_process_port"] = c.main_process_port
    return dict(sorted(data.items()))


def by_hand_command(cfg: ExperimentConfig) -> str:
    """The hand-run launch the yaml's header shows (N: the machine's rank).

    accelerate 1.6.0 fills from the file only the arguments left at None (commands/launch.py:1074-1079),
    and ``--rdzv_backend`` defaults to "static", ``--same_network`` to false: a c10d rendezvous has to be
    named on the command line. (Without --same_network, accelerate gives torchrun the head as the
    rendezvous endpoint, which the static rendezvous reads the same way.)
    """
    extra = " --rdzv_backend c10d" if cfg.cluster.multi_machine and cfg.cluster.rdzv_backend == "c10d" else ""
    return f"accelerate launch --config_file {ACCELERATE_YAML} --machine_rank N{extra} <script> <args>"


def accelerate_config_yaml(cfg: ExperimentConfig) -> str:
    lines = [
        "# Written by `ascii-lora plan`: the file `accelerate config` would write for this cluster.",
        f"# By hand: {by_hand_command(cfg)}",
        "# (machine_rank here is the head's; every other machine passes its own on the command line).",
    ]
    for key, value in accelerate_config(cfg).items():
        lines.append(f"{key}: []" if value == [] else f"{key}: {_yaml_scalar(value)}")
    return "\n".join(lines) + "\n"


def cluster_train_sh(cfg: ExperimentConfig, root: Path, run_dir: Path) -> str:
    """The one command every machine runs: ``train.sh [--machine-rank N]`` (else MACHINE_RANK or SLURM_NODEID).

    It goes through ``ascii-lora train`` rather than a bare ``accelerate launch`` so that every machine
    gets the pre-flight handshake, the stop request and RESUME=1 exactly like ``make train``.
    """
    bindir = Path(sys.executable).parent
    config = Path(run_dir) / RESOLVED
    return (
        "#!/usr/bin/env bash\n"
        f"# Written by `ascii-lora plan`: run it on each of the {cfg.cluster.num_machines} machines, the head first or\n"
        "# in any order; the rank comes from --machine-rank N, else MACHINE_RANK, else SLURM_NODEID.\n"
        "# RESUME=1 continues every machine from the run's newest state; `ascii-lora stop` stops them all.\n"
        "set -euo pipefail\n"
        f"cd {shlex.quote(str(Path(root).resolve()))}\n"
        f'export PATH={shlex.quote(str(bindir))}:"$PATH"\n'
        f'exec ascii-lora train --config {shlex.quote(str(config))} "$@"\n'
    )


def train_sbatch(cfg: ExperimentConfig, run_dir: Path) -> str:
    """SLURM: one task per node; srun starts train.sh on each, the head's address from the node list."""
    c, h = cfg.cluster, cfg.hardware
    train_sh = shlex.quote(str(Path(run_dir) / "train.sh"))
    return (
        "#!/usr/bin/env bash\n"
        f"# Written by `ascii-lora plan`: sbatch {shlex.quote(str(Path(run_dir) / TRAIN_SBATCH))}\n"
        f"#SBATCH --job-name={cfg.training.output_name[:64]}\n"
        f"#SBATCH --nodes={c.num_machines}\n"
        "#SBATCH --ntasks-per-node=1\n"
        f"#SBATCH --gpus-per-node={h.num_gpus}\n"
        f"#SBATCH --cpus-per-task={h.num_gpus * h.num_cpu_threads_per_process}\n"
        f"#SBATCH --output={Path(run_dir) / 'slurm-%j.out'}\n"
        "set -euo pipefail\n"
        "# the head (machine rank 0) is the allocation's first node; every node dials it on the config's port\n"
        f'export {HEAD_ENV}="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"\n'
        f"export MAIN_PROCESS_PORT={c.main_process_port}\n"
        "# one task per node; each reads its machine rank from SLURM_NODEID\n"
        f"srun --nodes={c.num_machines} --ntasks-per-node=1 --kill-on-bad-exit=1 bash {train_sh}\n"
    )


def cluster_plan_files(cfg: ExperimentConfig, root: Path, run_dir: Path) -> dict[str, str]:
    """The extra files of a plan with several processes ({} with one); train.sh too for several machines."""
    if num_processes(cfg) <= 1:
        return {}
    files = {ACCELERATE_YAML: accelerate_config_yaml(cfg), TRAIN_SBATCH: train_sbatch(cfg, run_dir)}
    if cfg.cluster.multi_machine:
        files["train.sh"] = cluster_train_sh(cfg, root, run_dir)
    return files
