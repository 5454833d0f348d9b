"""Which ``Trainer`` runs ``[trainer] kind``: the one place that knows every trainer by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config.models import ExperimentConfig
from .kohya.trainer import KohyaTrainer
from .simpletuner.trainer import SimpleTunerTrainer
from .trainer import Trainer

TRAINERS: dict[str, Trainer] = {t.kind: t for t in (KohyaTrainer(), SimpleTunerTrainer())}


def trainer_for(cfg: ExperimentConfig) -> Trainer:
    return TRAINERS[cfg.trainer.kind]


def build_trainer_plan(
    cfg: ExperimentConfig, root: Path, run_dir: Path | None = None, resume: bool | None = None
) -> Any:
    """The plan of the trainer ``[trainer] kind`` names: Kohya's argv files or SimpleTuner's JSON files."""
    return trainer_for(cfg).plan(cfg, root, run_dir, resume)
