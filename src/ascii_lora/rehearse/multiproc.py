"""The rehearsal's two multi-process phases: the real sd-scripts with 2 processes on the CPU (gloo).

"2 processes": one machine, [hardware] num_gpus = 2, through ``ascii-lora train`` as ``make train``
runs it. "2 machines": [cluster] num_machines = 2 of one process each on 127.0.0.1: the plan's one
``train.sh`` launched twice, with machine ranks 0 and 1, as two nodes would run it.

Each phase trains 2 steps (a state after each), is interrupted after the first state (a Ctrl-C on
one machine must stop both), resumes with RESUME=1 (on every machine) and is judged from what the
trainer itself left: its log (one "caching latents" line per process), the final LoRA's own
metadata (images, batches per epoch per process, batch per device, steps), the run directory (one
set of step files, states and samples) and a hash of each rank's LoRA weights taken inside each
process when training ends (sd_launcher.py): equal hashes mean DDP averaged the gradients.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from pathlib import Path

import tomli_w

from ..config.models import ExperimentConfig
from ..fsutil import atomic_write
from ..train.runs import state_step
from .sd_launcher import RANK_HASH_DIR

STEPS = 2  # a state after each: interrupt after the first, resume to the second
PER_PROCESS_LINE = (
    "caching latents with caching"  # train_util.py:1120, by every process (rich may wrap the rest)
)


def phase_config(pre: ExperimentConfig, out: Path, machines: int) -> ExperimentConfig:
    """The rehearsal's config for 2 processes: on one machine, or on 2 machines of one each."""
    data = pre.model_dump(mode="json", exclude_none=True)
    data["training"].update(max_train_steps=STEPS, save_every_n_steps=1, output_dir=str(out))
    # every step: a resumed segment counts its steps from 0 again, so with every_n_steps = 2 and the
    # resume at step 1 sd-scripts would never reach a sample step (seen in a 2-machine rehearsal)
    data["sample"].update(every_n_steps=1, at_first=False, prompts=data["sample"]["prompts"][:2])
    if machines > 1:
        data["hardware"]["num_gpus"] = 1
        data["cluster"] = {
            "num_machines": machines,
            "main_process_ip": "127.0.0.1",
            "main_process_port": _free_port(),
        }
    else:
        data["hardware"]["num_gpus"] = 2
    return ExperimentConfig.model_validate(data)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(cfg: ExperimentConfig, path: Path) -> Path:
    atomic_write(
        path,
        "# A rehearsal phase's experiment (multi-process).\n"
        + tomli_w.dumps(cfg.model_dump(mode="json", exclude_none=True)),
    )
    return path


def _process_table() -> dict[int, tuple[int, list[bytes]]]:
    """Every process now: pid -> (parent pid, argv)."""
    table = {}
    for name in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
            argv = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")
            table[int(name)] = (int(stat.rsplit(")", 1)[1].split()[1]), argv)
        except (OSError, ValueError, IndexError):
            continue
    return table


def _runs_launcher(argv: list[bytes]) -> bool:
    """``python [-u ...] .../sd_launcher.py ...``: the trainer itself, not a launcher naming it as an argument."""
    script = next((a for a in argv[1:] if a and not a.startswith(b"-")), b"")
    return script.endswith(b"sd_launcher.py")


