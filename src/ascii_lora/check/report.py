"""The human-readable outcome of a check: report.md and the pass-rate chart."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .ranking import CheckpointScore, label
from .score import ImageReport


def report_markdown(scores: list[CheckpointScore], reports: list[ImageReport]) -> str:
    lines = ["# ascii-lora check report", ""]
    ok = sum(r.passed for r in reports if not r.error)
    bad = sum(1 for r in reports if r.error)
    lines.append(f"{len(reports)} images: {ok} passed, {len(reports) - ok - bad} failed, {bad} unreadable.")
    lines.append("")
    if scores:
        best = next(s for s in scores if s.best)
        where = best.checkpoint_file or "(checkpoint file not found beside the samples)"
        lines += [f"**Best checkpoint: {label(best)}** ({best.name}), pass rate {best.pass_rate:.0%}: `{where}`", ""]
        lines += ["| checkpoint | images | pass rate | black bg | aligned | mean grey | mean cell agreement | file |",
                  "|---|---:|---:|---:|---:|---:|---:|---|"]
        for s in scores:
            mark = " **best**" if s.best else ""
            lines.append(f"| {label(s)}{mark} | {s.images} | {s.pass_rate:.0%} | {s.black_rate:.0%} | {s.aligned_rate:.0%} | "
                         f"{s.mean_grey_fraction:.4f} | {s.mean_cell_agreement:.3f} | {Path(s.checkpoint_file).name if s.checkpoint_file else '-'} |")
        lines.append("")
        dropped = [s for s in scores if s.superseded]
        if dropped:
            lines += ["Older samples of the same prompt at the same step were left out (another model drew them, "
                      "e.g. a run resumed before segments renumbered its files): "
                      + ", ".join(f"{label(s)}: {s.superseded}" for s in dropped) + ".", ""]
    lines += ["## Images", "", "| file | passed | black bg | crisp | aligned | grey | offset | cell agreement | note |", "|---|---|---|---|---|---:|---|---:|---|"]
    for r in reports:
        if r.error:
            lines.append(f"| {Path(r.file).name} | unreadable | | | | | | | {r.error} |")
            continue
        c = r.criteria
        yn = lambda b: "yes" if b else "no"  # noqa: E731
        lines.append(f"| {Path(r.file).name} | {yn(r.passed)} | {yn(c['black_background'])} | {yn(c['crisp'])} | {yn(c['grid_aligned'])} | "
                     f"{r.grey_fraction:.4f} | {r.offset} | {r.cell_agreement:.3f} | {'; '.join(r.notes)} |")
    return "\n".join(lines) + "\n"


def chart(scores: list[CheckpointScore], width: int = 900, height: int = 420) -> Image.Image:
    """Pass rate and mean cell agreement against step: no plotting library needed for two lines."""
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    left, right, top, bottom = 60, width - 20, 30, height - 50
    d.rectangle([left, top, right, bottom], outline=(0, 0, 0))
    d.text((left, 8), "pass rate (blue) and mean cell agreement (orange) by checkpoint", fill=(0, 0, 0), font=font)
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

    for attr, colour in (("pass_rate", (31, 119, 180)), ("mean_cell_agreement", (255, 127, 14))):
        # the step-0 baseline (base model) is a hollow marker, not the start of the training curve
        trained = [px(s, getattr(s, attr)) for s in scores if s.number > 0 or s.kind != "step"]
        if len(trained) > 1:
            d.line(trained, fill=colour, width=3)
        for s in scores:
            x, y = px(s, getattr(s, attr))
            hollow = s.kind == "step" and s.number == 0
            d.ellipse([x - 4, y - 4, x + 4, y + 4], outline=colour, width=2, fill=None if hollow else colour)
    for s in scores:
        x, _ = px(s, 0)
        d.text((x - 14, bottom + 8), str(s.number), fill=(0, 0, 0), font=font)
        if s.best:
            d.text((x - 12, bottom + 24), "best", fill=(200, 0, 0), font=font)
    d.text((10, bottom + 24), "by step" if scores[0].kind == "step" else "by epoch", fill=(0, 0, 0), font=font)
    return img
