"""Group sd-scripts samples or SimpleTuner validation images by checkpoint and rank the checkpoints
(pure; report.py draws them).

Best = highest pass rate, ties broken by the mean geometry score; a checkpoint that draws
nothing in most samples can never be best, however clean its empty pictures look."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .score import ImageReport

# {output_name}_{step:06d | e{epoch:06d}}_{enum:02d}_{YYYYmmddHHMMSS}[_{seed}].png (flux_train_utils.py)
SAMPLE_NAME = re.compile(
    r"^(?P<name>.+)_(?P<num>e?\d{6})_(?P<enum>\d{2})_(?P<stamp>\d{14})(?:_(?P<seed>\d+))?$"
)
# SimpleTuner 3.1.6: <output_dir>/validation_images/step_{global_step}_{shortname}_{index}_{W}x{H}.png
# (helpers/training/validation_images.py save_images; pinned in tests/fixtures/simpletuner_facts.json)
SIMPLETUNER_NAME = re.compile(r"^step_(?P<step>\d+)_(?P<shortname>.+)_(?P<index>\d+)_(?P<w>\d+)x(?P<h>\d+)$")
SIMPLETUNER = "simpletuner"  # the group name of SimpleTuner's validation images (it has no output_name)
SIMPLETUNER_SAMPLES = "validation_images"
SIMPLETUNER_LORA = (
    "pytorch_lora_weights.safetensors"  # in checkpoint-{step}/ and, when finished, in output_dir
)


MIN_CONTENT_RATE = 0.5  # a best checkpoint draws something in at least half its samples


@dataclass
class CheckpointScore:
    name: str
    kind: str  # "step" | "epoch"
    number: int
    images: int
    passed: int
    pass_rate: float
    content_rate: float
    black_rate: float
    crisp_rate: float
    aligned_rate: float
    mean_grid_score: float
    mean_edge_grey: float
    mean_cell_agreement: float
    checkpoint_file: str | None
    best: bool = False
    superseded: int = 0  # older samples of the same prompt at this step, left out (another model drew them)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_sample_name(stem: str) -> tuple[str, str, int] | None:
    """(group, "step" | "epoch", number) of an sd-scripts sample or a SimpleTuner validation image.

    ``e000000`` is the step-0 baseline, not an epoch: sd-scripts draws ``--sample_at_first`` with
    epoch 0 (train_network.py calls sample_images with epoch=0 at step 0), so the base model's
    samples are named ``{name}_e000000_NN_...``, ranked at step 0 beside the step samples.
    """
    m = SAMPLE_NAME.match(stem)
    if not m:
        st = SIMPLETUNER_NAME.match(stem)
        return (SIMPLETUNER, "step", int(st.group("step"))) if st else None
    num = m.group("num")
    if num.startswith("e") and int(num[1:]) > 0:
        return m.group("name"), "epoch", int(num[1:])
    return m.group("name"), "step", int(num.lstrip("e"))


def prompt_and_stamp(stem: str) -> tuple[int, str] | None:
    """(prompt index, YYYYmmddHHMMSS) of a sample name."""
    m = SAMPLE_NAME.match(stem)
    return (int(m.group("enum")), m.group("stamp")) if m else None


def checkpoint_file(sample_dir: Path, name: str, kind: str, number: int, last: bool) -> str | None:
    """The LoRA saved at that point (sd-scripts' train_util.py or SimpleTuner's naming), if it is on disk."""
    if name == SIMPLETUNER:
        out = sample_dir.parent if sample_dir.name == SIMPLETUNER_SAMPLES else sample_dir
        names = [f"checkpoint-{number}/{SIMPLETUNER_LORA}"] + ([SIMPLETUNER_LORA] if last else [])
        for n in names:
            if (out / n).exists():
                return str(out / n)
        return None
    out = sample_dir.parent if sample_dir.name == "sample" else sample_dir
    names = (
        [f"{name}-step{number:08d}.safetensors"] if kind == "step" else [f"{name}-{number:06d}.safetensors"]
    )
    if last:
        names.append(f"{name}.safetensors")
    for n in names:
        if (out / n).exists():
            return str(out / n)
    return None


Key = tuple[str, str, int]  # (group, "step" | "epoch", number)


def newest_per_prompt(reports: list[ImageReport]) -> tuple[dict[Key, list[ImageReport]], dict[Key, int]]:
    """Each checkpoint's reports, one per prompt (the newest), and how many older ones were left out.

    Two samples of the same prompt at the same step come from two models (a run resumed before
    segments renumbered its files drew "step 2" again with another LoRA): only the newest counts.
    """
    newest: dict[Key, dict[int | str, tuple[str, ImageReport]]] = {}  # prompt index, or the name itself
    superseded: dict[Key, int] = {}
    for r in reports:
        stem = Path(r.file).stem
        parsed = None if r.error else parse_sample_name(stem)
        if not parsed:
            continue
        enum, stamp = prompt_and_stamp(stem) or (stem, "")  # SimpleTuner names: one image per name
        per_prompt = newest.setdefault(parsed, {})
        if enum in per_prompt:
            superseded[parsed] = superseded.get(parsed, 0) + 1
            if per_prompt[enum][0] >= stamp:
                continue
        per_prompt[enum] = (stamp, r)
    return {k: [r for _, (_, r) in sorted(v.items())] for k, v in newest.items()}, superseded


def score_checkpoint(
    key: Key, rs: list[ImageReport], checkpoint: str | None, superseded: int
) -> CheckpointScore:
    """Rates and means of one checkpoint's reports."""
    name, kind, number = key

    def rate(criterion: str) -> float:
        return round(sum(r.criteria[criterion] for r in rs) / len(rs), 4)

    def mean(values: list[float | None]) -> float:
        return round(float(np.mean([v or 0.0 for v in values])), 6)

    return CheckpointScore(
        name=name,
        kind=kind,
        number=number,
        images=len(rs),
        passed=sum(r.passed for r in rs),
        pass_rate=round(sum(r.passed for r in rs) / len(rs), 4),
        content_rate=rate("content"),
        black_rate=rate("black_background"),
        crisp_rate=rate("crisp"),
        aligned_rate=rate("grid_aligned"),
        mean_grid_score=mean([r.grid_score for r in rs]),
        mean_edge_grey=mean([r.edge_grey for r in rs]),
        mean_cell_agreement=mean([r.cell_agreement for r in rs]),
        checkpoint_file=checkpoint,
        superseded=superseded,
    )