def trainer_pids(roots: set[int], table: dict[int, tuple[int, list[bytes]]]) -> list[int]:
    """The trainer processes below ``roots``: descendants running sd_launcher.py whose parent does not
    (a DataLoader worker is a fork of its trainer: its pages are the trainer's, not more memory)."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    below, todo = set(), list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in below:
                below.add(child)
                todo.append(child)
    trainers = {pid for pid in below | roots if pid in table and _runs_launcher(table[pid][1])}
    return sorted(pid for pid in trainers if table[pid][0] not in trainers)


class RssSampler(threading.Thread):
    """Peak resident memory of the trainer processes (sd_launcher.py) started below some processes, summed.

    By process tree, not session: accelerate's launcher puts each trainer in a session of its own."""

    def __init__(self, roots: list[int], every: float = 1.0):
        super().__init__(daemon=True)
        self.roots, self.every = set(roots), every
        self.peak_total = 0
        self.peak_each = 0
        self._halt = threading.Event()

    def sample(self) -> None:
        total, each = 0, 0
        for pid in trainer_pids(self.roots, _process_table()):
            try:
                rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            except (OSError, ValueError, IndexError):
                continue
            total += rss
            each = max(each, rss)
        self.peak_total, self.peak_each = max(self.peak_total, total), max(self.peak_each, each)

    def run(self) -> None:
        while not self._halt.wait(self.every):
            self.sample()

    def stop(self) -> None:
        self._halt.set()


def rank_hashes(folder: Path) -> dict[int, dict]:
    out = {}
    for p in sorted(folder.glob("rank*.json")):
        data = json.loads(p.read_text())
        out[int(data["rank"])] = data
    return out


def per_process_lines(text: str) -> int:
    return text.count(PER_PROCESS_LINE)


def judge_outputs(cfg: ExperimentConfig, run_dir: Path, hashes: dict[int, dict], processes: int) -> list[str]:
    """What both phases must show; one problem per line ([] = all held)."""
    from ..train.safetensors_header import read_header

    name, problems = cfg.training.output_name, []
    steps = sorted(
        int(m.group(1))
        for p in run_dir.glob(f"{name}-step*.safetensors")
        if (m := re.search(r"-step(\d{8})\.safetensors$", p.name))
    )
    states = sorted(state_step(d) or -1 for d in run_dir.glob(f"{name}-step*-state"))
    if steps != list(range(1, STEPS + 1)) or states != list(range(1, STEPS + 1)):
        problems.append(f"step files {steps}, states {states}: expected each of 1..{STEPS} once")
    final = run_dir / f"{name}.safetensors"
    if not final.exists():
        return problems + ["no final LoRA"]
    meta = read_header(final).metadata
    images, batches = int(meta.get("ss_num_train_images", 0)), int(meta.get("ss_num_batches_per_epoch", 0))
    per_device = json.loads(meta.get("ss_datasets", "[{}]"))[0].get("batch_size_per_device")
    if meta.get("ss_steps") != str(STEPS):
        problems.append(
            f"final LoRA ss_steps = {meta.get('ss_steps')}, {STEPS} trained: a step counted twice or lost"
        )
    if not batches or per_device is None or images != batches * per_device * processes:
        problems.append(
            f"{images} images in {batches} batches per process of {per_device}: not {processes} x the "
            "per-process batch per step"
        )
    per_step: dict[int, int] = {}
    for p in (run_dir / "sample").glob("*.png"):
        if m := re.match(rf"^{re.escape(name)}_(\d{{6}})_", p.name):
            per_step[int(m.group(1))] = per_step.get(int(m.group(1)), 0) + 1
    want = {k: len(cfg.sample.prompts) for k in range(1, STEPS + 1)}
    if per_step != want:
        problems.append(f"samples per step {per_step}, {want} expected: not one set")
    if sorted(hashes) != list(range(processes)) or any(h["world_size"] != processes for h in hashes.values()):
        problems.append(
            f"LoRA hashes from ranks {sorted(hashes)} (world sizes "
            f"{sorted({h['world_size'] for h in hashes.values()})}): expected ranks 0..{processes - 1}"
        )
    elif len({h["sha256"] for h in hashes.values()}) != 1:
        problems.append("the ranks' LoRA weights differ: gradients were not averaged")
    return problems


