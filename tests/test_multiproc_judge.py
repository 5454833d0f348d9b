"""The judge of the rehearsal's multi-process phases fails each way a multi-process run can go wrong."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from ascii_lora.config.models import ExperimentConfig
from ascii_lora.rehearse.multiproc import STEPS, judge_outputs, per_process_lines, phase_config, rank_hashes

NAME = "lora"


def cfg(tmp_path: Path, machines: int = 1) -> ExperimentConfig:
    pre = ExperimentConfig.model_validate({"training": {"output_name": NAME}})
    return phase_config(pre, tmp_path / "run", machines)


def good_run(
    run: Path,
    images: int = 8,
    batches: int = 2,
    per_device: int = 2,
    steps: int = STEPS,
    prompts: int = 2,
    hashes: tuple[str, ...] = ("a", "a"),
) -> None:
    run.mkdir(parents=True, exist_ok=True)
    meta = {
        "ss_steps": str(steps),
        "ss_num_train_images": str(images),
        "ss_num_batches_per_epoch": str(batches),
        "ss_datasets": json.dumps([{"batch_size_per_device": per_device}]),
    }
    save_file({"w": np.zeros(2, np.float32)}, str(run / f"{NAME}.safetensors"), metadata=meta)
    for k in range(1, STEPS + 1):
        save_file({"w": np.zeros(2, np.float32)}, str(run / f"{NAME}-step{k:08d}.safetensors"))
        d = run / f"{NAME}-step{k:08d}-state"
        d.mkdir()
        (d / "train_state.json").write_text(json.dumps({"current_step": k}))
    (run / "sample").mkdir()
    for k in range(1, STEPS + 1):
        for i in range(prompts):
            (run / "sample" / f"{NAME}_{k:06d}_{i:02d}_20260101000000_1.png").write_bytes(b"png")
    h = run / "rank-hashes"
    h.mkdir()
    for r, digest in enumerate(hashes):
        (h / f"rank{r}.json").write_text(json.dumps({"rank": r, "world_size": len(hashes), "sha256": digest}))


def judge(tmp_path: Path, **kw) -> list[str]:
    c = cfg(tmp_path)
    run = tmp_path / "run"
    good_run(run, **kw)
    return judge_outputs(c, run, rank_hashes(run / "rank-hashes"), 2)


def test_phase_configs_are_two_processes_either_way(tmp_path):
    one, two = cfg(tmp_path, 1), cfg(tmp_path, 2)
    assert (one.hardware.num_gpus, one.cluster.num_machines) == (2, 1)
    assert (two.hardware.num_gpus, two.cluster.num_machines, two.cluster.main_process_ip) == (
        1,
        2,
        "127.0.0.1",
    )
    assert one.training.max_train_steps == STEPS and one.training.save_every_n_steps == 1
    assert one.sample.every_n_steps == 1  # the resumed segment (local steps from 0) samples too


def test_a_sound_two_process_run_passes(tmp_path):
    assert judge(tmp_path) == []


@pytest.mark.parametrize(
    "kw,why",
    [
        ({"steps": 4}, "counted twice"),
        ({"batches": 4}, "per-process batch"),  # one process's share: 4 batches of 2 for 8 images
        ({"prompts": 4}, "not one set"),  # each process drew every prompt
        ({"prompts": 0}, "not one set"),  # the resumed segment never reached a sample step
        ({"hashes": ("a", "b")}, "differ"),
        ({"hashes": ("a",)}, "expected ranks 0..1"),
    ],
)
def test_each_multi_process_mistake_is_named(tmp_path, kw, why):
    problems = judge(tmp_path, **kw)
    assert len(problems) == 1 and why in problems[0], problems


def test_a_step_file_saved_by_both_ranks_is_caught(tmp_path):
    c = cfg(tmp_path)
    run = tmp_path / "run"
    good_run(run)
    (run / f"{NAME}-step00000003-state").mkdir()
    (run / f"{NAME}-step00000003-state" / "train_state.json").write_text(json.dumps({"current_step": 3}))
    assert "expected each of 1..2 once" in judge_outputs(c, run, rank_hashes(run / "rank-hashes"), 2)[0]


def test_per_process_lines_count_the_trainers_own_log_line():
    line = "INFO     caching latents with caching strategy."
    assert per_process_lines(f"{line}\nx\n{line}\n") == 2 and per_process_lines("nothing") == 0


def test_the_watch_threads_shadow_nothing_of_threading_thread(tmp_path):
    """A Thread subclass attribute named like Thread's own (``_stop``) breaks every later fork."""
    import threading

    from ascii_lora.rehearse.multiproc import RssSampler
    from ascii_lora.train.cluster_stop import PeerWatch

    own = set(vars(threading.Thread()))
    for t in (RssSampler([1]), PeerWatch(tmp_path, "x", 0.0, tmp_path / "s", True, lambda s: None)):
        clash = (set(vars(t)) - own) & set(dir(threading.Thread))
        assert not clash, clash


def _wait_for(pred, what: str) -> None:
    import time

    for _ in range(100):
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(what)


def test_rss_sampler_counts_the_trainers_below_the_roots_in_their_own_sessions_once(tmp_path):
    """As accelerate runs it: launcher -> trainer in a new session -> a forked DataLoader worker.

    Oracle: the trainer holds a 200 MiB bytearray it wrote; the launcher names sd_launcher.py only as
    an argument; the fork shares the trainer's pages and must not be counted again."""
    import subprocess
    import sys

    from ascii_lora.rehearse.multiproc import RssSampler

    script = tmp_path / "sd_launcher.py"
    script.write_text(
        "import os, sys, time\n"
        "held = bytearray(200 << 20)\n"
        "for i in range(0, len(held), 4096): held[i] = 1\n"
        "if os.fork() == 0:\n    time.sleep(30); os._exit(0)\n"
        "open(sys.argv[1], 'w').close()\n"
        "time.sleep(30)\n"
    )
    ready = tmp_path / "ready"
    launcher = (
        "import subprocess, sys\n"
        f"subprocess.run([sys.executable, '-u', {str(script)!r}, {str(ready)!r}], start_new_session=True)\n"
    )
    p = subprocess.Popen([sys.executable, "-c", launcher, str(script)], start_new_session=True)
    try:
        _wait_for(ready.exists, "the stand-in trainer never started")
        s = RssSampler([p.pid])
        s.sample()
        unrelated = RssSampler([p.pid + 1_000_000])
        unrelated.sample()
    finally:
        import os
        import signal

        for pid in [int(x) for x in os.listdir("/proc") if x.isdigit()]:
            try:
                if str(script).encode() in open(f"/proc/{pid}/cmdline", "rb").read():
                    os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        p.kill()
        p.wait()
    mib = 1 << 20
    assert 200 * mib <= s.peak_each < 300 * mib, s.peak_each
    assert s.peak_total == s.peak_each, "one trainer: neither its fork nor the launcher counts"
    assert unrelated.peak_total == 0
