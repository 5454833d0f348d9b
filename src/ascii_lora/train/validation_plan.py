"""What sd-scripts is told about validation, and the shape of the run the estimate prices.

sd-scripts (at the pin) reads the split from the dataset config (``validation_split``,
``validation_seed``: dataset-level keys) and the rest from its argv: ``--validation_seed`` (the
noise of each validation), ``--validate_every_n_steps``, ``--max_validation_steps`` (batches per
validation). Left unset, ``--validate_every_n_epochs`` validates at every epoch's end as well; an
interval longer than the run switches that off, so the loss is measured at the chosen steps only.
"""

from __future__ import annotations

import math

from ..config.models import ExperimentConfig
from ..config.watch import TIMESTEPS_PER_VALIDATION, held_out_images, validation_split
from .estimate import Estimate, RunShape, estimate


def held_out(cfg: ExperimentConfig) -> int:
    return held_out_images(cfg.validation, cfg.dataset.count)


def validation_every(cfg: ExperimentConfig) -> int:
    """The validation interval: ``[validation] every_n_steps``, else the sampling interval."""
    return cfg.validation.every_n_steps or cfg.sample.every_n_steps


def dataset_keys(cfg: ExperimentConfig) -> dict:
    """The dataset table's validation keys (empty when nothing is held out)."""
    k = held_out(cfg)
    if not k:
        return {}
    return {
        "validation_split": validation_split(cfg.dataset.count, k),
        "validation_seed": cfg.validation.seed,
    }


def trainer_args(cfg: ExperimentConfig) -> list[str]:
    """The validation flags of the trainer's argv (none when nothing is held out)."""
    if not held_out(cfg):
        return []
    args = [
        "--validation_seed",
        str(cfg.validation.seed),
        "--validate_every_n_steps",
        str(validation_every(cfg)),
        "--validate_every_n_epochs",
        str(cfg.training.max_train_steps + 1),
    ]
    if cfg.validation.max_batches is not None:
        args += ["--max_validation_steps", str(cfg.validation.max_batches)]
    return args


def validation_batches(cfg: ExperimentConfig) -> int:
    """Held-out batches one validation runs: the held-out images x repeats in the dataset's batches, per GPU."""
    k = held_out(cfg)
    batch = cfg.training.batch_size or cfg.hardware.profile.batch_size
    batches = math.ceil(math.ceil(k * cfg.training.num_repeats / batch) / cfg.hardware.num_gpus)
    return batches if cfg.validation.max_batches is None else min(batches, cfg.validation.max_batches)


def run_shape(cfg: ExperimentConfig, steps_done: int = 0) -> RunShape:
    """The run as the estimate sees it; ``steps_done``: the cumulative step a resume starts from."""
    t, s, h = cfg.training, cfg.sample, cfg.hardware
    batches = validation_batches(cfg)
    return RunShape(
        profile=h.vram_profile,
        profile_batch=h.profile.batch_size,
        batch=(t.batch_size or h.profile.batch_size) * t.gradient_accumulation_steps,
        resolution=t.side,
        steps_done=steps_done,
        max_train_steps=t.max_train_steps,
        sample_every=s.every_n_steps,
        sample_at_first=s.at_first,
        prompts=len(s.prompts),
        sample_steps=s.steps,
        sample_pixels=s.width * s.height,
        swaps_blocks=h.swap > 0,
        validate_every=validation_every(cfg) if batches else None,
        validation_batches=batches,
        validation_timesteps=TIMESTEPS_PER_VALIDATION,
    )


def plan_estimate(cfg: ExperimentConfig, steps_done: int = 0) -> Estimate:
    """The expected duration (and cost, with ``[hardware] price_per_hour``) of the run or of what a resume has left."""
    return estimate(run_shape(cfg, steps_done), cfg.hardware.price_per_hour)
