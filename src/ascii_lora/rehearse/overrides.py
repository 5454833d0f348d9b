"""What a CPU rehearsal changes in the user's experiment, and what an uninterrupted run of it leaves.

Why a module of its own: the phases (phases_*.py) judge against these numbers, and ``rehearse/run.py``
(which imports the phases) re-exports them, so they must live below both.
"""

from __future__ import annotations

from pathlib import Path

from ..config.models import ExperimentConfig
from ..train.kohya.plan import TRAIN_SCRIPT
from . import standins as st
from .precision import chosen_fp32

# What a CPU needs, and nothing else: a handful of images at 384 px, 8 steps, save and sample every
# 2, 2 sampling steps at 256 px, the step-0 baseline on (so its naming is exercised), one process,
# no block swap (the stand-in has 2 blocks).
REHEARSAL = {
    "dataset": {"count": 8, "resolution": 384},
    "training": {"max_train_steps": 8, "resolution": 384, "save_every_n_steps": 2, "resume": False},
    "sample": {"every_n_steps": 2, "steps": 2, "width": 256, "height": 256, "at_first": True},
    "hardware": {"num_gpus": 1, "blocks_to_swap": 0},
    "trainer": {
        "kind": "kohya"
    },  # the rehearsal runs sd-scripts; SimpleTuner has its own CPU proof (section 5)
    "verify": {"precision": "bf16"},  # a CPU has no fp8 matmul
    "validation": {"enabled": False},  # the "watch" phase validates a run of its own (rehearse/watching.py)
}
INTERRUPT_AFTER_STEP = 2  # the first saved state: Ctrl-C right after it
STOP_AFTER_STEP = 4  # the resumed segment's first state: `ascii-lora stop` waits for it
LAUNCHER = Path(__file__).with_name("sd_launcher.py")
# No Hub access (a stand-in that sd-scripts would try to fetch fails loudly), no .pyc under vendor/,
# no tokenizers thread pool to warn about when the trainer is forked after the stand-ins were built.
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def rehearsal_config(cfg: ExperimentConfig, out: Path, models: st.StandIns) -> ExperimentConfig:
    data = cfg.model_dump(mode="json", exclude_none=True)
    for table, values in REHEARSAL.items():
        data.setdefault(table, {}).update(values)
    data["dataset"]["out"] = str(out / "data")
    data["training"]["output_dir"] = str(out / "run")
    data["model"] = {**data.get("model", {}), **models.model_table()}
    if chosen_fp32():  # verify and generate draw in float32 too: bf16 drawing crawls where training did
        data["verify"]["precision"] = "fp32"
    return ExperimentConfig.model_validate(data)


def rehearsal_argv(argv: list[str]) -> list[str]:
    """The plan's argv with the training script run through the rehearsal launcher (T5 layer count)."""
    i = next(k for k, a in enumerate(argv) if a.endswith(TRAIN_SCRIPT.name))
    return [*argv[:i], str(LAUNCHER), *argv[i:]]


def rehearsal_probes(processes: int = 1):
    """Pre-flight on a CPU box: the CPU stands in for each CUDA GPU; every other check is the real one."""
    from ..train.probes import Gpu, Probes

    return Probes(gpus=[Gpu("CPU (rehearsal stand-in for the GPU)", 1024.0)] * processes, torch_cuda=True)


def expected_outputs(cfg: ExperimentConfig) -> dict[str, list[int]]:
    """What an uninterrupted run leaves: step LoRAs/states every save, samples every sample step + baseline."""
    t, s = cfg.training, cfg.sample
    return {
        "step_files": [k for k in range(1, t.max_train_steps + 1) if k % t.save_every_n_steps == 0],
        "sample_steps": ([0] if s.at_first else [])
        + [k for k in range(1, t.max_train_steps + 1) if k % s.every_n_steps == 0],
    }
