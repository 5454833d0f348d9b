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
from typing import Any

import numpy as np

from ..config.models import ExperimentConfig
from ..errors import UserError
from ..fsutil import atomic_write, ensure_dir, writable_file_target
from ..grid.atlas import get_atlas
from ..grid.layout import grid_text
from ..imageio import save_png
from .overlay import overlay, snapped
from .ranking import SIMPLETUNER_SAMPLES, CheckpointScore, parse_sample_name, rank
from .report import chart, report_markdown
from .score import ImageReport, check_file, read_at

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"}

Progress = Callable[[Iterable[Any], int], Iterator[Any]]


def _no_progress(it: Iterable[Any], n: int) -> Iterator[Any]:
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
    """Output names per input: two inputs must never write the same output.

    An input is named by its stem; inputs that share a stem keep their extension (``x.png`` ->
    ``x_png``, ``x.jpg`` -> ``x_jpg``), then their folder, then a number, until every name is unique.
    """
    stems = [p.stem for p in images]
    taken: set[str] = set()
    out = {}
    for p in images:
        candidates = [p.stem] if stems.count(p.stem) == 1 else []
        candidates += [f"{p.stem}_{p.suffix.lstrip('.')}", f"{p.parent.name}_{p.stem}_{p.suffix.lstrip('.')}"]
        name = next((c for c in candidates if c not in taken), None)
        k = 2
        while name is None:
            name = candidates[-1] + f"_{k}" if candidates[-1] + f"_{k}" not in taken else None
            k += 1
        taken.add(name)
        out[p] = name
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
    simpletuner = cfg.trainer.kind == "simpletuner"
    samples = run_dir / (SIMPLETUNER_SAMPLES if simpletuner else "sample")
    if not samples.is_dir():
        who = "SimpleTuner draws its validation images" if simpletuner else "sd-scripts draws them"
        raise UserError(
            f"{samples}: no samples yet; {who} there during `make train` "
            f"(every [sample] every_n_steps), or pass image files/folders"
        )
    out = run_dir / "check"
    return [str(samples)], CheckOutputs(
        json=out / "report.json", overlay_dir=out / "overlays", ascii_dir=out / "ascii", report_dir=out
    )


REPORT_HEADER = "# ascii-lora check report"


def _planned(images: list[Path], outputs: CheckOutputs, stems: dict[Path, str]) -> list[tuple[Path, str]]:
    """Every file the run may write, with the flag that chose its place (the default report folder too)."""
    planned = [(Path(outputs.json), "--json")] if outputs.json else []
    for p in images:
        if outputs.overlay_dir:
            planned.append((Path(outputs.overlay_dir) / f"{stems[p]}.overlay.png", "--overlay-dir"))
        if outputs.ascii_dir:
            planned.append((Path(outputs.ascii_dir) / f"{stems[p]}.ascii", "--ascii-dir"))
    # without --report-dir a report is written only when samples rank: beside the first sample's folder
    ranked = {p.parent.parent / "check" for p in images if parse_sample_name(p.stem)}
    reports = [Path(outputs.report_dir)] if outputs.report_dir else ranked
    return planned + [(d / name, "--report-dir") for d in reports for name in ("report.md", "scores.png")]


def _is_our_report(path: Path) -> bool:
    if not path.is_file():  # first: opening a FIFO named report.md would block
        return False
    try:
        with open(path, "rb") as f:
            return f.read(len(REPORT_HEADER)) == REPORT_HEADER.encode()
    except OSError:
        return False


def refuse_clashes(images: list[Path], outputs: CheckOutputs, stems: dict[Path, str]) -> None:
    """Refuse, before writing anything, an output that would replace a file check did not write.

    An input, a file beside the inputs (a dataset's ground-truth ``.ascii``), or a report.md/scores.png
    of someone else in the default report folder (one the user never named) stay as they are, as
    ``snap`` keeps its inputs.
    """
    inputs = {p.resolve() for p in images}
    beside = {p.parent.resolve() for p in images}
    planned = _planned(images, outputs, stems)
    report_dirs = {path.parent for path, flag in planned if flag == "--report-dir"}
    ours = {d: _is_our_report(d / "report.md") for d in report_dirs}
    for path, flag in planned:
        if path.resolve() in inputs:
            raise UserError(f"{path}: check would overwrite this input; choose another {flag}")
        if not (path.exists() or path.is_symlink()):
            continue
        if path.parent.resolve() in beside:
            raise UserError(
                f"{path}: check would replace this file beside the images it checks; choose another {flag}"
            )
        if path.parent in ours and not ours[path.parent]:
            hint = "" if outputs.report_dir else " (the default, <images>/../check)"
            raise UserError(
                f"{path}: not a report check wrote{hint}; it is never replaced: choose another {flag}"
            )


