"""The rehearsal's typed state: what every phase reads, and the few facts one phase leaves for a later one.

Why a dataclass: the phases used to share an untyped dict inside one 250-line function; a field here
says who may rely on what (``plan`` for pre-flight, ``winner_file`` for generate, the timings for
rehearsal.json's facts).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..config.models import ExperimentConfig
from ..train.kohya.plan import Plan
from . import standins as st


@dataclass
class RehearsalState:
    root: Path  # the project (sd-scripts under it), resolved
    out: Path  # the rehearsal's folder: its config, logs, dataset, run and generated pictures
    cache: Path  # the stand-in models
    sizes: st.Sizes
    user: ExperimentConfig  # the user's experiment as written
    pre: ExperimentConfig  # the user's experiment with REHEARSAL's overrides
    name: str  # the run's output_name
    run_dir: Path
    config_file: Path  # `pre` as TOML: what every `ascii-lora` call of the rehearsal reads
    on_line: Callable[[str], None]
    train_timeout: float
    # filled by the phases, in order
    standins: st.StandIns | None = None
    plan: Plan | None = None
    s_per_step_1: float | None = None
    s_per_step_2: float | None = None
    winner_file: str | None = None
    verify_s_per_image: float | None = None
    # facts a later-added phase records for rehearsal.json (e.g. "multi_process": {...}), under its own key
    facts: dict = field(default_factory=dict)
