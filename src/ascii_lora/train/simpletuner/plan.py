"""Experiment config -> SimpleTuner's own files (config.json, multidatabackend.json, prompts, command).

Pure, like plan.py for Kohya: the same pydantic models, the same recipe, SimpleTuner's spelling.
Each value below says where it comes from; where SimpleTuner's default differs from what
sd-scripts does with the same experiment file, the value is written out explicitly (SimpleTuner's
defaults are tuned for other recipes: krea flavour, lora_dropout 0.1, caption dropout 0.1,
gradient clipping by value, five checkpoints kept, ...). The accepted keys and choices are
pinned in tests/fixtures/simpletuner_facts.json (tools/simpletuner_facts.py extracts them).
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...config.models import ExperimentConfig
from ..resolved import resolved_toml
from ..runs import refuse_run_in_dataset, resolve_path

SIMPLETUNER_VERSION = "3.1.6"
ENV_DIR = Path(
    ".venv-simpletuner"
)  # its own environment: its transformers/diffusers pins clash with sd-scripts'
CONSTRAINTS = Path("constraints/simpletuner.txt")
# Text encoders, tokenizers, VAE and scheduler config come from the diffusers repository; the
# transformer is the BFL single file that [model] flux names (the one sd-scripts trains too).
FLUX_DIFFUSERS_REPO = "black-forest-labs/FLUX.1-dev"
FLUX_FLAVOUR = "dev"  # SimpleTuner 3.1.6 defaults to "krea", another model

CONFIG_JSON = "config.json"
BACKEND_JSON = "multidatabackend.json"
PROMPT_LIBRARY = "user_prompt_library.json"
TRAIN_SH = "train.sh"
RESOLVED = "config.resolved.toml"
DATASET_VIEW = "dataset"  # <run>/dataset: links to the dataset's images and captions
VALIDATION_DIR = "validation_images"
LORA_FILE = "pytorch_lora_weights.safetensors"
IMAGE_BACKEND_ID = "ascii-grid"
TEXT_BACKEND_ID = "text-embeds"

# Ours -> (SimpleTuner's name for the same optimizer class, settings that make SimpleTuner build it
# the way sd-scripts does). sd-scripts passes only lr and [optimizer] args, so the library defaults
# apply; SimpleTuner's bnb-adamw8bit entry sets eps 1e-6 where bitsandbytes' own default is 1e-8.
OPTIMIZERS: dict[str, tuple[str, dict[str, float]]] = {
    "adamw": ("torch-adamw", {}),  # torch.optim.AdamW in both
    "adamw8bit": ("bnb-adamw8bit", {"eps": 1e-08}),  # bitsandbytes.optim.AdamW8bit in both
    "pagedadamw8bit": ("bnb-adamw8bit-paged", {"eps": 1e-08}),  # bitsandbytes.optim.PagedAdamW8bit in both
    "lion8bit": ("bnb-lion8bit", {}),  # bitsandbytes.optim.Lion8bit in both
}
# sd-scripts' networks.lora_flux adapts every Linear of the double and single blocks; the closest
# SimpleTuner target set is all+ffs (attention, feed-forwards, single-block MLP). Left out there:
# the modulation layers (norm*.linear), which sd-scripts adapts too.
LORA_TARGET = "all+ffs"


@dataclass(frozen=True)
class DatasetView:
    """SimpleTuner writes aspect_ratio_bucket_*.json into the folder it trains on, and the dataset
    writer refuses foreign files. So it trains on a folder of links inside the run instead."""

    source: Path
    target: Path
    suffixes: tuple[str, ...] = (".png", ".txt")


@dataclass(frozen=True)
class SimpleTunerPlan:
    run_dir: Path
    config: dict[str, Any]
    backends: list[dict[str, Any]]
    prompt_library: dict[str, str]
    argv: list[str]
    env: dict[str, str]
    view: DatasetView
    resolved_toml: str
    resume: bool = False
    trainer: str = "simpletuner"

    def shell(self) -> str:
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        return f"{env} {shlex.join(self.argv)}"


def optimizer_config(cfg: ExperimentConfig) -> str | None:
    """SimpleTuner's ``name=value,...`` string: sd-scripts-equivalent settings, then [optimizer] args."""
    _, settings = OPTIMIZERS[cfg.optimizer.type]
    merged: dict[str, str] = {k: repr(v) for k, v in settings.items()}
    for arg in cfg.optimizer.args:
        name, _, value = arg.partition("=")
        merged[name.strip()] = value.strip()
    return ",".join(f"{k}={v}" for k, v in merged.items()) or None


