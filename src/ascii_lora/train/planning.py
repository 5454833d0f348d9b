"""Planning a run with the trainer ``[trainer] kind`` names, resume policy included: the one path that
``plan``, ``train --dry-run`` and ``train`` share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config.models import ExperimentConfig
from .trainer import Trainer


def with_resume(cfg: ExperimentConfig, asked: str | None) -> tuple[ExperimentConfig, str | None]:
    """RESUME=1 / --resume mean ``[training] resume = true``, pre-flight check included; returns the
    config as run and how the resume was asked for (None: it was not)."""
    asked = asked or ("[training] resume = true" if cfg.training.resume else None)
    if asked:
        cfg = cfg.model_copy(update={"training": cfg.training.model_copy(update={"resume": True})})
    return cfg, asked


def plan_run(
    trainer: Trainer,
    cfg: ExperimentConfig,
    root: Path,
    run_dir: Path,
    asked: str | None,
    warn: Callable[[str], None],
    machine: Any = None,
) -> Any:
    """The trainer's plan (as ``machine`` runs it, the head's when None); a resume it cannot honour is
    refused (sd-scripts would silently start fresh)."""
    plan = trainer.plan(cfg, root, run_dir, True if asked else None, machine)
    if asked:
        for w in trainer.resume_warnings(cfg, plan.run_dir):
            warn(w)
        trainer.refuse_resume(cfg, plan, asked)
    return plan
