"""The human-readable outcome of a check: report.md and the pass-rate chart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ..validation_loss import loss_at
from .ranking import CheckpointScore, label
from .score import ImageReport


def report_markdown(
    scores: list[CheckpointScore], reports: list[ImageReport], losses: dict[int, float] | None = None
) -> str:
    """report.md: the counts, the checkpoints (when samples are named by step), every image.
    ``losses``: the run's validation loss per step (``validation_loss.json``), a column beside the pass rate."""
    lines = ["# ascii-lora check report", ""]
    ok = sum(r.passed for r in reports if not r.error)
    bad = sum(1 for r in reports if r.error)
    lines.append(f"{len(reports)} images: {ok} passed, {len(reports) - ok - bad} failed, {bad} unreadable.")
    lines.append("")
    if scores:
        lines += checkpoint_lines(scores, losses)
    return "\n".join(lines + image_lines(reports)) + "\n"


def checkpoint_lines(scores: list[CheckpointScore], losses: dict[int, float] | None = None) -> list[str]:
    """The best checkpoint (or why there is none) and one row per checkpoint."""
    lines: list[str] = []
    best = next((s for s in scores if s.best), None)
    if best is None:
        lines += [
            "**No best checkpoint**: no trained checkpoint draws content in at least half of its samples.",
            "",
        ]
    else:
        where = best.checkpoint_file or "(checkpoint file not found beside the samples)"
        lines += [
            f"**Best checkpoint: {label(best)}** ({best.name}), pass rate {best.pass_rate:.0%}: `{where}`",
            "",
        ]
    loss_head, loss_rule = ("| validation loss ", "---:|") if losses else ("", "")
    lines += [
        f"| checkpoint | images | pass rate {loss_head}| content | black bg | crisp | aligned | mean grid score | "
        "mean edge grey | read back | file |",
        f"|---|---:|---:|{loss_rule}---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in scores:
        mark = " **best**" if s.best else ""
        loss = f"{loss_at(losses, s.number if s.kind == 'step' else None)} | " if losses else ""
        lines.append(
            f"| {label(s)}{mark} | {s.images} | {s.pass_rate:.0%} | {loss}{s.content_rate:.0%} | {s.black_rate:.0%} | "
            f"{s.crisp_rate:.0%} | "
            f"{s.aligned_rate:.0%} | {s.mean_grid_score:.3f} | {s.mean_edge_grey:.3f} | {s.mean_cell_agreement:.0%} | "
            f"{Path(s.checkpoint_file).name if s.checkpoint_file else '-'} |"
        )
    lines.append("")
    dropped = [s for s in scores if s.superseded]
    if dropped:
        lines += [
            "Older samples of the same prompt at the same step were left out (another model drew them, "
            "e.g. a run resumed before segments renumbered its files): "
            + ", ".join(f"{label(s)}: {s.superseded}" for s in dropped)
            + ".",
            "",
        ]
    return lines


def image_lines(reports: list[ImageReport]) -> list[str]:
    """One row per image: every criterion, the measures behind them, the notes."""
    lines = [
        "## Images",
        "",
        "| file | passed | content | black bg | crisp | aligned | grid score | edge grey | offset | period | read back | note |",
        "|---|---|---|---|---|---|---:|---:|---|---:|---:|---|",
    ]

    def yn(b: bool) -> str:
        return "yes" if b else "no"

    def num(v: float | None, f: str) -> str:
        return "-" if v is None else format(v, f)

    for r in reports:
        if r.error:
            lines.append(f"| {Path(r.file).name} | unreadable | | | | | | | | | | {r.error} |")
            continue
        c = r.criteria
        lines.append(
            f"| {Path(r.file).name} | {yn(r.passed)} | {yn(c['content'])} | {yn(c['black_background'])} | {yn(c['crisp'])} | "
            f"{yn(c['grid_aligned'])} | {num(r.grid_score, '.3f')} | {num(r.edge_grey, '.3f')} | "
            f"{'-' if r.offset is None else f'{r.offset[0]},{r.offset[1]}'} | {num(r.measured_period, '.2f')} | "
            f"{num(r.cell_agreement, '.0%')} | {'; '.join(r.notes)} |"
        )
    return lines


SERIES = (
    ("pass_rate", "pass", (31, 119, 180)),
    ("content_rate", "content", (44, 160, 44)),
    ("black_rate", "black bg", (120, 120, 120)),
    ("crisp_rate", "crisp", (148, 103, 189)),
    ("aligned_rate", "aligned", (214, 39, 40)),
    ("mean_grid_score", "grid score", (255, 127, 14)),
)


def chart(
    scores: list[CheckpointScore], width: int = 900, height: int = 420, losses: dict[int, float] | None = None
) -> Image.Image:
    """Every criterion's pass rate and the mean grid score against step: no plotting library needed.

    With ``losses``, the validation loss of each checked step, divided by its largest value, in black."""
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    left, right, top, bottom = 60, width - 20, 30, height - 50
    d.rectangle([left, top, right, bottom], outline=(0, 0, 0))
    key_x = left  # the legend runs along the top
    for _, name, colour in SERIES:
        d.rectangle([key_x, 10, key_x + 10, 20], fill=colour)
        d.text((key_x + 14, 8), name, fill=(0, 0, 0), font=font)
        key_x += 22 + int(d.textlength(name, font=font))
    for v in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = bottom - v * (bottom - top)
        d.line([left, y, right, y], fill=(225, 225, 225))
        d.text((10, y - 6), f"{v:.2f}", fill=(0, 0, 0), font=font)
    if not scores:
        return img
    xs = [s.number for s in scores]
    lo, hi = min(xs), max(xs)
    span = (hi - lo) or 1

    def px(s: CheckpointScore, v: float) -> tuple[float, float]:
        x = left + 10 + (s.number - lo) / span * (right - left - 20) if len(xs) > 1 else (left + right) / 2
        return x, bottom - v * (bottom - top)

    for attr, _, colour in SERIES:
        # the step-0 baseline (base model) is a hollow marker, not the start of the training curve
        trained = [px(s, getattr(s, attr)) for s in scores if s.number > 0 or s.kind != "step"]
        if len(trained) > 1:
            d.line(trained, fill=colour, width=2)
        for s in scores:
            x, y = px(s, getattr(s, attr))
            hollow = s.kind == "step" and s.number == 0
            d.ellipse([x - 3, y - 3, x + 3, y + 3], outline=colour, width=2, fill=None if hollow else colour)
    _loss_series(
        d, font, [s for s in scores if s.kind == "step" and s.number in (losses or {})], losses or {}, px
    )
    for s in scores:
        x, _ = px(s, 0)
        d.text((x - 14, bottom + 8), str(s.number), fill=(0, 0, 0), font=font)
        if s.best:
            d.text((x - 12, bottom + 24), "best", fill=(200, 0, 0), font=font)
    d.text(
        (10, bottom + 24), "by step" if scores[0].kind == "step" else "by epoch", fill=(0, 0, 0), font=font
    )
    return img


def _loss_series(
    d: ImageDraw.ImageDraw,
    font: ImageFont.ImageFont | ImageFont.FreeTypeFont,
    scores: list[CheckpointScore],
    losses: dict[int, float],
    px: Callable[[CheckpointScore, float], tuple[float, float]],
) -> None:
    """Validation loss / its largest value: a black line with square markers, labelled with that largest value."""
    top = max((losses[s.number] for s in scores), default=0)
    if top <= 0:
        return
    points = [px(s, losses[s.number] / top) for s in scores]
    if len(points) > 1:
        d.line(points, fill=(0, 0, 0), width=2)
    for x, y in points:
        d.rectangle([x - 3, y - 3, x + 3, y + 3], fill=(0, 0, 0))
    d.text((points[0][0] + 6, points[0][1] - 14), f"validation loss / {top:.4f}", fill=(0, 0, 0), font=font)
