"""What a trained LoRA file is, from its safetensors header alone (no torch, no tensor data)."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..config.models import ExperimentConfig
from .kohya.plan import SD_SCRIPTS_COMMIT
from .safetensors_header import Header, NotSafetensors, TensorInfo, read_header

# FLUX has 19 double and 38 single blocks: a longer number is no block of it (and int() refuses 4300+ digits)
BLOCK = re.compile(r"^lora_unet_(double_blocks|single_blocks)_(\d{1,6})_")
# SimpleTuner saves diffusers/PEFT names: transformer.{transformer_blocks|single_transformer_blocks}.N.<layer>.lora_A/B
PEFT_BLOCK = re.compile(r"^transformer\.(transformer_blocks|single_transformer_blocks)\.(\d{1,6})\.")
PEFT_BLOCK_NAMES = {"transformer_blocks": "double_blocks", "single_transformer_blocks": "single_blocks"}


@dataclass
class LoraInfo:
    file: str
    modules: int
    rank: int | None
    ranks: list[int]
    alpha: float | None
    module: str | None
    base_model: str | None
    dtype: str
    parameters: int
    blocks: dict[str, list[int]]
    other_modules: int
    training: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON: a non-finite alpha is null (the warnings say which), never ``Infinity``/``NaN``."""
        out = asdict(self)
        if out["alpha"] is not None and not math.isfinite(out["alpha"]):
            out["alpha"] = None
        return out


TRAINING_KEYS = {
    "steps": "ss_steps",
    "epoch": "ss_epoch",
    "learning_rate": "ss_learning_rate",
    "seed": "ss_seed",
    "optimizer": "ss_optimizer",
    "mixed_precision": "ss_mixed_precision",
    "fp8_base": "ss_fp8_base",
    "guidance_scale": "ss_guidance_scale",
    "timestep_sampling": "ss_timestep_sampling",
    "sd_scripts_commit": "ss_sd_scripts_commit_hash",
    "training_comment": "ss_training_comment",
    "title": "modelspec.title",
    "architecture": "modelspec.architecture",
    "date": "modelspec.date",
}


def printable(text: str) -> str:
    """Metadata is the file author's text: terminal control characters are shown escaped, never obeyed."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def inspect_lora(path: Path, cfg: ExperimentConfig | None = None) -> LoraInfo:
    """Every field from the header alone; what would make the file unusable or not the config's becomes a warning."""
    header = read_header(path)
    downs, peft = _down_weights(header)
    notes = _up_rank_notes(header, downs, peft)
    ranks = Counter(t.shape[0] for t in downs.values())
    meta = {printable(k): printable(v) for k, v in header.metadata.items()}
    alpha = _alpha(header, downs, meta, peft, notes)
    blocks, other = _blocks(downs)
    info = LoraInfo(
        file=str(path),
        modules=len(downs),
        rank=ranks.most_common(1)[0][0],
        ranks=sorted(ranks),
        alpha=alpha,
        module=meta.get("ss_network_module"),
        base_model=meta.get("ss_base_model_version"),
        dtype=_dtype(header),
        parameters=sum(t.numel for t in header.tensors.values()),
        blocks=blocks,
        other_modules=other,
        training={k: meta[v] for k, v in TRAINING_KEYS.items() if v in meta},
    )
    info.warnings = notes + compare(info, meta, cfg)
    return info


def _down_weights(header: Header) -> tuple[dict[str, TensorInfo], bool]:
    """The down matrix of every module by module name, and whether the names are diffusers/PEFT's (SimpleTuner)."""
    downs = {
        k[: -len(".lora_down.weight")]: t
        for k, t in header.tensors.items()
        if k.endswith(".lora_down.weight")
    }
    peft = not downs
    if peft:  # SimpleTuner's checkpoints: lora_A is the down projection
        downs = {
            k[: -len(".lora_A.weight")]: t for k, t in header.tensors.items() if k.endswith(".lora_A.weight")
        }
    if not downs:
        raise NotSafetensors("no lora_down (sd-scripts) or lora_A (diffusers/PEFT) weights: not a LoRA file")
    for m, t in downs.items():
        if len(t.shape) < 2:
            raise NotSafetensors(
                f"{printable(m)} down weight has shape {list(t.shape)}: a LoRA down matrix (lora_down) is [rank, inputs]"
            )
    return downs, peft


def _up_rank_notes(header: Header, downs: dict[str, TensorInfo], peft: bool) -> list[str]:
    """An up matrix whose rank is not its down matrix's makes the file impossible to apply."""
    notes: list[str] = []
    up = ".lora_B.weight" if peft else ".lora_up.weight"
    mismatched = [
        m
        for m, t in downs.items()
        if f"{m}{up}" in header.tensors and header.tensors[f"{m}{up}"].shape[1:2] != t.shape[:1]
    ]
    if mismatched:
        notes.append(
            f"{len(mismatched)} module(s) whose up rank differs from the down rank (first {printable(mismatched[0])}): "
            "the file cannot be applied"
        )
    return notes


