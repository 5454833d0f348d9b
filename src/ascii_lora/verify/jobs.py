"""What a verification sweep draws, where each picture goes, and whether it is already there.

Pure but for reading directory listings and safetensors headers: the same run always yields the
same job list in the same order, so an interrupted sweep resumes exactly where it stopped. A
picture counts as drawn only when its PNG and its job record (``<stem>.job.json``, written after
the PNG) both exist and the record equals what would be drawn now; a changed prompt, seed,
sampler setting, precision or LoRA file makes it pending again.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import TRIGGER_WORD
from ..config.models import ExperimentConfig, VerificationPrompt
from ..errors import UserError
from ..train.safetensors_header import NotSafetensors, read_header

BASELINE = "baseline"
FINAL = "final"
RECORD_SUFFIX = ".job.json"
CHECK_SUFFIX = ".check.json"


@dataclass(frozen=True)
class Checkpoint:
    key: str  # folder name under verify/: baseline, step00000500, epoch000002, final, or a file stem
    step: int | None  # training step it was saved at; 0 for the base model; None when unknown
    path: Path | None  # the LoRA; None draws the base model alone

    @property
    def is_baseline(self) -> bool:
        return self.path is None

    @property
    def label(self) -> str:
        if self.is_baseline:
            return "base model"
        if self.key == FINAL:
            return f"final (step {self.step})" if self.step is not None else "final"
        if self.key.startswith("step") and self.step is not None:
            return f"step {self.step}"
        if self.key.startswith("epoch") and self.step is not None:
            return f"{self.key[:5]} {int(self.key[5:])} (step {self.step})"
        return self.key


def _steps_in(path: Path) -> int | None:
    """The step sd-scripts recorded in the file (``ss_steps``), None when absent or unreadable."""
    try:
        return int(read_header(path).metadata["ss_steps"])
    except (NotSafetensors, OSError, KeyError, ValueError):
        return None


def discover(run_dir: Path, output_name: str) -> tuple[list[Checkpoint], list[str]]:
    """Saved LoRAs of a run, in training order, and notes on what was left out and why.

    sd-scripts (train_util.py) names them ``{name}-step{N:08d}``, ``{name}-{E:06d}`` (epochs) and
    ``{name}`` (the end of training). When the run ends on a save step, the final file and the last
    step file hold the same weights: drawing both would spend GPU time on a duplicate.
    """
    step_re = re.compile(rf"^{re.escape(output_name)}-step(\d{{8}})\.safetensors$")
    epoch_re = re.compile(rf"^{re.escape(output_name)}-(\d{{6}})\.safetensors$")
    found: list[Checkpoint] = []
    notes: list[str] = []
    final = None
    for p in sorted(run_dir.glob(f"{output_name}*.safetensors")) if run_dir.is_dir() else []:
        if m := step_re.match(p.name):
            found.append(Checkpoint(f"step{int(m.group(1)):08d}", int(m.group(1)), p))
        elif m := epoch_re.match(p.name):
            found.append(Checkpoint(f"epoch{int(m.group(1)):06d}", _steps_in(p), p))
        elif p.name == f"{output_name}.safetensors":
            final = Checkpoint(FINAL, _steps_in(p), p)
    if final is not None:
        twin = next((c for c in found if c.step is not None and c.step == final.step), None)
        if twin is not None:
            assert final.path is not None and twin.path is not None  # both were found as files above
            notes.append(
                f"{final.path.name} is the step-{final.step} save ({twin.path.name}) under its final name: drawn once, as {twin.label}"
            )
        else:
            found.append(final)
    found.sort(key=lambda c: (c.step is None, c.step if c.step is not None else 0, c.key))
    return found, notes


def select(available: list[Checkpoint], spec: str | None, final_file: Path | None = None) -> list[Checkpoint]:
    """``--checkpoints``: comma-separated steps (``500,1500``), ``final``, ``last``, ``all`` or LoRA files."""
    if not spec or spec.strip() == "all":
        return list(available)
    chosen: list[Checkpoint] = []
    steps = ", ".join(str(c.step) for c in available if c.step is not None) or "none"
    for token in (t.strip() for t in spec.split(",")):
        if not token:
            continue
        pick: Checkpoint | None
        if token == "last":
            if not available:
                raise UserError("--checkpoints last: the run has no saved LoRA yet")
            pick = available[-1]
        elif token == FINAL:
            pick = None
            if final_file is not None and final_file.is_file():
                fstep = _steps_in(final_file)
                pick = next(
                    (c for c in available if c.path == final_file or (fstep is not None and c.step == fstep)),
                    None,
                )
            if pick is None:
                raise UserError(
                    "--checkpoints final: the run has no final LoRA yet (training has not finished); saved steps: "
                    + steps
                )
        elif token.isascii() and token.isdigit():  # not int() of '²' or of 5,000 digits
            pick = next((c for c in available if len(token) <= 12 and c.step == int(token)), None)
            if pick is None:
                shown = token if len(token) <= 20 else f"{token[:12]}... ({len(token)} digits)"
                raise UserError(f"--checkpoints: no LoRA saved at step {shown}; saved steps: {steps}")
        elif token.endswith(".safetensors"):
            path = Path(token).resolve()
            if not path.is_file():
                raise UserError(f"--checkpoints: {token} does not exist")
            pick = next(
                (c for c in available if c.path is not None and c.path.resolve() == path.resolve()), None
            )
            pick = pick or Checkpoint(re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem), _steps_in(path), path)
        else:
            raise UserError(
                f"--checkpoints: {token!r} is not a step number, 'final', 'last', 'all' or a .safetensors file"
            )
        if pick not in chosen:
            chosen.append(pick)
    if not chosen:  # ",,," or " , ": not "no LoRA saved yet"
        raise UserError(
            f"--checkpoints {spec!r} names no checkpoint: give steps like 500,1500, 'final', "
            "'last', 'all' or .safetensors files"
        )
    return chosen


def verify_prompts(cfg: ExperimentConfig) -> list[str]:
    """The ``[sample]`` prompts, with the kit's verification prompt first if the user dropped it."""
    prompts = [p.strip() for p in cfg.sample.prompts]
    return prompts if VerificationPrompt in prompts else [VerificationPrompt, *prompts]


