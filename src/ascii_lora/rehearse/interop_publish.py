"""The rehearsal's `publish --dry-run` phase: the folder the Hub would get, for the LoRA the rehearsal trained.

Why a phase: the publish tests build their runs by hand; only here does the card quote a verify
sweep that the real trainer's LoRA went through. The judge is huggingface_hub's own ``ModelCard``
(in the train environment, beside diffusers) for the metadata, and the sweep's per-picture records,
counted here, for the numbers the body must carry: never the card code's own summary.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import TRIGGER_WORD
from ..config.models import ExperimentConfig
from .interop_diffusers import InteropError

REPO = "ascii-lora/rehearsal"  # never uploaded: a dry run
TAGS = {"flux", "lora", "text-to-image", "diffusers", "template:sd-lora", "ascii-lora"}


def _counted(scores: dict[str, Any], lora_name: str) -> dict[str, tuple[int, int]]:
    """Per checkpoint label the sweep drew ("base" for the baseline): (passing pictures, pictures)."""
    keys = {
        r["checkpoint"]: ("base" if r.get("baseline") else Path(r.get("file") or "").name)
        for r in scores["checkpoints"]
    }
    out: dict[str, tuple[int, int]] = {}
    for img in scores["images"]:
        label = keys.get(img["checkpoint"], "?")
        passed, n = out.get(label, (0, 0))
        out[label] = (passed + int(bool(img.get("passed")) and not img.get("error")), n + 1)
    return {k: v for k, v in out.items() if k in ("base", lora_name)}


def _metadata_problems(data: dict[str, Any], folder: Path, trigger: str) -> list[str]:
    want = {
        "base_model": "black-forest-labs/FLUX.1-dev",
        "base_model_relation": "adapter",
        "license": "other",
    }
    problems = [f"{k} is {data.get(k)!r}, not {v!r}" for k, v in want.items() if data.get(k) != v]
    missing = TAGS - set(data.get("tags") or [])
    if missing:
        problems.append(f"tags lack {sorted(missing)}")
    if trigger not in str(data.get("instance_prompt", "")):
        problems.append(f"instance_prompt {data.get('instance_prompt')!r} lacks the trigger word {trigger!r}")
    widgets = data.get("widget") or []
    if not widgets:
        problems.append("no widget")
    for w in widgets:
        url = (w.get("output") or {}).get("url", "")
        if not (folder / url).is_file():
            problems.append(f"widget picture {url!r} is not in the folder")
    return problems


def publish_dry_run(
    cfg: ExperimentConfig, run_dir: Path, out: Path, say: Callable[[str], None] = lambda m: None
) -> str:
    """`publish --dry-run --out <out>` on the rehearsal's run (verify's winner, as a user's publish takes):
    its OK line, or InteropError naming everything wrong."""
    from huggingface_hub import ModelCard

    from ..publish.run import publish

    published = publish(cfg, run_dir, REPO, out=out, dry_run=True, say=say)  # chooses as a user's would
    lora = published.choice.path
    card = ModelCard.load(out / "README.md")
    problems = _metadata_problems(card.data.to_dict(), out, TRIGGER_WORD)
    scores_file = Path(run_dir) / "verify" / "scores.json"
    if not scores_file.is_file():
        raise InteropError(f"{scores_file} is missing: the verify phase runs before this one")
    counts = _counted(json.loads(scores_file.read_text(encoding="utf-8")), lora.name)
    for label in ("base", lora.name):
        if label not in counts:
            problems.append(f"the sweep drew nothing for {label}")
            continue
        passed, n = counts[label]
        if f"| {passed}/{n} = " not in card.text:
            problems.append(f"the card does not quote {label}'s {passed}/{n} passing pictures")
    if not (out / "verify" / "report.md").is_file():
        problems.append("verify/report.md is not in the folder")
    if counts.get(lora.name, (0, 0))[0] and not any(out.glob("ascii/*.ascii")):
        problems.append("the LoRA has passing pictures but the folder holds no read-back .ascii")
    if problems:
        raise InteropError("; ".join(problems))
    lines = ", ".join(f"{k} {p}/{n}" for k, (p, n) in counts.items())
    return (
        f"huggingface_hub ModelCard parsed {out / 'README.md'}: FLUX.1-dev adapter metadata, "
        f"{len(card.data.to_dict().get('widget') or [])} widget pictures in the folder, "
        f"{len(published.folder.files)} files; {lora.name} ({published.choice.why}); the card quotes the "
        f"sweep's own counts ({lines})"
    )
