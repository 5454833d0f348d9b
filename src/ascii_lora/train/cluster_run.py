"""One machine's part of a cluster launch: who it is, what it must agree on, how it stops.

The CLI asks ``this_machine`` (rank and head address); the Kohya trainer (kohya/trainer.py) asks
``handshake`` (the cluster lines of the pre-flight, with ``machine_facts``: what every machine
compares) and ``peer_watch`` (the launcher's eye on the shared run directory). Decisions only.
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
from .cluster_preflight import Check, Facts, machine_handshake, manifest_digest, plan_digest
from .cluster_stop import PeerWatch, clear_interrupt
from .kohya.plan import Plan
from .launcher import STOP_REQUEST
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


def machine_facts(cfg: ExperimentConfig, root: Path, head_plan: Plan, sd_scripts: str | None) -> Facts:
    """What this machine would run, as the head's plan files: their hash, the trainer, the data."""
    texts = plan_texts(head_plan, root)
    return Facts(plan_digest(texts), sd_scripts, manifest_digest(image_dir(head_plan)), socket.gethostname())


def handshake(
    cfg: ExperimentConfig,
    plans: dict,
    root: Path,
    machine: Machine,
    replan: Callable[[Machine | None], Plan],
    sd_scripts: str | None,
) -> list[Check]:
    """The cluster lines of this machine's pre-flight ([] on one machine). The head clears an old stop
    or interrupt request first; another machine plans again once the head has written its plan (the
    shared run directory then holds the head's RESUME=1 segment), so both plan the same launch."""
    if not machine.multi:
        return []
    head_plan = plans["head"]
    if machine.is_head:
        clear_interrupt(head_plan.run_dir)
        (head_plan.run_dir / STOP_REQUEST).unlink(missing_ok=True)

    def facts() -> Facts:
        if not machine.is_head:
            plans["head"], plans["mine"] = replan(None), replan(machine)
        plans["facts"] = machine_facts(cfg, root, plans["head"], sd_scripts)
        return plans["facts"]

    return machine_handshake(
        cfg, machine.rank, machine.head_ip, head_plan.run_dir, image_dir(head_plan), facts
    )


def peer_watch(cfg: ExperimentConfig, plan: Plan, machine: Machine, stop_request: Path) -> Callable | None:
    """The launcher's ``peers`` factory for several machines (None on one)."""
    if not machine.multi:
        return None
    since = time.time() - 1
    run_dir = (
        Path(plan.argv[plan.argv.index("--output_dir") + 1]) if "--output_dir" in plan.argv else plan.run_dir
    )

    def make(send):
        return PeerWatch(
            plan.run_dir,
            cfg.training.output_name,
            since,
            stop_request,
            machine.is_head,
            send,
            states_in=run_dir,
        )

    return make


MODEL_FLAGS = ("--pretrained_model_name_or_path", "--clip_l", "--t5xxl", "--ae")


def mem_total(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """This machine's RAM in bytes (None where /proc/meminfo is not there to ask)."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def host_ram_note(cfg: ExperimentConfig, plan: Plan, total: int | None = None) -> str | None:
    """The host-RAM warning for this machine's processes, from the model files the plan loads."""
    from .cluster import host_ram_warning

    size = 0
    for flag in MODEL_FLAGS:
        if flag in plan.argv:
            try:
                size += Path(plan.argv[plan.argv.index(flag) + 1]).stat().st_size
            except OSError:
                continue
    return host_ram_warning(size, cfg.hardware.num_gpus, total if total is not None else mem_total())
