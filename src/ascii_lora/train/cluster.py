"""Several processes (GPUs, machines) under accelerate: who launches what, and what is refused first.

accelerate launches and torch.distributed (DDP) averages the LoRA's gradients; SLURM, when there is
one, schedules. Nothing here starts a process: it decides the launch flags of one machine, the
machine's rank, and what the pinned sd-scripts cannot do with several processes, before any model
loads. ``--num_processes`` is the total over all machines, as accelerate defines it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ..config.cluster import ClusterConfig
from ..config.models import ExperimentConfig
from ..errors import UserError

# Where a machine's rank comes from, first found wins: the flag, then the environment a user or a
# scheduler sets. SLURM_NODEID is the node's index within the allocation (0 .. nodes-1).
RANK_SOURCES = ("MACHINE_RANK", "SLURM_NODEID")
HEAD_ENV = "MAIN_PROCESS_IP"  # train.sbatch sets it to the allocation's first node


def num_processes(cfg: ExperimentConfig) -> int:
    """accelerate's --num_processes: every GPU of every machine, one process each."""
    return cfg.hardware.num_gpus * cfg.cluster.num_machines


def _rank_value(text: str, source: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise UserError(
            f"{source}={text!r}: a machine rank is a whole number (0 on the head machine)"
        ) from None


def resolve_machine_rank(flag: int | None, env: Mapping[str, str], cluster: ClusterConfig) -> int:
    """This machine's rank: ``--machine-rank``, else MACHINE_RANK, else SLURM_NODEID; 0 on a lone machine.

    Never in the shared config: one file serves every machine, and a rank copied into it would
    make two machines both think they are the head.
    """
    rank, source = (flag, "--machine-rank") if flag is not None else (None, "")
    for name in RANK_SOURCES:
        if rank is None and env.get(name, "").strip():
            rank, source = _rank_value(env[name], name), name
    if rank is None:
        if cluster.multi_machine:
            raise UserError(
                f"[cluster] num_machines = {cluster.num_machines}: give this machine's rank with "
                "--machine-rank N, MACHINE_RANK=N or run it under SLURM (SLURM_NODEID)"
            )
        return 0
    if not 0 <= rank < cluster.num_machines:
        raise UserError(
            f"{source} {rank} is outside [0, {cluster.num_machines}): [cluster] num_machines = "
            f"{cluster.num_machines}, so the ranks are 0 to {cluster.num_machines - 1}"
        )
    return rank


def head_address(cluster: ClusterConfig, env: Mapping[str, str]) -> str | None:
    """The head's address: MAIN_PROCESS_IP (train.sbatch's, from SLURM's node list) over the config's."""
    override = env.get(HEAD_ENV, "").strip()
    if override:
        ClusterConfig(
            num_machines=cluster.num_machines, main_process_ip=override
        )  # the config's own address rules
        return override
    return cluster.main_process_ip


def launch_flags(cfg: ExperimentConfig, machine_rank: int, head: str | None) -> list[str]:
    """accelerate launch's options for one machine (before the training script).

    ``--same_network`` only with the static rendezvous: with it accelerate 1.6.0 passes the head as
    torchrun's master address and leaves the rendezvous endpoint empty (accelerate/utils/launch.py:
    206-211), which torchrun fills from the master address for "static" only (torch/distributed/
    run.py get_rdzv_endpoint); a c10d rendezvous needs the endpoint, so it goes without the flag.
    """
    c = cfg.cluster
    flags: list[str] = []
    total = num_processes(cfg)
    if total > 1:
        flags += ["--multi_gpu", "--num_processes", str(total)]
    if c.multi_machine:
        flags += [
            "--num_machines",
            str(c.num_machines),
            "--machine_rank",
            str(machine_rank),
            "--main_process_ip",
            str(head),
            "--main_process_port",
            str(c.main_process_port),
            "--rdzv_backend",
            c.rdzv_backend,
        ]
        if c.same_network and c.rdzv_backend == "static":
            flags.append("--same_network")
    return flags


def _flag_value(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args and args.index(flag) + 1 < len(args) else None


def _block_swap_refusal(trainer_args: list[str], total: int) -> str | None:
    """Block swap under DDP.

    flux_train_network.py:129-133 (at the pin 48d368fa) enables block swap on the model while it is
    still on the CPU, and :509-518 hands it to ``accelerator.prepare(flux, device_placement=[False])``
    with the swapped blocks left on the CPU and the rest moved to the GPU. With several processes
    accelerate wraps that module in DistributedDataParallel, which refuses a module whose
    parameters span two device types; with one process there is no wrapper and it works.
    """
    swap = _flag_value(trainer_args, "--blocks_to_swap")
    if swap is not None and int(swap) > 0:
        return (
            f"[hardware] blocks_to_swap = {swap} with {total} processes: sd-scripts (48d368fa) hands a model "
            "split between CPU and GPU to DistributedDataParallel, which refuses it; set blocks_to_swap = 0 "
            "with a vram_profile of 24gb or more, or train on one GPU"
        )
    return None


def _split_mode_refusal(trainer_args: list[str], total: int) -> str | None:
    """--split_mode is block swap in disguise.

    flux_train_network.py:81-93 (at the pin): a deprecated ``--split_mode`` sets ``blocks_to_swap = 18``,
    so it meets DistributedDataParallel exactly as block swap does (see ``_block_swap_refusal``).
    """
    if "--split_mode" in trainer_args:
        return (
            f"--split_mode with {total} processes: sd-scripts (48d368fa) turns it into blocks_to_swap = 18, "
            "which DistributedDataParallel refuses; drop it"
        )
    return None


def _batch_refusal(cfg: ExperimentConfig, total: int) -> str | None:
    """An epoch must give every process at least one optimizer step's worth of batches.

    accelerate shards each epoch's batches over the processes (train_network.py:799-802 and :1242-1245
    at the pin divide the epoch by num_processes and gradient_accumulation_steps). With fewer batches
    than processes x accumulation some process gets no batch of its own and the others wait for
    it in the gradient all-reduce: steps repeat or stall instead of training.
    """
    t = cfg.training
    batch = t.batch_size or cfg.hardware.profile.batch_size
    images = cfg.dataset.count * t.num_repeats
    batches = math.ceil(images / batch)
    need = total * t.gradient_accumulation_steps
    if batches < need:
        return (
            f"an epoch of {images} images at [training] batch_size {batch} makes {batches} batches, but {total} "
            f"processes x gradient_accumulation_steps {t.gradient_accumulation_steps} need at least {need} "
            f"(total batch {batch * need}); lower batch_size or gradient_accumulation_steps, or raise [dataset] "
            "count or [training] num_repeats"
        )
    return None


def multiprocess_refusals(cfg: ExperimentConfig, trainer_args: list[str]) -> list[str]:
    """One line for each thing the pinned sd-scripts cannot do with this many processes; [] with one.

    Read from the trainer's own argv (what sd-scripts will see), so a setting that reaches it by
    any route is caught, not only the config keys known today.
    """
    total = num_processes(cfg)
    if total <= 1:
        return []
    found = [
        _block_swap_refusal(trainer_args, total),
        _split_mode_refusal(trainer_args, total),
        _batch_refusal(cfg, total),
    ]
    return [f for f in found if f]


# Host RAM: every process loads its own copy of FLUX (and the text encoders) into CPU memory first
# (flux_train_network.py:100-111 loads to "cpu"; all local processes at once). Measured with the
# rehearsal's stand-ins (2.6 GiB of bf16 files): 2.2 GiB resident per trainer process in bf16, 5.5 GiB
# in float32 (docs/multi-gpu.md); so a process holds about its files' bytes plus the interpreter.
RSS_PER_MODEL_BYTE = 1.0  # bf16 measured (2.2 GiB - 1 GiB) / 2.6 GiB = 0.46: 1.0 leaves room for the fp8 cast
RSS_BASE_BYTES = 1 << 30  # python, torch, sd-scripts and the data loader, before any model


def host_ram_needed(model_bytes: int, processes_here: int) -> int:
    """Bytes of host RAM the processes of one machine hold together while loading the models."""
    return processes_here * (RSS_BASE_BYTES + int(model_bytes * RSS_PER_MODEL_BYTE))


def host_ram_warning(model_bytes: int, processes_here: int, mem_total: int | None) -> str | None:
    """A warning (never a refusal: swap or a lazy mmap may still carry it) when RAM looks too small."""
    need = host_ram_needed(model_bytes, processes_here)
    if mem_total is None or mem_total >= need:
        return None
    gib = 1 << 30
    return (
        f"host RAM {mem_total / gib:.0f} GiB is below the {need / gib:.0f} GiB that {processes_here} processes "
        f"load together here (each loads its own copy of the {model_bytes / gib:.1f} GiB of model files into "
        "CPU memory first); expect swapping or an out-of-memory kill while the models load"
    )
