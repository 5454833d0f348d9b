"""One driver for the drawing worker, shared by ``verify`` (sweep.py) and ``generate`` (generate.py).

Why: both ran the same sequence (inference pre-flight, clear what a killed worker left, start the
worker on the pending jobs, hand each drawn picture on as it arrives, turn a bad exit into one line);
what differs is where the worker's files go and what is done with each picture.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.models import ExperimentConfig
from ..train.preflight import Check
from ..train.probes import Probes
from .drawing import Drawer, Precision, WorkerProcess, clear_stale, worker_spec
from .jobs import Job, Settings
from .preflight import run_inference_preflight


@dataclass
class WorkerFiles:
    """Where one drawing run keeps its worker's files, and what pre-flight and the stale-file sweep look at."""

    spec: Path  # the worker's job list
    log: Path  # its output
    out_dir: Path  # pre-flight checks it is writable
    stale_in: list[Path]  # folders whose half-written temp files a killed worker may have left


@dataclass
class Drive:
    failed_checks: list[Check] = field(default_factory=list)
    log: Path | None = None
    error: str | None = None
    code: int | None = None  # the worker's exit code; None when pre-flight stopped it from starting

    def hand_over(self, target: Any) -> bool:
        """Copy what the caller reports (failed checks, the log, an error) onto ``target``, a sweep's
        outcome or a generate result; True only when the worker drew to the end."""
        target.failed_checks = self.failed_checks
        if self.failed_checks:
            return False
        target.log = self.log
        target.error = self.error or target.error
        return self.code == 0


def drive_worker(
    cfg: ExperimentConfig,
    root: Path,
    pending: list[Job],
    precision: Precision,
    loras: list[Path],
    files: WorkerFiles,
    on_drawn: Callable[[Job, dict[str, Any]], None],
    on_checks: Callable[[list[Check]], None] = lambda checks: None,
    on_start: Callable[[int], None] = lambda total: None,
    on_event: Callable[[dict[str, Any]], None] = lambda event: None,
    drawer: Drawer | None = None,
    probes: Probes | None = None,
    device: str = "cuda",
) -> Drive:
    """Pre-flight, then the worker over ``pending``; ``on_drawn(job, event)`` runs as each picture lands."""
    d = Drive()
    checks = run_inference_preflight(cfg, root, precision, loras, files.out_dir, len(pending), probes, device)
    on_checks(checks)
    d.failed_checks = [c for c in checks if c.ok is False]
    if d.failed_checks:
        return d
    clear_stale(files.stale_in)
    process = None
    if drawer is None:
        process = WorkerProcess(files.spec, files.log)
        drawer = process
    d.log = files.log
    settings = Settings.from_config(cfg, precision.name)
    spec = worker_spec(cfg, root, pending, settings, precision, None if device == "cuda" else device)
    on_start(len(pending))

    def on_worker_event(event: dict[str, Any]) -> None:
        on_event(event)
        if event.get("event") == "drawn":
            on_drawn(pending[int(event["index"])], event)
        elif event.get("event") == "error":
            d.error = str(event.get("message"))

    d.code = drawer(spec, on_worker_event)
    if d.code != 0:
        d.error = (
            d.error
            or (process.last_error if process else None)
            or f"the drawing worker exited with code {d.code}"
        )
    return d
