"""One `check` or `snap` over many files: collect the inputs, score each, write every output.

The CLI only parses and prints; every decision of a check run (where outputs go, which inputs
are unusable, how checkpoints are ranked, the exit code) lives here so it is testable without
a terminal.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config.models import ExperimentConfig
from ..errors import UserError
from ..fsutil import atomic_write
from ..grid.atlas import get_atlas
from ..grid.layout import grid_text
from ..imageio import save_png
from .overlay import overlay, snapped
from .ranking import CheckpointScore, rank
from .report import chart, report_markdown
from .score import ImageReport, check_file

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"}

Progress = Callable[[Iterable, int], Iterator]


def _no_progress(it: Iterable, n: int) -> Iterator:
    return iter(it)


def collect(paths: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Images named or inside the named folders (not recursive), and (path, why) for what is unusable."""
    images: list[Path] = []
    problems: list[tuple[str, str]] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            try:
                entries = sorted(p.iterdir())
            except OSError as e:
                problems.append((raw, f"folder cannot be read ({e.strerror})"))
                continue
            images += [e for e in entries if e.is_file() and e.suffix.lower() in IMAGE_EXTENSIONS]
        elif p.exists():
            images.append(p)
        else:
            problems.append((raw, "not found"))
    return images, problems


def unique_stems(images: list[Path]) -> dict[Path, str]:
    """Output names per input: two inputs with one stem must not overwrite each other's outputs."""
    seen: dict[str, int] = {}
    out = {}
    for p in images:
        stem = p.stem if p.stem not in seen else f"{p.parent.name}_{p.stem}"
        seen[p.stem] = seen.get(p.stem, 0) + 1
        out[p] = stem
    return out


@dataclass
class CheckOutputs:
    """Where a check writes; None = not written."""

    json: Path | None = None
    overlay_dir: Path | None = None
    ascii_dir: Path | None = None
    report_dir: Path | None = None


@dataclass
class CheckRun:
    reports: list[ImageReport]
    scores: list[CheckpointScore] = field(default_factory=list)
    report_dir: Path | None = None

    @property
    def best(self) -> CheckpointScore | None:
        return next((s for s in self.scores if s.best), None)

    @property
    def errors(self) -> int:
        return sum(1 for r in self.reports if r.error)

    @property
    def passed(self) -> int:
        return sum(1 for r in self.reports if r.passed)

    @property
    def failed(self) -> int:
        return len(self.reports) - self.passed - self.errors

    @property
    def exit_code(self) -> int:
        """0 all pass, 1 any fails, 2 any input could not be read (the others are still checked)."""
        return 2 if self.errors else (1 if self.failed else 0)


def configured_run(cfg: ExperimentConfig, run_dir: Path | None = None) -> tuple[list[str], CheckOutputs]:
    """`check` with no PATH: the run's samples (``--run-dir`` or the configured one), outputs under <run>/check."""
    run_dir = Path(run_dir) if run_dir is not None else Path(cfg.training.output_dir)
    samples = run_dir / "sample"
    if not samples.is_dir():
        raise UserError(f"{samples}: no samples yet; sd-scripts draws them there during `make train` "
                        f"(every [sample] every_n_steps), or pass image files/folders")
    out = run_dir / "check"
    return [str(samples)], CheckOutputs(json=out / "report.json", overlay_dir=out / "overlays",
                                        ascii_dir=out / "ascii", report_dir=out)


def run_check(paths: list[str], cfg: ExperimentConfig, outputs: CheckOutputs, progress: Progress = _no_progress) -> CheckRun:
    images, problems = collect(paths)
    if not images and not problems:
        raise UserError(f"no images in {', '.join(paths)} (sd-scripts writes samples to <output_dir>/sample)")
    atlas = get_atlas(cfg.dataset.cell_size)
    stems = unique_stems(images)
    for d in (outputs.overlay_dir, outputs.ascii_dir):
        if d:
            Path(d).mkdir(parents=True, exist_ok=True)
    reports: list[ImageReport] = [ImageReport(file=p, error=why) for p, why in problems]
    for path in progress(images, len(images)):
        report, reading, gray = check_file(path, cfg.check, atlas)
        reports.append(report)
        if gray is None:
            continue
        if outputs.overlay_dir:
            save_png(Path(outputs.overlay_dir) / f"{stems[path]}.overlay.png", overlay(gray, reading, atlas))
        if outputs.ascii_dir and report.ascii is not None:
            atomic_write(Path(outputs.ascii_dir) / f"{stems[path]}.ascii", report.ascii)

    run = CheckRun(reports=reports, scores=rank(reports))
    if run.scores:
        first_ok = next(r.file for r in reports if not r.error)
        run.report_dir = Path(outputs.report_dir) if outputs.report_dir else Path(first_ok).parent.parent / "check"
        run.report_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(run.report_dir / "report.md", report_markdown(run.scores, reports))
        save_png(run.report_dir / "scores.png", np.asarray(chart(run.scores)))
    elif outputs.report_dir:
        run.report_dir = Path(outputs.report_dir)
        run.report_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(run.report_dir / "report.md", report_markdown([], reports))

    if outputs.json:
        payload = {"images": [r.as_dict() for r in reports], "checkpoints": [s.as_dict() for s in run.scores]}
        Path(outputs.json).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(Path(outputs.json), json.dumps(payload, indent=1) + "\n")
    return run


@dataclass
class Snapped:
    source: Path
    png: Path | None = None
    offset: tuple[int, int] = (0, 0)
    repaired: int = 0
    beyond_tolerance: int = 0
    error: str | None = None


def snap_images(paths: list[str], cfg: ExperimentConfig, out: Path, progress: Progress = _no_progress) -> list[Snapped]:
    """Repair near-misses: threshold, move onto the grid, nearest tile per cell; PNG + .ascii each."""
    atlas = get_atlas(cfg.dataset.cell_size)
    images, problems = collect(paths)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = [Snapped(Path(p), error=why) for p, why in problems]
    stems = unique_stems(images)
    for path in progress(images, len(images)):
        report, reading, gray = check_file(path, cfg.check, atlas)
        if gray is None or reading is None:
            results.append(Snapped(path, error=report.error or "too small to hold a cell"))
            continue
        image, codes = snapped(reading, atlas, gray.shape)
        png = out / f"{stems[path]}.png"
        save_png(png, image)
        atomic_write(out / f"{stems[path]}.ascii", grid_text(codes))
        results.append(Snapped(path, png, offset=(-reading.offset[0], -reading.offset[1]),
                               repaired=int((reading.distance > 0).sum()), beyond_tolerance=int((~reading.agree).sum())))
    return results
