"""Group sd-scripts sample images by checkpoint, rank checkpoints, write report.md and a chart."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .score import ImageReport

# {output_name}_{step:06d | e{epoch:06d}}_{enum:02d}_{YYYYmmddHHMMSS}[_{seed}].png (flux_train_utils.py)
SAMPLE_NAME = re.compile(r"^(?P<name>.+)_(?P<num>e?\d{6})_(?P<enum>\d{2})_(?P<stamp>\d{14})(?:_(?P<seed>\d+))?$")


@dataclass
class CheckpointScore:
    name: str
    kind: str  # "step" | "epoch"
    number: int
    images: int
    passed: int
    pass_rate: float
    mean_grey_fraction: float
    mean_cell_agreement: float
    aligned_rate: float
    black_rate: float
    checkpoint_file: str | None
    best: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_sample_name(stem: str) -> tuple[str, str, int] | None:
    m = SAMPLE_NAME.match(stem)
    if not m:
        return None
    num = m.group("num")
    if num.startswith("e"):
        return m.group("name"), "epoch", int(num[1:])
    return m.group("name"), "step", int(num)


def checkpoint_file(sample_dir: Path, name: str, kind: str, number: int, last: bool) -> str | None:
    """The LoRA saved at that point (train_util.py naming), if it is on disk."""
    out = sample_dir.parent if sample_dir.name == "sample" else sample_dir
    names = [f"{name}-step{number:08d}.safetensors"] if kind == "step" else [f"{name}-{number:06d}.safetensors"]
    if last:
        names.append(f"{name}.safetensors")
    for n in names:
        if (out / n).exists():
            return str(out / n)
    return None


def rank(reports: list[ImageReport]) -> list[CheckpointScore]:
    groups: dict[tuple[str, str, int], list[ImageReport]] = {}
    dirs: dict[tuple[str, str, int], Path] = {}
    for r in reports:
        if r.error:
            continue
        parsed = parse_sample_name(Path(r.file).stem)
        if parsed:
            groups.setdefault(parsed, []).append(r)
            dirs[parsed] = Path(r.file).parent
    if not groups:
        return []
    last_step = max(k[2] for k in groups if k[1] == "step") if any(k[1] == "step" for k in groups) else None
    scores = []
    for key in sorted(groups, key=lambda k: (k[0], k[1] != "step", k[2])):
        name, kind, number = key
        rs = groups[key]
        scores.append(CheckpointScore(
            name=name, kind=kind, number=number, images=len(rs),
            passed=sum(r.passed for r in rs),
            pass_rate=round(sum(r.passed for r in rs) / len(rs), 4),
            mean_grey_fraction=round(float(np.mean([r.grey_fraction for r in rs])), 6),
            mean_cell_agreement=round(float(np.mean([r.cell_agreement or 0.0 for r in rs])), 6),
            aligned_rate=round(sum(r.criteria["grid_aligned"] for r in rs) / len(rs), 4),
            black_rate=round(sum(r.criteria["black_background"] for r in rs) / len(rs), 4),
            checkpoint_file=checkpoint_file(dirs[key], name, kind, number, kind == "step" and number == last_step),
        ))
    # step 0 / e000000 samples show the base model before training: a baseline, never "best"
    trained = [s for s in scores if s.number > 0] or scores
    best = max(trained, key=lambda s: (s.pass_rate, s.mean_cell_agreement, -s.mean_grey_fraction, s.number))
    best.best = True
    return scores


def label(s: CheckpointScore) -> str:
    return f"step {s.number}" if s.kind == "step" else f"epoch {s.number}"


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
        pts = [px(s, getattr(s, attr)) for s in scores]
        if len(pts) > 1:
            d.line(pts, fill=colour, width=3)
        for x, y in pts:
            d.ellipse([x - 4, y - 4, x + 4, y + 4], fill=colour)
    for s in scores:
        x, _ = px(s, 0)
        d.text((x - 14, bottom + 8), str(s.number), fill=(0, 0, 0), font=font)
        if s.best:
            d.text((x - 12, bottom + 24), "best", fill=(200, 0, 0), font=font)
    d.text((10, bottom + 24), "by step" if scores[0].kind == "step" else "by epoch", fill=(0, 0, 0), font=font)
    return img
