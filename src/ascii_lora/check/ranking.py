"""Group sd-scripts sample images by checkpoint and rank the checkpoints (pure; report.py draws them)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

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
    superseded: int = 0  # older samples of the same prompt at this step, left out (another model drew them)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_sample_name(stem: str) -> tuple[str, str, int] | None:
    """(output name, "step" | "epoch", number). ``e000000`` is the step-0 baseline, not an epoch.

    sd-scripts draws ``--sample_at_first`` with epoch 0 (train_network.py calls sample_images with
    epoch=0 at step 0), so the base model's samples are named ``{name}_e000000_NN_...``: the
    baseline before training, ranked at step 0 beside the step samples.
    """
    m = SAMPLE_NAME.match(stem)
    if not m:
        return None
    num = m.group("num")
    if num.startswith("e") and int(num[1:]) > 0:
        return m.group("name"), "epoch", int(num[1:])
    return m.group("name"), "step", int(num.lstrip("e"))


def prompt_and_stamp(stem: str) -> tuple[int, str] | None:
    """(prompt index, YYYYmmddHHMMSS) of a sample name."""
    m = SAMPLE_NAME.match(stem)
    return (int(m.group("enum")), m.group("stamp")) if m else None


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
    """One score per checkpoint (cumulative step); each prompt counted once, its newest sample.

    Two samples of the same prompt at the same step come from two models (a run resumed before
    segments renumbered its files drew "step 2" again with another LoRA): only the newest is
    scored, the older ones are counted in ``superseded``.
    """
    newest: dict[tuple[str, str, int], dict[int, tuple[str, ImageReport]]] = {}
    superseded: dict[tuple[str, str, int], int] = {}
    for r in reports:
        if r.error:
            continue
        stem = Path(r.file).stem
        parsed = parse_sample_name(stem)
        if not parsed:
            continue
        enum, stamp = prompt_and_stamp(stem)
        per_prompt = newest.setdefault(parsed, {})
        if enum in per_prompt:
            superseded[parsed] = superseded.get(parsed, 0) + 1
            if per_prompt[enum][0] >= stamp:
                continue
        per_prompt[enum] = (stamp, r)
    groups = {k: [r for _, (_, r) in sorted(v.items())] for k, v in newest.items()}
    dirs = {k: Path(rs[0].file).parent for k, rs in groups.items()}
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
            superseded=superseded.get(key, 0),
        ))
    # step 0 / e000000 samples show the base model before training: a baseline, never "best"
    trained = [s for s in scores if s.number > 0] or scores
    best = max(trained, key=lambda s: (s.pass_rate, s.mean_cell_agreement, -s.mean_grey_fraction, s.number))
    best.best = True
    return scores


def label(s: CheckpointScore) -> str:
    if s.kind == "step" and s.number == 0:
        return "step 0 (base model)"
    return f"step {s.number}" if s.kind == "step" else f"epoch {s.number}"
