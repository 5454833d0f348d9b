"""Measure each VRAM profile, and drawing after training, with stand-ins of FLUX.1-dev's real sizes.

Why: README's profile table quoted sd-scripts' docs; with a CUDA GPU at hand, the real trainer
runs each profile's exact argv (fp8 base, block swap, batch, 8-bit optimizer) for a few steps on
random weights of the real shapes (19 double + 38 single blocks, 24-layer T5, 1024 px), which
costs what real weights cost. Peak memory is the trainer's own ``torch.cuda.max_memory_*``,
printed at exit by sd_launcher.py; seconds per step come from sd-scripts' progress bar, taken
between the second step and the last (model loading, caching and the first step left out).

Drawing (`verify`, `generate`) is measured the same way: the real ``ascii-lora verify`` command
(pre-flight, worker, checker, report) draws the trained stand-in LoRA and the base model at each
``[verify] precision``; the worker reports its load time, each picture's seconds and its peak CUDA
memory: where `verify.drawing`'s memory minimums come from.
"""

from __future__ import annotations

import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import tomli_w

from ..config.models import VRAM_PROFILES, ExperimentConfig
from ..fsutil import atomic_write
from ..train.kohya.plan import SD_SCRIPTS_DIR, build_plan
from ..train.plan_files import write_plan
from . import standins as st
from .overrides import OFFLINE, rehearsal_argv

PEAK = re.compile(r"peak CUDA memory: ([\d.]+) GiB allocated, ([\d.]+) GiB reserved")
STEP = re.compile(r"steps:\s*\d+%\|[^|]*\|\s*(\d+)/(\d+)\s*\[(?:(\d+):)?(\d+):(\d+)")


def step_times(text: str) -> dict[int, int]:
    """Elapsed seconds at each step, from sd-scripts' tqdm bar ('steps: 40%|...| 4/10 [00:12<...')."""
    out: dict[int, int] = {}
    for m in STEP.finditer(text):
        h, mnt, sec = int(m.group(3) or 0), int(m.group(4)), int(m.group(5))
        out.setdefault(int(m.group(1)), h * 3600 + mnt * 60 + sec)
    return out


def run_group(argv: list[str], cwd: Path, timeout_s: float) -> tuple[int | None, str]:
    """Run ``argv`` offline in its own process group; (exit code, output), code None when it ran past
    ``timeout_s`` and its whole group was killed: the child that holds the GPU (accelerate's trainer,
    verify's drawing worker) goes with it."""
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        env={**os.environ, **OFFLINE},
        start_new_session=True,
    )
    try:
        text, _ = proc.communicate(timeout=timeout_s)
        return proc.returncode, text
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        text, _ = proc.communicate()
        return None, text


def profile_config(
    profile: str, data: Path, models: st.StandIns, run_dir: Path, steps: int
) -> ExperimentConfig:
    """The default experiment on the stand-ins, at ``profile``: saves only the final LoRA, samples nothing."""
    return ExperimentConfig.model_validate(
        {
            "dataset": {"count": 4, "out": str(data)},
            "model": models.model_table(),
            "training": {
                "max_train_steps": steps,
                "save_every_n_steps": 100_000,
                "output_dir": str(run_dir),
                "max_data_loader_n_workers": 0,
            },
            "sample": {"every_n_steps": 100_000, "at_first": False},
            "hardware": {"vram_profile": profile},
        }
    )


def worker_events(text: str) -> list[dict]:
    """The drawing worker's progress events in (a slice of) ``draw.log``."""
    from ..verify.draw_worker import EVENT_PREFIX

    events = []
    for line in text.splitlines():
        if line.startswith(EVENT_PREFIX):
            try:
                events.append(json.loads(line[len(EVENT_PREFIX) :]))
            except ValueError:
                continue
    return events


def drawing_row(events: list[dict]) -> dict:
    """Load time, seconds per picture and peak memory of one worker call.

    The first picture pays for CUDA kernels' first launch and (fp8) the first offload round trip,
    so it is reported apart and left out of the steady mean.
    """
    row: dict = {}
    seconds = [float(e["seconds"]) for e in events if e.get("event") == "drawn"]
    for e in events:
        if e.get("event") == "loaded":
            row["load_s"] = e.get("seconds")
        elif e.get("event") == "done":
            row.update({k: v for k, v in e.items() if k.startswith("peak_")})
    row["pictures"] = len(seconds)
    if seconds:
        row["first_picture_s"] = round(seconds[0], 2)
    if len(seconds) > 1:
        row["seconds_per_picture"] = round(statistics.mean(seconds[1:]), 2)
    return row


