"""The process boundary: hand a job list to the drawing worker in the train environment, follow it.

The worker (``draw_worker.py``) needs torch and the pinned sd-scripts; this side needs neither. It
is started with the interpreter that runs ascii-lora (``make setup-train`` installs torch into the
same environment the trainer runs from) unless ``ASCII_LORA_TRAIN_PYTHON`` names another, from the
sd-scripts checkout, offline. Everything it
prints goes to a log; lines starting with ``EVENT_PREFIX`` are progress events.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.models import ExperimentConfig
from ..fsutil import TMP_PREFIX, atomic_write, is_our_temp
from ..train.kohya.plan import SD_SCRIPTS_DIR
from .draw_worker import EVENT_PREFIX
from .jobs import Job, Settings

WORKER = Path(__file__).with_name("draw_worker.py")
TRAIN_PYTHON_ENV = "ASCII_LORA_TRAIN_PYTHON"


def train_python() -> str:
    """The interpreter that has torch: this one after `make setup-train`, or the one ``ASCII_LORA_TRAIN_PYTHON``
    names (a separate train environment, as the rehearsal on a CPU box uses)."""
    return os.environ.get(TRAIN_PYTHON_ENV) or sys.executable


# How FLUX is held for inference: bf16 keeps everything resident, fp8 moves the encoders and FLUX
# between CPU and GPU around each picture (sd-scripts' --offload), so only one is on the card at a
# time. Measured 2026-11-26 with `rehearse --full-size` (stand-ins of the real sizes, a rank-64
# LoRA, 1024 px, 20 steps, H100 80GB): peak torch memory bf16 36.1 GiB allocated / 38.6 reserved,
# 6.0 s per picture; fp8 13.9 / 14.8 GiB, 21.9 s per picture. The minimums add the CUDA context
# (~0.5 GiB, outside torch's count) to the reserved peak: a 40 GB card draws bf16, a 16 GB card
# (15.99 GiB) draws fp8.
# fp32 is not measured: bf16's minimum with every weight twice as large (~31 GiB of bf16 weights
# in the 39.5), an estimate for the pre-flight only; float32 drawing is meant for CPUs.
INFERENCE_MIN_GIB = {"bf16": 39.5, "fp8": 15.5, "fp32": 71.0}
BF16_SPEEDUP = 3.6  # fp8-with-offload seconds per picture / bf16's, measured as above


@dataclass(frozen=True)
class Precision:
    name: str  # bf16 | fp8 | fp32
    dtypes: dict[str, str | None]
    offload: bool

    @property
    def min_vram_gib(self) -> float:
        return INFERENCE_MIN_GIB[self.name]


def choose_precision(cfg: ExperimentConfig) -> Precision:
    """``[verify] precision``; ``auto`` follows the training profile: bf16 on 48 GB cards, else fp8."""
    name = cfg.verify.precision
    if name == "auto":
        name = "bf16" if cfg.hardware.vram_profile == "48gb+" else "fp8"
    if name in ("bf16", "fp32"):
        return Precision(
            name, {"base": name, "flux": None, "t5xxl": None, "clip_l": None, "ae": None}, offload=False
        )
    return Precision(
        "fp8", {"base": "bf16", "flux": "fp8", "t5xxl": None, "clip_l": None, "ae": None}, offload=True
    )


def model_paths(cfg: ExperimentConfig, root: Path) -> dict[str, str]:
    def absolute(p: str) -> str:
        path = Path(p).expanduser()
        return str(path if path.is_absolute() else (root / path).resolve())

    m = cfg.model
    return {
        "flux": absolute(m.flux),
        "clip_l": absolute(m.clip_l),
        "t5xxl": absolute(m.t5xxl),
        "ae": absolute(m.ae),
        "tokenizer_cache_dir": absolute(m.tokenizer_cache_dir),
    }


def worker_spec(
    cfg: ExperimentConfig,
    root: Path,
    jobs: list[Job],
    settings: Settings,
    precision: Precision,
    device: str | None,
) -> dict[str, Any]:
    paths = model_paths(cfg, root)
    return {
        "version": 1,
        "sd_scripts": str((root / SD_SCRIPTS_DIR).resolve()),
        "device": device,
        "models": {k: paths[k] for k in ("flux", "clip_l", "t5xxl", "ae")},
        "tokenizer_cache_dir": paths["tokenizer_cache_dir"],
        "dtypes": precision.dtypes,
        "offload": precision.offload,
        "jobs": [j.spec(settings) for j in jobs],
    }


def clear_stale(folders: list[Path]) -> None:
    """Temp files and folders a killed worker left: finished pictures are always renamed out of them.

    Only names exactly like mkstemp's/mkdtemp's: a user's own ``.ascii-lora-tmp-notes`` stays.
    """
    for folder in folders:
        if folder.is_dir():
            for p in filter(is_our_temp, folder.glob(TMP_PREFIX + "*")):
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


Drawer = Callable[[dict[str, Any], Callable[[dict[str, Any]], None]], int]


@dataclass
class WorkerProcess:
    """The real drawer: ``python draw_worker.py SPEC`` in the train environment."""

    spec_path: Path
    log_path: Path
    python: str = field(default_factory=train_python)
    worker: Path = WORKER
    last_error: str | None = None

    def argv(self) -> list[str]:
        return [self.python, "-u", str(self.worker), str(self.spec_path)]

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "PYTHONWARNINGS": os.environ.get("PYTHONWARNINGS", "ignore"),
        }

    def __call__(self, spec: dict[str, Any], on_event: Callable[[dict[str, Any]], None]) -> int:
        self.spec_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.spec_path, json.dumps(spec, indent=1) + "\n")
        cwd = spec["sd_scripts"]
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(f"\n# {' '.join(self.argv())}\n")
            proc = subprocess.Popen(
                self.argv(),
                cwd=cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
                env=self.env(),
                errors="replace",
            )
            try:
                assert proc.stdout is not None
                for line in proc.stdout:
                    log.write(line)
                    if line.startswith(EVENT_PREFIX):
                        try:
                            event = json.loads(line[len(EVENT_PREFIX) :])
                        except ValueError:
                            continue
                        if event.get("event") == "error":
                            self.last_error = event.get("message")
                        on_event(event)
                code = proc.wait()
            except BaseException:  # Ctrl-C or a failing callback: stop the worker, keep what it drew
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
                    try:
                        proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
                raise
        if code and self.last_error is None:
            self.last_error = f"the drawing worker exited with code {code}"
        return code