def _alpha(
    header: Header, downs: dict[str, TensorInfo], meta: dict[str, str], peft: bool, notes: list[str]
) -> float | None:
    """The most common per-module alpha tensor, else the metadata's (sd-scripts', then PEFT's); problems go to notes."""
    alphas = [header.scalar(f"{m}.alpha") for m in downs if f"{m}.alpha" in header.tensors]
    nan = sum(1 for a in alphas if math.isnan(a))
    if nan:
        notes.append(f"alpha is NaN in {nan} module(s): every update of the LoRA would be NaN")
    infinite = sum(1 for a in alphas if math.isinf(a))
    if infinite:
        notes.append(
            f"alpha is infinite in {infinite} module(s): every update of the LoRA would be infinite or NaN"
        )
    finite = [a for a in alphas if not math.isnan(a)]
    alpha = Counter(finite).most_common(1)[0][0] if finite else (math.nan if alphas else None)
    if alpha is None and "ss_network_alpha" in meta:
        try:
            alpha = float(meta["ss_network_alpha"])
        except ValueError:
            notes.append(f"metadata ss_network_alpha {meta['ss_network_alpha']!r} is not a number")
    if alpha is None and peft:
        alpha = _peft_alpha(header.metadata)
    return alpha


def _blocks(downs: dict[str, TensorInfo]) -> tuple[dict[str, list[int]], int]:
    """Which FLUX double/single blocks carry a module (either naming), and how many modules are outside them."""
    blocks: dict[str, set[int]] = {}
    other = 0
    for m in downs:
        b = BLOCK.match(m)
        p = PEFT_BLOCK.match(m)
        if b:
            blocks.setdefault(b.group(1), set()).add(int(b.group(2)))
        elif p:
            blocks.setdefault(PEFT_BLOCK_NAMES[p.group(1)], set()).add(int(p.group(2)))
        else:
            other += 1
    return {k: sorted(v) for k, v in sorted(blocks.items())}, other


def _dtype(header: Header) -> str:
    """The most common dtype among the LoRA's own tensors."""
    dtypes = Counter(t.dtype for k, t in header.tensors.items() if "lora_" in k)
    return dtypes.most_common(1)[0][0] if dtypes else "?"


def _peft_alpha(meta: dict[str, str]) -> float | None:
    """diffusers writes the PEFT config as JSON under ``lora_adapter_metadata`` (keys like ``transformer.lora_alpha``)."""
    import json

    try:
        data = json.loads(meta.get("lora_adapter_metadata", "{}"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    values = [v for k, v in data.items() if k.split(".")[-1] == "lora_alpha" and isinstance(v, (int, float))]
    return float(values[0]) if values else None


def compare(info: LoraInfo, meta: dict[str, str], cfg: ExperimentConfig | None) -> list[str]:
    w = []
    if len(info.ranks) > 1:
        w.append(f"modules have different ranks {info.ranks}")
    if info.base_model and info.base_model != "flux1":
        w.append(f"base model version {info.base_model!r}, not a FLUX.1 LoRA")
    commit = meta.get("ss_sd_scripts_commit_hash")
    if (
        commit
        and not SD_SCRIPTS_COMMIT.startswith(commit)
        and not commit.startswith(SD_SCRIPTS_COMMIT[: len(commit)])
    ):
        w.append(f"trained with sd-scripts {commit[:12]}, the kit pins {SD_SCRIPTS_COMMIT[:12]}")
    if cfg is None:
        return w
    if info.rank != cfg.network.dim:
        w.append(f"rank {info.rank} differs from config [network] dim {cfg.network.dim}")
    if info.alpha is not None and abs(info.alpha - cfg.network.alpha) > 1e-3:
        w.append(f"alpha {info.alpha:g} differs from config [network] alpha {cfg.network.alpha:g}")
    if info.module and info.module != cfg.network.module:
        w.append(f"module {info.module} differs from config [network] module {cfg.network.module}")
    try:
        lr = float(meta["ss_learning_rate"])
        if abs(lr - cfg.optimizer.learning_rate) > 1e-12:
            w.append(
                f"learning rate {lr:g} differs from config [optimizer] learning_rate {cfg.optimizer.learning_rate:g}"
            )
    except (KeyError, ValueError):
        pass
    if meta.get("ss_seed") not in (None, str(cfg.training.seed)):
        w.append(f"seed {meta['ss_seed']} differs from config [training] seed {cfg.training.seed}")
    if cfg.network.train_unet_only and info.other_modules:
        w.append(f"{info.other_modules} modules outside the FLUX transformer blocks (text encoder trained?)")
    return w