def run_check(
    paths: list[str],
    cfg: ExperimentConfig,
    outputs: CheckOutputs,
    progress: Progress = _no_progress,
    losses: dict[int, float] | None = None,
) -> CheckRun:
    for d in (
        outputs.overlay_dir,
        outputs.ascii_dir,
        outputs.report_dir,
    ):  # before any work: outputs that cannot be written
        if d:
            ensure_dir(d)
    if outputs.json:
        writable_file_target(outputs.json)
    images, problems = collect(paths)
    if not images and not problems:
        raise UserError(f"no images in {', '.join(paths)} (sd-scripts writes samples to <output_dir>/sample)")
    atlas = get_atlas(cfg.dataset.cell_size)
    stems = unique_stems(images)
    refuse_clashes(images, outputs, stems)
    reports: list[ImageReport] = [ImageReport(file=p, error=why) for p, why in problems]
    for path in progress(images, len(images)):
        report, reading, gray = check_file(path, cfg.check, atlas)
        reports.append(report)
        if gray is None:
            continue
        if outputs.overlay_dir:
            save_png(
                Path(outputs.overlay_dir) / f"{stems[path]}.overlay.png",
                overlay(gray, reading, atlas, move=report.offset is not None),
            )
        if outputs.ascii_dir and report.ascii is not None:
            atomic_write(Path(outputs.ascii_dir) / f"{stems[path]}.ascii", report.ascii)

    run = CheckRun(reports=reports, scores=rank(reports))
    if run.scores:
        first_ok = next(r.file for r in reports if not r.error)
        run.report_dir = (
            Path(outputs.report_dir) if outputs.report_dir else Path(first_ok).parent.parent / "check"
        )
        ensure_dir(run.report_dir)
        atomic_write(run.report_dir / "report.md", report_markdown(run.scores, reports, losses))
        save_png(run.report_dir / "scores.png", np.asarray(chart(run.scores, losses=losses)))
    elif outputs.report_dir:
        run.report_dir = Path(outputs.report_dir)
        atomic_write(run.report_dir / "report.md", report_markdown([], reports))

    if outputs.json:
        payload = {
            "images": [r.as_dict() for r in reports],
            "checkpoints": [s.as_dict() for s in run.scores],
            "validation_loss": {str(k): v for k, v in sorted((losses or {}).items())},
        }
        atomic_write(Path(outputs.json), json.dumps(payload, indent=1) + "\n")
    return run


@dataclass
class Snapped:
    source: Path
    png: Path | None = None
    offset: tuple[int, int] = (0, 0)
    repaired: int = 0
    unknown: int = 0
    error: str | None = None


def snap_images(
    paths: list[str], cfg: ExperimentConfig, out: Path, progress: Progress = _no_progress
) -> list[Snapped]:
    """Repair near-misses: threshold, move onto the grid when a shifted grid was found, the read
    character's tile per cell; unreadable cells keep their thresholded pixels and read ``?``."""
    atlas = get_atlas(cfg.dataset.cell_size)
    images, problems = collect(paths)
    out = ensure_dir(out)
    results = [Snapped(Path(p), error=why) for p, why in problems]
    stems = unique_stems(images)
    if any(p.parent.resolve() == out.resolve() for p in images):  # beside the originals: under new names
        stems = {p: f"{s}.snapped" for p, s in stems.items()}
    inputs = {p.resolve() for p in images}
    clash = next(
        (
            out / f"{s}{ext}"
            for s in stems.values()
            for ext in (".png", ".ascii")
            if (out / f"{s}{ext}").resolve() in inputs
        ),
        None,
    )
    if clash is not None:
        raise UserError(f"{clash}: snap would overwrite this input; choose another --out")
    for path in progress(images, len(images)):
        report, reading, gray = check_file(path, cfg.check, atlas)
        if gray is None or reading is None:
            results.append(Snapped(path, error=report.error or "too small to hold a cell"))
            continue
        move = report.offset is not None and reading.offset != (0, 0)
        if reading.offset != (0, 0) and not move:  # no grid found anywhere: keep the picture where it is
            reading = read_at(gray, cfg.check, atlas, (0, 0))
        image, codes = snapped(reading, atlas, gray.shape, move)
        png = out / f"{stems[path]}.png"
        save_png(png, image)
        atomic_write(out / f"{stems[path]}.ascii", grid_text(codes))
        results.append(
            Snapped(
                path,
                png,
                offset=(-reading.offset[0], -reading.offset[1]),
                repaired=int((reading.drawn & ~reading.exact & reading.confident).sum()),
                unknown=int((reading.drawn & ~reading.confident).sum()),
            )
        )
    return results
