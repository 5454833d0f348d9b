"""The rehearsal: the pinned sd-scripts trains the user's plan on a CPU, is interrupted, resumes, finishes.

Why: every mistake that would otherwise show after a 30 GB download and an hour of rented GPU
(a wrong path, a prompt sd-scripts misreads, a resume that renumbers or overtrains) shows here in
minutes. The user's experiment config is used as is except for what a CPU needs (REHEARSAL, all
recorded in the rehearsal's config file and its run's ``config.resolved.toml``), the model files
are random stand-ins (standins.py), and training goes through ``ascii-lora train`` itself in a
subprocess, so the launcher, the Ctrl-C handling, resume and the renumbering are the real ones.

Each phase is judged by what it leaves on disk, measured independently of the code that wrote it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..config.models import ExperimentConfig
from ..fsutil import atomic_write
from . import standins as st
from .judging import _Fail
from .overrides import (  # noqa: F401 - the public surface of the rehearsal, as before the split
    INTERRUPT_AFTER_STEP,
    LAUNCHER,
    OFFLINE,
    REHEARSAL,
    STOP_AFTER_STEP,
    expected_outputs,
    rehearsal_argv,
    rehearsal_config,
    rehearsal_probes,
)
from .phases import PHASES, PhaseFn
from .state import RehearsalState


@dataclass
class Phase:
    name: str
    ok: bool
    seconds: float
    detail: str


@dataclass
class Rehearsal:
    out: Path
    phases: list[Phase] = field(default_factory=list)
    facts: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.phases) and all(p.ok for p in self.phases)

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "out": str(self.out),
            "phases": [asdict(p) for p in self.phases],
            "facts": self.facts,
        }


def rehearse(
    cfg: ExperimentConfig,
    root: Path,
    out: Path,
    cache: Path,
    sizes: st.Sizes | None = None,
    report: Callable[[Phase], None] = lambda p: None,
    on_line: Callable[[str], None] = lambda s: None,
    train_timeout: float = 3600.0,
    phases: Sequence[tuple[str, PhaseFn]] = PHASES,
) -> Rehearsal:
    """Run every phase in order; a phase that fails ends the rehearsal (the later ones would only repeat it)."""
    os.environ.setdefault(
        "TOKENIZERS_PARALLELISM", "false"
    )  # set before the stand-ins' tokenizers are trained here
    root, out = Path(root).resolve(), Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    result = Rehearsal(out)
    sizes = sizes or st.Sizes.tiny()
    pre = rehearsal_config(cfg, out, st.paths(cache))
    state = RehearsalState(
        root=root,
        out=out,
        cache=cache,
        sizes=sizes,
        user=cfg,
        pre=pre,
        name=cfg.training.output_name,
        run_dir=Path(pre.training.output_dir),
        config_file=out / "rehearsal.toml",
        on_line=on_line,
        train_timeout=train_timeout,
    )
    for name, fn in phases:
        if not _run_phase(result, name, fn, state, report):
            break
    result.facts.update(
        python=sys.version.split()[0],
        cpus=os.cpu_count(),
        sizes=asdict(sizes),
        overrides=REHEARSAL,
        seconds_per_step={k: getattr(state, k) for k in ("s_per_step_1", "s_per_step_2")},
        verify_seconds_per_picture=state.verify_s_per_image,
        **state.facts,
        total_seconds=round(sum(p.seconds for p in result.phases), 1),
    )
    _write_summary(result)
    return result


def _run_phase(
    result: Rehearsal, name: str, fn: PhaseFn, state: RehearsalState, report: Callable[[Phase], None]
) -> bool:
    """One phase, timed; what broke becomes its detail (a rehearsal reports, it does not crash), recorded at once."""
    t0 = time.monotonic()
    try:
        detail, ok = fn(state), True
    except _Fail as e:
        detail, ok = str(e), False
    except Exception as e:  # noqa: BLE001 - a rehearsal reports what broke, it does not crash on it
        detail, ok = f"{type(e).__name__}: {e}", False
    p = Phase(name, ok, round(time.monotonic() - t0, 1), detail)
    result.phases.append(p)
    report(p)
    _write_summary(result)
    return ok


def _write_summary(result: Rehearsal) -> None:
    atomic_write(result.out / "rehearsal.json", json.dumps(result.as_dict(), indent=1, default=str))