def measure_drawing(
    root: Path,
    out: Path,
    cfg: ExperimentConfig,
    precisions: tuple[str, ...] = ("bf16", "fp8"),
    seeds: int = 1,
    timeout_s: float = 240.0,
    device: str = "cuda",
    log: Callable[[str], None] = lambda m: None,
) -> list[dict]:
    """``ascii-lora verify --checkpoints final`` on a finished stand-in run, once per precision.

    ``device="cpu"`` only tries the procedure on the rehearsal's tiny stand-ins."""
    import torch

    card = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    root, out = Path(root).resolve(), Path(out).resolve()
    draw_log = Path(cfg.training.output_dir) / "verify" / "draw.log"
    rows: list[dict] = []
    for precision in precisions:
        c = cfg.model_copy(
            update={"verify": cfg.verify.model_copy(update={"precision": precision, "seeds": seeds})}
        )
        config_file = out / f"verify-{precision}.toml"
        atomic_write(
            config_file,
            "# `rehearse --full-size`: drawing measured at one precision\n"
            + tomli_w.dumps(c.model_dump(mode="json", exclude_none=True)),
        )
        before = draw_log.stat().st_size if draw_log.exists() else 0
        argv = [
            sys.executable,
            "-m",
            "ascii_lora",
            "verify",
            "--config",
            str(config_file),
            "--checkpoints",
            "final",
            "--seeds",
            str(seeds),
            "--device",
            device,
        ]
        started = time.monotonic()
        code, text = run_group(argv, root, timeout_s)
        if code is None:
            code, text = 124, f"timed out after {timeout_s:.0f} s\n{text}"
        (out / f"verify-{precision}.log").write_text(text)
        with open(draw_log, "rb") if draw_log.exists() else open(os.devnull, "rb") as f:
            f.seek(before)
            events = worker_events(f.read().decode("utf-8", "replace"))
        row = {
            "precision": precision,
            "card": card,
            "exit_code": code,
            "seconds_total": round(time.monotonic() - started, 1),
            "size": f"{c.sample.width}x{c.sample.height}",
            "steps": c.verify.steps or c.sample.steps,
            **drawing_row(events),
        }
        if code:
            row["error"] = " | ".join(text.strip().splitlines()[-3:])[:400]
        rows.append(row)
        log(json.dumps(row))
        atomic_write(out / "drawing.json", json.dumps(rows, indent=1))
    return rows


# The default profile first: when the time budget runs out, the most used numbers are already in.
ORDER = ("24gb", "48gb+", "16gb", "12gb")


def measure(
    root: Path,
    out: Path,
    cache: Path,
    profiles: list[str] | None = None,
    steps: int = 6,
    budget_s: float = 300.0,
    hard_limit_s: float = 400.0,
    log: Callable[[str], None] = lambda m: None,
) -> list[dict]:
    """Run each profile for ``steps`` steps; start none after ``budget_s``, kill one past ``hard_limit_s``."""
    import torch

    t0 = time.monotonic()
    root, out = Path(root).resolve(), Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    profiles = profiles or [p for p in ORDER if p in VRAM_PROFILES]
    data = out / "data"
    from ..dataset.writer import write_dataset

    base = ExperimentConfig()
    write_dataset(base.dataset.model_copy(update={"count": 4}), data)
    texts = [p.read_text().strip() for p in data.glob("*.txt")] + list(base.sample.prompts)
    models = st.build(cache, root / SD_SCRIPTS_DIR, texts, st.Sizes.full(), log=log)
    log(f"full-size stand-ins ready after {time.monotonic() - t0:.0f} s")
    card = torch.cuda.get_device_name(0)
    results: list[dict] = []
    for prof in profiles:
        if time.monotonic() - t0 > budget_s:
            results.append({"profile": prof, "skipped": f"time budget of {budget_s:.0f} s spent"})
            continue
        cfg = profile_config(prof, data, models, out / prof, steps)
        plan = build_plan(cfg, root)
        write_plan(plan, root)
        argv = rehearsal_argv(plan.argv)
        argv[0] = (
            str(Path(sys.executable).parent / "accelerate")
            if (Path(sys.executable).parent / "accelerate").exists()
            else "accelerate"
        )
        started = time.monotonic()
        code, text = run_group(argv, root, max(30.0, hard_limit_s - (started - t0)))
        code = -9 if code is None else code
        (out / f"{prof}.log").write_text(text)
        times = step_times(text)
        peak = PEAK.search(text)
        row = {
            "profile": prof,
            "card": card,
            "exit_code": code,
            "seconds_total": round(time.monotonic() - started, 1),
            "batch": cfg.training.batch_size or cfg.hardware.profile.batch_size,
            "fp8_base": cfg.hardware.profile.fp8_base,
            "blocks_to_swap": cfg.hardware.swap,
            "optimizer": cfg.optimizer.kohya_type,
        }
        if peak:
            row.update(peak_allocated_gib=float(peak.group(1)), peak_reserved_gib=float(peak.group(2)))
        if 2 in times and steps in times and steps > 2:
            row["seconds_per_step"] = round((times[steps] - times[2]) / (steps - 2), 2)
        if code:
            row["error"] = " | ".join(text.strip().splitlines()[-3:])[:400]
        results.append(row)
        log(json.dumps(row))
        atomic_write(out / "profiles.json", json.dumps(results, indent=1))
    atomic_write(out / "profiles.json", json.dumps(results, indent=1))
    return results
