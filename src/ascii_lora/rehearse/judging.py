"""How a phase fails (``_expect``), and the judges that read a run directory by name, independently of its writer."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..config.models import ExperimentConfig
from ..train.runs import state_step
from .overrides import INTERRUPT_AFTER_STEP, STOP_AFTER_STEP, expected_outputs


class _Fail(Exception):
    pass


def _expect(cond: object, why: str) -> None:
    if not cond:
        raise _Fail(why)


def _step_of(name: str, output_name: str) -> int | None:
    m = re.match(rf"^{re.escape(output_name)}-step(\d{{8}})", name)
    return int(m.group(1)) if m else None


def _sample_steps(sample_dir: Path, output_name: str) -> dict[int, int]:
    """Images per step tag in a sample folder, counted by name (e000000 = the step-0 baseline)."""
    counts: dict[int, int] = {}
    for p in sample_dir.glob("*.png"):
        m = re.match(rf"^{re.escape(output_name)}_(e?)(\d{{6}})_\d{{2}}_\d{{14}}", p.name)
        if m:
            step = int(m.group(2))
            counts[step] = counts.get(step, 0) + 1
    return counts


def _judge_resumed_run(cfg: ExperimentConfig, run_dir: Path) -> str:
    """The run directory after interrupt, stop and resumes must read exactly like an uninterrupted run's."""
    from ..train.safetensors_header import read_header

    name = cfg.training.output_name
    want = expected_outputs(cfg)
    total = cfg.training.max_train_steps
    steps = sorted(
        s for s in (_step_of(p.name, name) for p in run_dir.glob(f"{name}-step*.safetensors")) if s
    )
    _expect(
        steps == want["step_files"], f"step LoRAs {steps}, an uninterrupted run saves {want['step_files']}"
    )
    states = sorted(s for s in (_step_of(p.name, name) for p in run_dir.glob(f"{name}-step*-state")) if s)
    _expect(states == want["step_files"], f"step states {states}, expected {want['step_files']}")
    for d in [*run_dir.glob(f"{name}-step*-state"), run_dir / f"{name}-state"]:
        _expect(
            state_step(d) == (_step_of(d.name, name) or total),
            f"{d.name}: train_state.json says {state_step(d)}",
        )
    final = read_header(run_dir / f"{name}.safetensors").metadata
    _expect(
        final.get("ss_steps") == str(total),
        f"final LoRA ss_steps = {final.get('ss_steps')}, expected {total}",
    )
    leftovers = [p.name for p in run_dir.glob("resume-from-step*")]
    _expect(not leftovers, f"segment folders left: {leftovers}")
    samples = _sample_steps(run_dir / "sample", name)
    prompts = len(cfg.sample.prompts)
    _expect(
        samples == {k: prompts for k in want["sample_steps"]},
        f"samples per step {samples}, expected {prompts} at each of {want['sample_steps']} (once each: nothing redrawn)",
    )
    segs = json.loads((run_dir / "run.json").read_text())["segments"]
    offsets = [s["offset"] for s in segs]
    _expect(offsets == [0, INTERRUPT_AFTER_STEP, STOP_AFTER_STEP], f"run.json segment offsets {offsets}")
    trained = sum((s.get("last_saved_step") or s["offset"]) - s["offset"] for s in segs)
    _expect(trained == total, f"segments account for {trained} optimizer steps, max_train_steps is {total}")
    return (
        f"segments {offsets} -> step files {steps} as an uninterrupted run, final ss_steps {total}, "
        f"{sum(samples.values())} samples each drawn once"
    )