def summary(
    meta_dir: Path, cfg: ExperimentConfig, run_dir: Path, hashes: dict[int, dict], processes: int
) -> str:
    from ..train.safetensors_header import read_header

    meta = read_header(run_dir / f"{cfg.training.output_name}.safetensors").metadata
    per_device = json.loads(meta["ss_datasets"])[0]["batch_size_per_device"]
    return (
        f"{processes} ranks trained; total batch {per_device * processes} = {processes} x {per_device} per process "
        f"({meta['ss_num_train_images']} images, {meta['ss_num_batches_per_epoch']} batches per process per epoch); "
        f"ss_steps {meta['ss_steps']}; step files, states and {len(cfg.sample.prompts)} samples at 1..{STEPS} once; "
        f"LoRA sha256 {next(iter(hashes.values()))['sha256'][:12]} on every rank"
    )


def rank_env(hash_dir: Path) -> dict[str, str]:
    return {RANK_HASH_DIR: str(hash_dir), "COLUMNS": "200"}


def wait_for_state(run_dir: Path, name: str, step: int, procs: list, timeout: float) -> float:
    """Seconds until state ``step`` is complete; raises RuntimeError when a launch ended or time ran out."""
    first = run_dir / f"{name}-step{step:08d}-state"
    t0 = time.monotonic()
    while not (first / "random_states_0.pkl").exists():
        for p in procs:
            if p.proc.poll() is not None:
                raise RuntimeError(
                    f"a launch exited ({p.proc.returncode}) before the state at step {step}: {p.tail()}"
                )
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"no state at step {step} after {timeout:.0f} s")
        time.sleep(1)
    return time.monotonic() - t0


def _stop_all(procs: list) -> None:
    for p in procs:
        if p.proc.poll() is None:
            p.kill()


def two_processes(
    pre: ExperimentConfig, root: Path, out: Path, trainer, on_line, timeout: float
) -> tuple[str, dict]:
    """One machine, 2 processes: train, Ctrl-C after the first state, RESUME=1 to the end, judge."""
    import shutil

    run_dir = out / "run-2-processes"
    shutil.rmtree(run_dir, ignore_errors=True)
    cfg = phase_config(pre, run_dir, machines=1)
    config = write_config(cfg, out / "rehearsal-2-processes.toml")
    hashes_dir = run_dir / "rank-hashes"
    env = rank_env(hashes_dir)
    first = trainer(root, config, out / "train-2p-1-interrupted.log", [], on_line, env=env)
    rss = RssSampler([first.proc.pid])
    rss.start()
    try:
        reached = wait_for_state(run_dir, cfg.training.output_name, 1, [first], timeout)
        time.sleep(3)
        first.ctrl_c()
        stopped = first.wait(300)
    finally:
        rss.stop()
        _stop_all([first])
    text = "\n".join(first.lines)
    if stopped in (0, None) or (run_dir / f"{cfg.training.output_name}.safetensors").exists():
        raise RuntimeError(f"one Ctrl-C: exit {stopped}, an interrupted run must not look finished")
    if per_process_lines(text) != 2:
        raise RuntimeError(f"{per_process_lines(text)} processes logged '{PER_PROCESS_LINE}', 2 expected")
    again = trainer(root, config, out / "train-2p-2-resumed.log", ["--resume"], on_line, env=env)
    try:
        code = again.wait(timeout)
    finally:
        _stop_all([again])
    if code != 0:
        raise RuntimeError(f"RESUME=1 exited {code}: {again.tail()}")
    hashes = rank_hashes(hashes_dir)
    problems = judge_outputs(cfg, run_dir, hashes, 2)
    if problems:
        raise RuntimeError("; ".join(problems))
    facts = {
        "peak_rss_total_bytes": rss.peak_total,
        "peak_rss_per_process_bytes": rss.peak_each,
        "first_state_seconds": round(reached),
        "rank_hashes": {r: h["sha256"] for r, h in hashes.items()},
    }
    return (
        f"2 processes: {summary(out, cfg, run_dir, hashes, 2)}; Ctrl-C after state 1 stopped both (exit {stopped}), RESUME=1 "
        f"finished; peak RSS {rss.peak_total / 2**30:.1f} GiB for both trainers "
        f"({rss.peak_each / 2**30:.1f} GiB the larger)"
    ), facts