def mark_best(scores: list[CheckpointScore]) -> None:
    """Best = highest pass rate, ties by mean grid score, aligned rate, crispness, later step.

    Step 0 / e000000 samples show the base model before training: a baseline, never "best"; a
    checkpoint whose samples mostly draw nothing (a collapsed LoRA) is never best either.
    """
    trained = [s for s in scores if s.number > 0] or scores
    drawing = [s for s in trained if s.content_rate >= MIN_CONTENT_RATE]
    if drawing:
        best = max(
            drawing,
            key=lambda s: (s.pass_rate, s.mean_grid_score, s.aligned_rate, -s.mean_edge_grey, s.number),
        )
        best.best = True


def rank(reports: list[ImageReport]) -> list[CheckpointScore]:
    """One score per checkpoint (cumulative step); each prompt counted once, its newest sample."""
    groups, superseded = newest_per_prompt(reports)
    if not groups:
        return []
    steps = [k[2] for k in groups if k[1] == "step"]
    last_step = max(steps) if steps else None
    scores = []
    for key in sorted(groups, key=lambda k: (k[0], k[1] != "step", k[2])):
        name, kind, number = key
        rs = groups[key]
        found = checkpoint_file(
            Path(rs[0].file).parent, name, kind, number, kind == "step" and number == last_step
        )
        scores.append(score_checkpoint(key, rs, found, superseded.get(key, 0)))
    mark_best(scores)
    return scores


def label(s: CheckpointScore) -> str:
    if s.kind == "step" and s.number == 0:
        return "step 0 (base model)"
    return f"step {s.number}" if s.kind == "step" else f"epoch {s.number}"
