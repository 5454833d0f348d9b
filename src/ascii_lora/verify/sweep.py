"""``ascii-lora verify``: every saved LoRA x prompts x seeds (and the base model), scored and ranked.

The worker draws only what is missing (see ``jobs``); everything after drawing is pure CPU work
and is redone on every call, so a finished sweep can be re-reported on a laptop.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from ..check.score import ImageReport, check_file
from ..config.models import CheckConfig, ExperimentConfig
from ..errors import UserError
from ..fsutil import atomic_write
from ..grid.atlas import Atlas, get_atlas
from ..train.preflight import Check
from ..train.probes import Probes
from ..validation_loss import read_losses
from .drawing import Drawer, Precision, choose_precision
from .drive import WorkerFiles, drive_worker
from .jobs import (
    BASELINE,
    Checkpoint,
    Job,
    Settings,
    base_identity,
    build_jobs,
    check_path,
    discover,
    is_drawn,
    select,
    verify_prompts,
)
from .report import Scored, Summary, chart, markdown, summarise, winner_sheet

REPORT = "report.md"
SCORES = "scores.json"
CHART = "chart.png"
SHEET = "contact_sheet.png"
SPEC = "jobs.json"
LOG = "draw.log"


@dataclass
class Events:
    """What the command line shows while the library works (the library prints nothing)."""

    checks: Callable[[list[Check]], None] = lambda checks: None
    start: Callable[[int], None] = lambda total: None
    drawn: Callable[[Job, ImageReport, float | None], None] = lambda job, report, seconds: None
    worker: Callable[[dict[str, Any]], None] = lambda event: None


@dataclass
class Outcome:
    jobs: list[Job]
    pending: list[Job]
    checkpoints: list[Checkpoint]
    notes: list[str]
    precision: Precision
    drawn_now: int = 0
    summary: Summary | None = None
    failed_checks: list[Check] = field(default_factory=list)
    error: str | None = None
    log: Path | None = None
    outputs: dict[str, Path] = field(default_factory=dict)
    seconds_per_image: list[float] = field(default_factory=list)


def score_image(job: Job, check: CheckConfig, atlas: Atlas) -> ImageReport:
    """Checker verdict beside the picture (``.check.json``) and its read-back (``.ascii``)."""
    report, _, _ = check_file(job.out, check, atlas)
    atomic_write(check_path(job.out), json.dumps(report.as_dict(), indent=1) + "\n")
    if report.ascii is not None:
        atomic_write(job.out.with_suffix(".ascii"), report.ascii)
    return report


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def plan_sweep(
    cfg: ExperimentConfig,
    root: Path,
    run_dir: Path,
    checkpoints: str | None = None,
    seeds: int | None = None,
    baseline: bool | None = None,
) -> Outcome:
    # absolute from here on: the worker runs from vendor/sd-scripts, where a relative path means something else
    run_dir = run_dir if run_dir.is_absolute() else (root / run_dir).resolve()
    available, notes = discover(run_dir, cfg.training.output_name)
    chosen = select(available, checkpoints, run_dir / f"{cfg.training.output_name}.safetensors")
    if not chosen:
        raise UserError(
            f"{run_dir}: no saved LoRA yet; `make train` saves {cfg.training.output_name}-stepNNNNNNNN.safetensors there "
            f"every [training] save_every_n_steps ({cfg.training.save_every_n_steps})"
        )
    use_baseline = cfg.verify.baseline if baseline is None else baseline
    cks = ([Checkpoint(BASELINE, 0, None)] if use_baseline else []) + chosen
    precision = choose_precision(cfg)
    settings = Settings.from_config(cfg, precision.name)
    k = seeds or cfg.verify.seeds
    seed_list = list(range(cfg.verify.first_seed, cfg.verify.first_seed + k))
    jobs = build_jobs(
        cks, verify_prompts(cfg), seed_list, settings, run_dir / "verify", base_identity(cfg, root)
    )
    pending = [j for j in jobs if not is_drawn(j.out, j.record)]
    return Outcome(jobs=jobs, pending=pending, checkpoints=cks, notes=notes, precision=precision)


def run_sweep(
    cfg: ExperimentConfig,
    root: Path,
    run_dir: Path,
    outcome: Outcome,
    events: Events | None = None,
    drawer: Drawer | None = None,
    probes: Probes | None = None,
    device: str = "cuda",
    stand_in: bool = False,
) -> Outcome:
    events = events or Events()
    run_dir = run_dir if run_dir.is_absolute() else (root / run_dir).resolve()
    verify_dir = run_dir / "verify"
    verify_dir.mkdir(parents=True, exist_ok=True)
    atlas = get_atlas(cfg.dataset.cell_size)
    settings = Settings.from_config(cfg, outcome.precision.name)
    scored: dict[Path, ImageReport] = {}
    if outcome.pending:
        drawn = _draw_pending(cfg, root, outcome, verify_dir, atlas, events, drawer, probes, device)
        if drawn is None:
            return outcome
        scored = drawn
    _write_outputs(cfg, verify_dir, outcome, settings, atlas, scored, stand_in)
    return outcome


def _draw_pending(
    cfg: ExperimentConfig,
    root: Path,
    outcome: Outcome,
    verify_dir: Path,
    atlas: Atlas,
    events: Events,
    drawer: Drawer | None,
    probes: Probes | None,
    device: str,
) -> dict[Path, ImageReport] | None:
    """Has the worker draw the pending pictures, scoring each as it lands.

    Returns the new scores, or None when the sweep stops here (failed checks, a failed worker or
    missing pictures; ``outcome`` says which).
    """
    scored: dict[Path, ImageReport] = {}
    loras = [j.checkpoint.path for j in outcome.pending if j.checkpoint.path is not None]
    files = WorkerFiles(
        verify_dir / SPEC, verify_dir / LOG, verify_dir, sorted({j.out.parent for j in outcome.pending})
    )

    def on_drawn(job: Job, event: dict[str, Any]) -> None:
        report = score_image(job, cfg.check, atlas)
        scored[job.out] = report
        outcome.drawn_now += 1
        seconds = event.get("seconds")
        if seconds is not None:
            outcome.seconds_per_image.append(float(seconds))
        events.drawn(job, report, seconds)

    d = drive_worker(
        cfg,
        root,
        outcome.pending,
        outcome.precision,
        loras,
        files,
        on_drawn,
        on_checks=events.checks,
        on_start=events.start,
        on_event=events.worker,
        drawer=drawer,
        probes=probes,
        device=device,
    )
    if not d.hand_over(outcome):
        return None
    missing = [j for j in outcome.pending if not is_drawn(j.out, j.record)]
    if missing:
        outcome.error = (
            f"the worker finished but {len(missing)} picture(s) are missing, first {missing[0].out}"
        )
        return None
    return scored


def _write_outputs(
    cfg: ExperimentConfig,
    verify_dir: Path,
    outcome: Outcome,
    settings: Settings,
    atlas: Atlas,
    scored: dict[Path, ImageReport],
    stand_in: bool,
) -> None:
    """Scores every picture, ranks the checkpoints, writes the report, scores, chart and sheet."""
    results = [Scored(j, scored.get(j.out) or score_image(j, cfg.check, atlas)) for j in outcome.jobs]
    prompts = verify_prompts(cfg)
    seeds = sorted({j.seed for j in outcome.jobs})
    summary = summarise(results, outcome.checkpoints, prompts, seeds)
    summary.notes = list(outcome.notes)
    summary.losses = read_losses(verify_dir.parent)
    outcome.summary = summary
    s = settings
    settings_line = (
        f"{s.width}x{s.height}, {s.steps} steps, guidance {s.guidance:g}, LoRA multiplier {s.multiplier:g}, "
        f"FLUX in {s.precision}"
    )
    out = {
        "report": verify_dir / REPORT,
        "scores": verify_dir / SCORES,
        "chart": verify_dir / CHART,
        "sheet": verify_dir / SHEET,
    }
    atomic_write(out["report"], markdown(summary, settings_line, stand_in))
    payload = _scores_payload(settings, summary, results, prompts, seeds, stand_in)
    atomic_write(out["scores"], json.dumps(payload, indent=1) + "\n")
    atomic_write(out["chart"], _png(chart(summary)))
    sheet = winner_sheet(summary, results)
    if sheet is not None:
        atomic_write(out["sheet"], _png(sheet))
    outcome.outputs = out


def _scores_payload(
    s: Settings, summary: Summary, results: list[Scored], prompts: list[str], seeds: list[int], stand_in: bool
) -> dict[str, Any]:
    """What ``scores.json`` holds: the settings, the verdict, every checkpoint and every picture."""
    return {
        "settings": {
            "width": s.width,
            "height": s.height,
            "steps": s.steps,
            "guidance": s.guidance,
            "multiplier": s.multiplier,
            "precision": s.precision,
            "seeds": seeds,
            "prompts": prompts,
        },
        "winner": summary.verdict.winner if summary.verdict else None,
        "winner_file": str(summary.winner.checkpoint.path) if summary.winner else None,
        "reason": summary.verdict.reason if summary.verdict else None,
        "checkpoints": [r.as_dict() for r in summary.results],
        "images": [
            {
                "checkpoint": r.job.checkpoint.key,
                "prompt": r.job.prompt_index,
                "seed": r.job.seed,
                "file": str(r.job.out),
                **{k: v for k, v in r.report.as_dict().items() if k not in ("file", "ascii")},
            }
            for r in results
        ],
        "notes": summary.notes,
        "validation_loss": {str(k): v for k, v in sorted(summary.losses.items())},
        "stand_in": stand_in,
    }


def winner_file(run_dir: Path) -> Path | None:
    """The LoRA the last sweep of this run chose, if it is still there (``generate``'s default)."""
    try:
        f = json.loads((run_dir / "verify" / SCORES).read_text(encoding="utf-8")).get("winner_file")
    except (OSError, ValueError, AttributeError, RecursionError):
        return None
    return Path(f) if f and Path(f).is_file() else None