def two_machines(
    pre: ExperimentConfig, root: Path, out: Path, trainer, on_line, timeout: float
) -> tuple[str, dict]:
    """2 machines of one process on 127.0.0.1: the same train.sh twice (ranks 0 and 1); Ctrl-C on machine 1
    must stop both; RESUME=1 on both finishes; judged like two_processes."""
    import shutil
    import subprocess
    import sys

    run_dir = out / "run-2-machines"
    shutil.rmtree(run_dir, ignore_errors=True)
    cfg = phase_config(pre, run_dir, machines=2)
    config = write_config(cfg, out / "rehearsal-2-machines.toml")
    r = subprocess.run(
        [sys.executable, "-m", "ascii_lora", "plan", "--config", str(config)],
        cwd=root,
        capture_output=True,
        text=True,
    )
    if r.returncode:
        raise RuntimeError(f"ascii-lora plan exited {r.returncode}: {r.stdout[-300:]}{r.stderr[-300:]}")
    sh = run_dir / "train.sh"
    env = rank_env(run_dir / "rank-hashes")

    def machine(rank: int, log: str, extra_env: dict | None = None):
        cmd = ["bash", str(sh), "--machine-rank", str(rank), "--rehearsal"]
        return trainer(root, config, out / log, [], on_line, cmd=cmd, env={**env, **(extra_env or {})})

    procs = [machine(0, "train-2m-rank0-1.log"), machine(1, "train-2m-rank1-1.log")]
    rss = RssSampler([p.proc.pid for p in procs])
    rss.start()
    try:
        wait_for_state(run_dir, cfg.training.output_name, 1, procs, timeout)
        time.sleep(3)
        procs[1].ctrl_c()  # machine 1's terminal; machine 0 must stop through the shared run directory
        stopped = [p.wait(300) for p in procs]
    finally:
        rss.stop()
        _stop_all(procs)
    if any(c in (0, None) for c in stopped):
        raise RuntimeError(f"Ctrl-C on machine 1: exits {stopped}; both must stop, neither as finished")
    head_text = "\n".join(procs[0].lines)
    if "was interrupted: stopped this one too" not in head_text:
        raise RuntimeError(f"the head did not report machine 1's interrupt: {procs[0].tail()}")
    for line in ("reachable head", "shared run directory", "same plan", "same sd-scripts", "same dataset"):
        if not re.search(rf"ok\W+{line}", "\n".join(procs[1].lines)):
            raise RuntimeError(f"machine 1's pre-flight shows no passing '{line}' line")
    again = [
        machine(0, "train-2m-rank0-2.log", {"RESUME": "1"}),
        machine(1, "train-2m-rank1-2.log", {"RESUME": "1"}),
    ]
    try:
        codes = [p.wait(timeout) for p in again]
    finally:
        _stop_all(again)
    if codes != [0, 0]:
        raise RuntimeError(
            f"RESUME=1 on both machines exited {codes}: {again[0].tail()} || {again[1].tail()}"
        )
    hashes = rank_hashes(run_dir / "rank-hashes")
    problems = judge_outputs(cfg, run_dir, hashes, 2)
    if problems:
        raise RuntimeError("; ".join(problems))
    facts = {
        "peak_rss_total_bytes": rss.peak_total,
        "rank_hashes": {r: h["sha256"] for r, h in hashes.items()},
    }
    return (
        f"2 machines: {summary(out, cfg, run_dir, hashes, 2)}; Ctrl-C on machine 1 stopped both (exits {stopped}), "
        f"RESUME=1 on both finished; peak RSS {rss.peak_total / 2**30:.1f} GiB for both trainers"
    ), facts
