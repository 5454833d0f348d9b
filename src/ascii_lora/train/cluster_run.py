"""One machine's part of a cluster launch: who it is, what it must agree on, how it stops.

The CLI calls these in order (cli/train.py): ``this_machine`` (rank and head address),
``machine_facts`` (what every machine compares in the pre-flight), ``peer_watch`` (the launcher's
eye on the shared run directory). Decisions only; the CLI prints.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..config.models import ExperimentConfig
from .cluster import head_address, resolve_machine_rank
from .cluster_files import cluster_plan_files
from .cluster_preflight import Facts, manifest_digest, plan_digest
from .cluster_stop import PeerWatch
from .plan import Plan
from .plan_files import plan_texts

MACHINE_DIR = ".cluster"  # a non-head machine's launch record lives here, the head's in run.json


@dataclass(frozen=True)
class Machine:
    rank: int
    head_ip: str | None
    multi: bool

    @property
    def is_head(self) -> bool:
        return self.rank == 0

    def log(self, run_dir: Path) -> Path:
        return Path(run_dir) / ("train.log" if self.is_head else f"train.machine{self.rank}.log")

    def record(self, run_dir: Path) -> Path | None:
        return None if self.is_head else Path(run_dir) / MACHINE_DIR / f"machine{self.rank}.json"


def this_machine(cfg: ExperimentConfig, flag: int | None, env: Mapping[str, str] = os.environ) -> Machine:
    rank = resolve_machine_rank(flag, env, cfg.cluster)
    return Machine(rank, head_address(cfg.cluster, env), cfg.cluster.multi_machine)


def image_dir(plan: Plan) -> Path:
    return Path(plan.dataset_config["datasets"][0]["subsets"][0]["image_dir"])


def shared_files(cfg: ExperimentConfig, root: Path, plan: Plan) -> dict[str, str]:
    """The cluster's plan files beside the usual ones ({} on one GPU)."""
    return cluster_plan_files(cfg, root, plan.run_dir)


def machine_facts(cfg: ExperimentConfig, root: Path, head_plan: Plan, sd_scripts: str | None) -> Facts:
    """What this machine would run, as the head's plan files: their hash, the trainer, the data."""
    texts = plan_texts(head_plan, root, shared_files(cfg, root, head_plan))
    return Facts(plan_digest(texts), sd_scripts, manifest_digest(image_dir(head_plan)), socket.gethostname())


def peer_watch(cfg: ExperimentConfig, plan: Plan, machine: Machine, stop_request: Path) -> Callable | None:
    """The launcher's ``peers`` factory for several machines (None on one)."""
    if not machine.multi:
        return None
    since = time.time() - 1
    run_dir = Path(plan.argv[plan.argv.index("--output_dir") + 1]) if "--output_dir" in plan.argv else plan.run_dir

    def make(send):
        return PeerWatch(plan.run_dir, cfg.training.output_name, since, stop_request, machine.is_head, send,
                         states_in=run_dir)

    return make
