"""From scored pictures to the sweep's answer: per-checkpoint rates, the winner, report, chart, sheet."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from ..check.score import ImageReport
from ..validation_loss import loss_at
from .jobs import Checkpoint, Job
from .sheet import Tile, contact_sheet
from .stats import Candidate, Interval, Verdict, choose_winner, wilson


@dataclass
class Scored:
    job: Job
    report: ImageReport


@dataclass
class CheckpointResult:
    checkpoint: Checkpoint
    images: int
    passed: int
    interval: Interval
    criteria: dict[str, int]  # criterion -> images meeting it
    per_prompt: dict[int, tuple[int, int]]  # prompt index -> (passed, images)
    mean_cell_agreement: float
    unreadable: int
    winner: bool = False
    best: bool = False

    @property
    def rate(self) -> float:
        return self.passed / self.images if self.images else 0.0

    def as_dict(self) -> dict[str, Any]:
        c = self.checkpoint
        return {
            "checkpoint": c.key,
            "label": c.label,
            "step": c.step,
            "file": str(c.path) if c.path else None,
            "baseline": c.is_baseline,
            "images": self.images,
            "passed": self.passed,
            "pass_rate": round(self.rate, 4),
            "interval95": [round(self.interval.low, 4), round(self.interval.high, 4)],
            "criteria": {
                k: {"passed": v, "rate": round(v / self.images, 4) if self.images else 0.0}
                for k, v in self.criteria.items()
            },
            "per_prompt": {
                str(i): {"passed": p, "images": n} for i, (p, n) in sorted(self.per_prompt.items())
            },
            "mean_cell_agreement": round(self.mean_cell_agreement, 4),
            "unreadable": self.unreadable,
            "winner": self.winner,
            "best": self.best,
        }


@dataclass
class Summary:
    results: list[CheckpointResult]
    verdict: Verdict | None
    prompts: list[str]
    seeds: list[int]
    notes: list[str] = field(default_factory=list)
    losses: dict[int, float] = field(
        default_factory=dict
    )  # the run's validation loss per step (validation_loss.json)

    @property
    def baseline(self) -> CheckpointResult | None:
        return next((r for r in self.results if r.checkpoint.is_baseline), None)

    @property
    def winner(self) -> CheckpointResult | None:
        return next((r for r in self.results if r.winner), None)

    def against_baseline(self) -> str | None:
        w, b = self.winner, self.baseline
        if w is None or b is None:
            return None
        if w.interval.low > b.interval.high:
            return "clearly better than the base model (the intervals do not overlap)"
        if w.interval.overlaps(b.interval):
            return "not distinguishable from the base model at this many images (the intervals overlap)"
        return "worse than the base model"


def summarise(
    scored: list[Scored], checkpoints: list[Checkpoint], prompts: list[str], seeds: list[int]
) -> Summary:
    """Unreadable pictures count as failures: the user would get nothing from them either."""
    results = []
    for ck in checkpoints:
        mine = [s for s in scored if s.job.checkpoint == ck]
        if not mine:
            continue
        readable = [s.report for s in mine if not s.report.error]
        names: list[str] = list(dict.fromkeys(k for r in readable for k in r.criteria)) or list(
            ImageReport("").criteria
        )
        per_prompt: dict[int, tuple[int, int]] = {}
        for s in mine:
            p, n = per_prompt.get(s.job.prompt_index, (0, 0))
            per_prompt[s.job.prompt_index] = (p + int(s.report.passed and not s.report.error), n + 1)
        passed = sum(1 for s in mine if s.report.passed and not s.report.error)
        results.append(
            CheckpointResult(
                checkpoint=ck,
                images=len(mine),
                passed=passed,
                interval=wilson(passed, len(mine)),
                criteria={k: sum(1 for r in readable if r.criteria.get(k)) for k in names},
                per_prompt=per_prompt,
                mean_cell_agreement=sum(r.cell_agreement or 0.0 for r in readable) / len(mine),
                unreadable=len(mine) - len(readable),
            )
        )
    trained = [
        Candidate(
            r.checkpoint.key,
            r.checkpoint.step if r.checkpoint.step is not None else 10**12,
            r.passed,
            r.images,
        )
        for r in results
        if not r.checkpoint.is_baseline
    ]
    verdict = choose_winner(trained)
    for r in results:
        r.winner = verdict is not None and r.checkpoint.key == verdict.winner
        r.best = verdict is not None and r.checkpoint.key == verdict.best
    return Summary(results, verdict, prompts, seeds)


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _yn_rate(n: int, total: int) -> str:
    return f"{_pct(n / total)}" if total else "-"


def markdown(summary: Summary, settings_line: str, stand_in: bool = False) -> str:
    lines = _intro(summary, settings_line, stand_in)
    lines += _winner_section(summary)
    lines += _checkpoint_table(summary)
    lines += _per_prompt_section(summary)
    lines += _closing(summary)
    return "\n".join(lines)


def _intro(summary: Summary, settings_line: str, stand_in: bool) -> list[str]:
    """Title, the rehearsal warning, what was drawn and how pass and winner are decided."""
    lines = ["# ascii-lora verify report", ""]
    if stand_in:
        lines += [
            "> Drawn with random stand-in models (rehearsal): the pictures are noise and every rate is",
            "> expected to be 0. Only the files, names and arithmetic are being proven.",
            "",
        ]
    n_img = len(summary.prompts) * len(summary.seeds)
    lines += [
        f"{len(summary.prompts)} prompts x {len(summary.seeds)} seeds "
        f"({summary.seeds[0]}-{summary.seeds[-1]}) = {n_img} pictures per checkpoint; {settings_line}.",
        "",
    ]
    lines += [
        "Pass = every criterion of `ascii-lora check`. Each pass rate carries a 95% Wilson score interval "
        "over its pictures (the seeds are the random part; the prompts are fixed): at about 30 pictures the "
        "normal approximation collapses to zero width at 0% and 100%, Wilson does not and keeps close to "
        "95% coverage. "
        "Winner: the highest pass rate, unless an earlier checkpoint's interval overlaps it: the data "
        "cannot tell them apart, and the earlier step (less overfit) wins. The base model never wins.",
        "",
    ]
    return lines


def _winner_section(summary: Summary) -> list[str]:
    """The winner, why, the highest rate if that differs, and how it compares with the base model."""
    w, v = summary.winner, summary.verdict
    if w is None or v is None:
        return ["No trained checkpoint was drawn: nothing to choose.", ""]
    lines = [
        f"**Winner: {w.checkpoint.label}** - {w.passed}/{w.images} = {_pct(w.rate)} "
        f"[{_pct(w.interval.low)}, {_pct(w.interval.high)}] - `{w.checkpoint.path}`",
        "",
        f"Why: {v.reason}.",
    ]
    if v.best != v.winner:
        b = next(r for r in summary.results if r.checkpoint.key == v.best)
        lines.append(
            f"Highest pass rate: {b.checkpoint.label}, {b.passed}/{b.images} = {_pct(b.rate)} "
            f"[{_pct(b.interval.low)}, {_pct(b.interval.high)}]."
        )
    vs = summary.against_baseline()
    if vs:
        lines.append(f"Against the base model: {vs}.")
    if w.passed == 0:
        lines.append(
            "No trained checkpoint passed a single picture: the LoRA has not learned the grid; "
            "`ascii-lora check` on the training samples and more steps are the next things to try."
        )
    lines.append("")
    return lines


def _checkpoint_table(summary: Summary) -> list[str]:
    """One row per checkpoint: pictures, passes, rate with interval, validation loss, each criterion."""
    names = list(dict.fromkeys(k for r in summary.results for k in r.criteria))
    loss_head = "validation loss | " if summary.losses else ""
    head = (
        f"| checkpoint | pictures | passed | pass rate | 95% interval | {loss_head}"
        + " | ".join(n.replace("_", " ") for n in names)
        + " | mean cell agreement | file |"
    )
    lines = [head, "|" + "---|" * 2 + "---:|" * (3 + bool(summary.losses) + len(names) + 1) + "---|"]
    for r in summary.results:
        mark = " **winner**" if r.winner else (" (highest rate)" if r.best else "")
        crit = " | ".join(_yn_rate(r.criteria.get(n, 0), r.images) for n in names)
        f = r.checkpoint.path.name if r.checkpoint.path else "(no LoRA)"
        loss = f"{loss_at(summary.losses, r.checkpoint.step)} | " if summary.losses else ""
        lines.append(
            f"| {r.checkpoint.label}{mark} | {r.images} | {r.passed} | {_pct(r.rate)} | "
            f"{_pct(r.interval.low)}-{_pct(r.interval.high)} | "
            f"{loss}{crit} | {r.mean_cell_agreement:.3f} | {f} |"
        )
    return lines


def _per_prompt_section(summary: Summary) -> list[str]:
    """Passes per prompt and checkpoint, then the prompts themselves."""
    lines = [
        "",
        "## Pass rate per prompt",
        "",
        "| checkpoint | " + " | ".join(f"p{i:02d}" for i in range(len(summary.prompts))) + " |",
        "|---|" + "---:|" * len(summary.prompts),
    ]
    for r in summary.results:
        cells = []
        for i in range(len(summary.prompts)):
            p, n = r.per_prompt.get(i, (0, 0))
            cells.append(f"{p}/{n}" if n else "-")
        lines.append(f"| {r.checkpoint.label} | " + " | ".join(cells) + " |")
    lines += ["", "Prompts:", ""] + [f"- p{i:02d}: `{p}`" for i, p in enumerate(summary.prompts)]
    return lines


def _closing(summary: Summary) -> list[str]:
    """Unreadable pictures, notes, the chart and sheet, and where every verdict is."""
    lines: list[str] = []
    unreadable = sum(r.unreadable for r in summary.results)
    if unreadable:
        lines += ["", f"{unreadable} picture(s) could not be read and count as failures (see scores.json)."]
    for note in summary.notes:
        lines += ["", f"Note: {note}"]
    lines += [
        "",
        "![pass rate by checkpoint](chart.png)",
        "",
        "![winner next to the base model](contact_sheet.png)",
        "",
        "Every picture's verdict: `scores.json`; per picture: `<checkpoint>/pNN_sSEED.png` with "
        "`.check.json` and `.ascii`.",
        "",
    ]
    return lines


CRITERION_COLOURS = [(44, 160, 44), (148, 103, 189), (255, 127, 14), (140, 86, 75)]


def chart(summary: Summary, width: int = 900, height: int = 440) -> Image.Image:
    """Pass rate with its interval per checkpoint (base model first, shaded across), criteria as thin lines."""
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    left, right, top, bottom = 60, width - 150, 34, height - 56
    d.rectangle([left, top, right, bottom], outline=(0, 0, 0))
    d.text(
        (left, 8),
        "pass rate with 95% Wilson interval (blue); per criterion (thin)",
        fill=(0, 0, 0),
        font=font,
    )
    for v in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = bottom - v * (bottom - top)
        d.line([left, y, right, y], fill=(225, 225, 225))
        d.text((10, y - 6), f"{v:.0%}", fill=(0, 0, 0), font=font)
    rs = summary.results
    if not rs:
        return img

    def yv(v: float) -> float:
        return bottom - v * (bottom - top)

    step = (right - left) / (len(rs) + 1)
    xs = [left + step * (i + 1) for i in range(len(rs))]
    base = summary.baseline
    if base is not None:
        d.rectangle(
            [left + 1, yv(base.interval.high), right - 1, yv(base.interval.low)], fill=(235, 235, 235)
        )
        d.line([left, yv(base.rate), right, yv(base.rate)], fill=(150, 150, 150), width=1)
        d.text((right + 6, yv(base.rate) - 6), "base model", fill=(120, 120, 120), font=font)
    names = list(dict.fromkeys(k for r in rs for k in r.criteria))
    for k, name in enumerate(names):
        colour = CRITERION_COLOURS[k % len(CRITERION_COLOURS)]
        pts = [
            (x, yv(r.criteria.get(name, 0) / r.images if r.images else 0))
            for x, r in zip(xs, rs, strict=False)
        ]
        if len(pts) > 1:
            d.line(pts, fill=colour, width=1)
        d.text((right + 6, top + 14 * k), name.replace("_", " "), fill=colour, font=font)
    blue = (31, 119, 180)
    for x, r in zip(xs, rs, strict=False):
        d.line([x, yv(r.interval.low), x, yv(r.interval.high)], fill=blue, width=2)
        for v in (r.interval.low, r.interval.high):
            d.line([x - 5, yv(v), x + 5, yv(v)], fill=blue, width=2)
        d.ellipse([x - 5, yv(r.rate) - 5, x + 5, yv(r.rate) + 5], fill=blue)
        label = (
            "base"
            if r.checkpoint.is_baseline
            else (str(r.checkpoint.step) if r.checkpoint.step is not None else r.checkpoint.key)
        )
        d.text((x - 3 * len(label), bottom + 8), label, fill=(0, 0, 0), font=font)
        if r.winner:
            d.text((x - 15, bottom + 24), "winner", fill=(200, 0, 0), font=font)
    d.text((10, bottom + 40), "checkpoint (training step)", fill=(0, 0, 0), font=font)
    return img


def winner_sheet(summary: Summary, scored: list[Scored], columns: int = 4) -> Image.Image | None:
    """One row per prompt: the base model's first seeds, then the winner's at the same seeds."""
    w = summary.winner
    groups = [r for r in (summary.baseline, w) if r is not None]
    if not groups:
        return None
    by = {(s.job.checkpoint.key, s.job.prompt_index, s.job.seed): s for s in scored}
    seeds = summary.seeds[:columns]
    rows: list[list[Tile | None]] = []
    for i in range(len(summary.prompts)):
        row: list[Tile | None] = []
        for g in groups:
            for seed in seeds:
                s = by.get((g.checkpoint.key, i, seed))
                row.append(
                    Tile(s.job.out, s.report.passed and not s.report.error, f"seed {seed}") if s else None
                )
        rows.append(row)
    titles = [
        (k * len(seeds), g.checkpoint.label + (" (winner)" if g.winner else "")) for k, g in enumerate(groups)
    ]
    return contact_sheet(
        rows,
        [f"p{i:02d}" for i in range(len(summary.prompts))],
        titles,
        title="green frame: passes the checker; red: fails",
        group_gap=[len(seeds)] if len(groups) > 1 else None,
    )
