"""What verify measured, read back from its ``scores.json``: the numbers the model card quotes.

The card never recomputes a verdict: it quotes the sweep's counts, and only derives the 95 %
interval of each criterion with the sweep's own Wilson function (scores.json keeps counts for them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..fsutil import read_regular
from ..verify.stats import Interval, wilson
from ..verify.sweep import SCORES

MAX_SCORES_BYTES = 64 << 20


@dataclass(frozen=True)
class Rate:
    passed: int
    images: int
    interval: Interval

    @property
    def rate(self) -> float:
        return self.passed / self.images if self.images else 0.0


@dataclass(frozen=True)
class Row:
    """One checkpoint of the sweep: overall and per-criterion rates, each with its interval."""

    label: str
    overall: Rate
    criteria: dict[str, Rate]


@dataclass(frozen=True)
class Picture:
    prompt_index: int
    prompt: str
    seed: int
    png: Path
    passed: bool


@dataclass
class Measured:
    verify_dir: Path
    stand_in: bool
    settings: dict[str, Any]
    lora: Row | None  # None: the published file was not among the checkpoints drawn
    base: Row | None  # None: the sweep drew no baseline
    pictures: list[Picture] = field(default_factory=list)  # the published file's, one per prompt


def _row(entry: dict[str, Any]) -> Row:
    n = int(entry["images"])
    crit = {
        k: Rate(int(v["passed"]), n, wilson(int(v["passed"]), n))
        for k, v in entry.get("criteria", {}).items()
    }
    passed = int(entry["passed"])
    return Row(entry.get("label") or entry["checkpoint"], Rate(passed, n, wilson(passed, n)), crit)


def _same_file(recorded: str | None, lora: Path) -> bool:
    """The sweep records absolute paths; a run folder that moved still matches by its file name."""
    if not recorded:
        return False
    rec = Path(recorded)
    return rec.resolve() == lora.resolve() or rec.name == lora.name


def _pictures(data: dict[str, Any], key: str) -> list[Picture]:
    """Per prompt: the first passing seed of the checkpoint, else its first seed."""
    prompts = data.get("settings", {}).get("prompts", [])
    best: dict[int, dict[str, Any]] = {}
    for img in sorted(
        (i for i in data.get("images", []) if i.get("checkpoint") == key), key=lambda i: i["seed"]
    ):
        now = best.get(img["prompt"])
        ok = bool(img.get("passed")) and not img.get("error")
        if now is None or (ok and not (now.get("passed") and not now.get("error"))):
            best[img["prompt"]] = img
    out = []
    for i, img in sorted(best.items()):
        png = Path(img["file"])
        if png.is_file() and i < len(prompts):
            out.append(
                Picture(
                    i, prompts[i], int(img["seed"]), png, bool(img.get("passed")) and not img.get("error")
                )
            )
    return out


def read_measured(run_dir: Path, lora: Path) -> Measured | None:
    """None when the run was never verified; one UserError line when its scores.json is unreadable."""
    path = Path(run_dir) / "verify" / SCORES
    if not path.exists():
        return None
    try:
        data = json.loads(read_regular(path, MAX_SCORES_BYTES).decode("utf-8"))
        rows = data["checkpoints"]
        base = next((_row(r) for r in rows if r.get("baseline")), None)
        mine = next((r for r in rows if not r.get("baseline") and _same_file(r.get("file"), lora)), None)
        return Measured(
            path.parent,
            bool(data.get("stand_in")),
            dict(data.get("settings", {})),
            _row(mine) if mine else None,
            base,
            _pictures(data, mine["checkpoint"]) if mine else [],
        )
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise UserError(
            f"{path}: not a verify result this version can read ({type(e).__name__}: {e}); "
            "re-run `ascii-lora verify` (it re-reports without drawing again)"
        ) from None