def with_trigger(prompt: str) -> tuple[str, bool]:
    """The prompt as drawn, and whether the trigger word had to be added (the LoRA keys on it)."""
    p = " ".join(prompt.split())
    if TRIGGER_WORD in p:
        return p, False
    return f"{TRIGGER_WORD}, {p}" if p else TRIGGER_WORD, True


@dataclass(frozen=True)
class Settings:
    """Everything besides prompt, seed and LoRA that changes the picture."""

    width: int
    height: int
    steps: int
    guidance: float
    multiplier: float
    precision: str  # bf16 | fp8: how FLUX is held in memory

    @classmethod
    def from_config(cls, cfg: ExperimentConfig, precision: str) -> Settings:
        v, s = cfg.verify, cfg.sample
        return cls(
            width=s.width,
            height=s.height,
            steps=v.steps or s.steps,
            guidance=v.guidance or s.guidance,
            multiplier=v.multiplier,
            precision=precision,
        )


@dataclass(frozen=True)
class Job:
    checkpoint: Checkpoint
    prompt_index: int
    prompt: str
    seed: int
    out: Path
    record: dict[str, Any]

    @property
    def record_path(self) -> Path:
        return record_path(self.out)

    def spec(self, settings: Settings) -> dict[str, Any]:
        """The job as the drawing worker reads it (JSON)."""
        return {
            "out": str(self.out),
            "record": self.record,
            "prompt": self.prompt,
            "seed": self.seed,
            "width": settings.width,
            "height": settings.height,
            "steps": settings.steps,
            "guidance": settings.guidance,
            "lora": str(self.checkpoint.path) if self.checkpoint.path else None,
            "multiplier": settings.multiplier,
        }


def record_path(png: Path) -> Path:
    return png.with_name(png.stem + RECORD_SUFFIX)


def check_path(png: Path) -> Path:
    return png.with_name(png.stem + CHECK_SUFFIX)


def file_identity(path: Path) -> dict[str, Any]:
    """Enough to notice that a file was replaced, without hashing gigabytes: the tensor hash
    sd-scripts stores in a LoRA's metadata when there is one, else size and modification time."""
    st = path.stat()
    ident: dict[str, Any] = {"name": path.name, "size": st.st_size}
    try:
        h = read_header(path).metadata.get("sshs_model_hash")
    except (NotSafetensors, OSError):
        h = None
    if h:
        ident["sshs_model_hash"] = h
    else:
        ident["mtime_ns"] = st.st_mtime_ns
    return ident


def make_record(
    prompt: str, seed: int, settings: Settings, lora: Path | None, base: dict[str, Any]
) -> dict[str, Any]:
    return {
        "prompt": prompt,
        "seed": seed,
        "width": settings.width,
        "height": settings.height,
        "steps": settings.steps,
        "guidance": settings.guidance,
        "precision": settings.precision,
        "lora": file_identity(lora) if lora else None,
        "multiplier": settings.multiplier if lora else None,
        "base": base,
    }


def base_identity(cfg: ExperimentConfig, root: Path) -> dict[str, Any]:
    """Which base model drew the picture: the FLUX file's name and size (present or not)."""
    p = Path(cfg.model.flux)
    p = p if p.is_absolute() else root / p
    return {"flux": p.name, "size": p.stat().st_size if p.exists() else None}


def image_name(prompt_index: int, seed: int) -> str:
    return f"p{prompt_index:02d}_s{seed:04d}.png"


def build_jobs(
    checkpoints: list[Checkpoint],
    prompts: list[str],
    seeds: list[int],
    settings: Settings,
    verify_dir: Path,
    base: dict[str, Any],
) -> list[Job]:
    """Checkpoint-major order: the worker switches LoRA weights once per checkpoint."""
    jobs = []
    for ck in checkpoints:
        for i, prompt in enumerate(prompts):
            for seed in seeds:
                out = verify_dir / ck.key / image_name(i, seed)
                jobs.append(Job(ck, i, prompt, seed, out, make_record(prompt, seed, settings, ck.path, base)))
    return jobs


def read_record(png: Path) -> dict[str, Any] | None:
    try:
        return json.loads(record_path(png).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None


def is_drawn(out: Path, record: dict[str, Any]) -> bool:
    """Drawn = PNG present and its record equals this job's (JSON round trip: floats and tuples compare alike)."""
    return out.is_file() and read_record(out) == json.loads(json.dumps(record))