def flow_schedule(cfg: ExperimentConfig) -> dict[str, Any]:
    """sd-scripts' timestep_sampling in SimpleTuner's terms (both: sigmoid(N(0,1)), then shift)."""
    t = cfg.training
    if t.timestep_sampling == "shift":  # static shift: t*s / (1 + (s-1)*t)
        return {
            "flow_schedule_shift": t.discrete_flow_shift,
            "flow_schedule_auto_shift": False,
            "flow_use_uniform_schedule": False,
        }
    if (
        t.timestep_sampling == "flux_shift"
    ):  # resolution-dependent shift exp(mu); SimpleTuner uses it when the static shift is 0
        return {
            "flow_schedule_shift": 0.0,
            "flow_schedule_auto_shift": True,
            "flow_use_uniform_schedule": False,
        }
    if t.timestep_sampling == "sigmoid":  # no shift: s = 1 is the identity
        return {
            "flow_schedule_shift": 1.0,
            "flow_schedule_auto_shift": False,
            "flow_use_uniform_schedule": False,
        }
    if t.timestep_sampling == "uniform":
        return {
            "flow_schedule_shift": 1.0,
            "flow_schedule_auto_shift": False,
            "flow_use_uniform_schedule": True,
        }
    raise ValueError(
        f"timestep_sampling {t.timestep_sampling!r} has no SimpleTuner equivalent"
    )  # refused by the config


def prompt_shortnames(cfg: ExperimentConfig) -> dict[str, str]:
    """Shortname -> prompt. SimpleTuner names validation images after the shortname; the first
    prompt (the verification prompt) is its ``validation_prompt``, shortname ``validation``."""
    names = {"validation": cfg.sample.prompts[0]}
    for i, p in enumerate(cfg.sample.prompts[1:], start=1):
        names[f"prompt_{i:02d}"] = p
    return names


def simpletuner_config(cfg: ExperimentConfig, root: Path, run_dir: Path) -> dict[str, Any]:
    m, n, o, t, s, h = cfg.model, cfg.network, cfg.optimizer, cfg.training, cfg.sample, cfg.hardware
    opt_name, _ = OPTIMIZERS[o.type]
    saves = math.ceil(t.max_train_steps / t.save_every_n_steps)
    c: dict[str, Any] = {
        "model_family": "flux",
        "model_flavour": FLUX_FLAVOUR,
        "model_type": "lora",
        "lora_type": "standard",
        "pretrained_model_name_or_path": FLUX_DIFFUSERS_REPO,
        "pretrained_transformer_model_name_or_path": resolve_path(root, m.flux),
        "pretrained_transformer_subfolder": "none",  # a single file, not a diffusers folder
        "output_dir": str(run_dir),
        "data_backend_config": str(run_dir / BACKEND_JSON),
        "cache_dir": str(run_dir / "cache"),
        "cache_dir_text": str(run_dir / "cache" / "text"),
        "cache_dir_vae": str(run_dir / "cache" / "vae"),
        "vae_cache_ondemand": not t.cache_latents_to_disk,
        "resolution": t.side,
        "resolution_type": "pixel",  # resolution is an edge in pixels, not megapixels
        "caption_strategy": "textfile",
        "caption_dropout_probability": t.caption_dropout_rate,  # SimpleTuner's default is 0.1
        "lora_rank": n.dim,
        "lora_alpha": n.alpha,
        "lora_dropout": 0.0,  # [network] dropout must be null here (refused otherwise); SimpleTuner's default is 0.1
        "flux_lora_target": LORA_TARGET,
        "optimizer": opt_name,
        "learning_rate": o.learning_rate,
        "lr_scheduler": o.scheduler,
        "lr_warmup_steps": o.warmup_steps,
        "max_grad_norm": o.max_grad_norm,
        "grad_clip_method": "norm",  # sd-scripts clips the gradient norm; SimpleTuner's default clips values
        "max_train_steps": t.max_train_steps,
        "num_train_epochs": 0,  # SimpleTuner refuses max_train_steps with epochs > 0
        "train_batch_size": t.batch_size or h.profile.batch_size,
        "gradient_accumulation_steps": t.gradient_accumulation_steps,
        "gradient_checkpointing": t.gradient_checkpointing,
        "mixed_precision": t.mixed_precision,
        # sd-scripts --fp8_base stores the base weights as float8 e4m3 and computes in bf16: quanto's fp8
        "base_model_precision": "fp8-quanto" if h.profile.fp8_base else "no_change",
        "seed": t.seed,
        "checkpoint_step_interval": t.save_every_n_steps,
        "checkpoints_total_limit": saves
        + 1,  # keep every checkpoint, as sd-scripts does (the checker ranks them)
        "resume_from_checkpoint": "latest",  # SimpleTuner always resumes when it finds a checkpoint-N
        "flux_guidance_mode": "constant",
        "flux_guidance_value": t.guidance_scale,
        **flow_schedule(cfg),
        "validation_prompt": s.prompts[0],
        "validation_step_interval": s.every_n_steps,
        "validation_on_startup": s.at_first,
        "disable_benchmark": True,  # its base-model benchmark is another set of files; at_first covers step 0
        "validation_resolution": f"{s.width}x{s.height}",
        "validation_guidance": s.guidance,
        "validation_guidance_real": 1.0,  # no true CFG: FLUX.1-dev's guidance is embedded, as in sd-scripts
        "validation_num_inference_steps": s.steps,
        "validation_seed": s.seed,
        "num_validation_images": 1,
        "validation_disable_unconditional": True,  # no extra empty-prompt image among the samples
        "report_to": "tensorboard",
        "logging_dir": "logs",  # relative to output_dir: <run>/logs, like sd-scripts' --logging_dir
    }
    opt_cfg = optimizer_config(cfg)
    if opt_cfg:
        c["optimizer_config"] = opt_cfg
    if len(s.prompts) > 1:
        c["user_prompt_library"] = str(run_dir / PROMPT_LIBRARY)
    return c


def backends(cfg: ExperimentConfig, run_dir: Path) -> list[dict[str, Any]]:
    """One image backend on the dataset (through the run's link folder) and the text-embed cache."""
    t = cfg.training
    return [
        {
            "id": IMAGE_BACKEND_ID,
            "type": "local",
            "dataset_type": "image",
            "instance_data_dir": str(run_dir / DATASET_VIEW),
            "caption_strategy": "textfile",  # <image>.txt, the dataset's one-line captions
            "metadata_backend": "discovery",
            "resolution": t.side,
            "resolution_type": "pixel",
            "minimum_image_size": t.side,  # an image of another size is skipped, never rescaled
            "crop": False,  # square images at the training size: no crop, one 1:1 bucket, no resize
            "repeats": t.num_repeats
            - 1,  # sd-scripts counts passes (1 = once); SimpleTuner extra passes (0 = once)
            "cache_dir_vae": str(run_dir / "cache" / "vae"),
        },
        {
            "id": TEXT_BACKEND_ID,
            "type": "local",
            "dataset_type": "text_embeds",
            "default": True,
            "cache_dir": str(run_dir / "cache" / "text"),
        },
    ]


def launch_argv(cfg: ExperimentConfig, root: Path) -> list[str]:
    h, t = cfg.hardware, cfg.training
    accelerate = str(Path(root).resolve() / ENV_DIR / "bin" / "accelerate")
    args = [
        accelerate,
        "launch",
        "--mixed_precision",
        t.mixed_precision,
        "--num_processes",
        str(h.num_gpus),
        "--num_machines",
        "1",
        "--dynamo_backend",
        "no",
        "--num_cpu_threads_per_process",
        str(h.num_cpu_threads_per_process),
    ]
    if h.num_gpus > 1:
        args.append("--multi_gpu")
    return [*args, "-m", "simpletuner.train"]


def build_simpletuner_plan(
    cfg: ExperimentConfig, root: Path, run_dir: Path | None = None, resume: bool | None = None
) -> SimpleTunerPlan:
    root = Path(root).resolve()
    run_dir = Path(resolve_path(root, run_dir or cfg.training.output_dir))
    dataset = Path(resolve_path(root, cfg.dataset.out))
    refuse_run_in_dataset(run_dir, dataset, run_dir / DATASET_VIEW)  # links would replace the dataset
    return SimpleTunerPlan(
        run_dir=run_dir,
        config=simpletuner_config(cfg, root, run_dir),
        backends=backends(cfg, run_dir),
        prompt_library={k: v for k, v in prompt_shortnames(cfg).items() if k != "validation"},
        argv=launch_argv(cfg, root),
        env={"CONFIG_BACKEND": "json", "CONFIG_PATH": str(run_dir / CONFIG_JSON)},
        view=DatasetView(source=dataset, target=run_dir / DATASET_VIEW),
        resolved_toml=resolved_toml(cfg),
        resume=cfg.training.resume if resume is None else resume,
    )


# -- what SimpleTuner leaves on disk (check, ranking) -------------------------------------------------


def checkpoint_dirs(run_dir: Path) -> list[tuple[int, Path]]:
    """SimpleTuner's resumable checkpoints, ``checkpoint-{step}``, oldest first."""
    out = []
    for p in Path(run_dir).glob("checkpoint-*"):
        m = re.fullmatch(r"checkpoint-(\d+)", p.name)
        if m and p.is_dir():
            out.append((int(m.group(1)), p))
    return sorted(out)


def finished_lora(run_dir: Path) -> Path | None:
    """The LoRA SimpleTuner saves when a run completes: <output_dir>/pytorch_lora_weights.safetensors."""
    p = Path(run_dir) / LORA_FILE
    return p if p.is_file() else None
