"""Experiment config -> the exact files and argv sd-scripts runs with. Pure: plan_files.py writes them.

Everything the trainer sees is derived here, once, so that ``plan``, ``train --dry-run`` and
``train`` can never disagree about the command.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...config.models import ExperimentConfig
from ...errors import UserError
from .. import validation_plan
from ..cluster import launch_flags, multiprocess_refusals
from ..cluster_files import cluster_plan_files
from ..resolved import resolved_toml
from ..runs import Segment, next_segment, refuse_run_in_dataset, resolve_path

SD_SCRIPTS_COMMIT = "48d368fa557731ad0488c07304dfeba8c07910eb"
SD_SCRIPTS_DIR = Path("vendor/sd-scripts")
TRAIN_SCRIPT = SD_SCRIPTS_DIR / "flux_train_network.py"

DATASET_CONFIG = "dataset_config.toml"
SAMPLE_PROMPTS = "sample_prompts.txt"
ARGS_JSON = "train.args.json"
TRAIN_SH = "train.sh"
RESOLVED = "config.resolved.toml"


@dataclass(frozen=True)
class Plan:
    run_dir: Path
    dataset_config: dict[str, Any]
    sample_prompts: str
    argv: list[str]
    resolved_toml: str
    segment: Segment | None = None  # None: planned without looking at the run directory
    cluster_files: dict[str, str] | None = (
        None  # several processes: accelerate_config.yaml, train.sbatch (train.sh)
    )

    @property
    def trainer_args(self) -> list[str]:
        """The argv after the script path: what sd-scripts' own parser sees."""
        script = self.argv.index(str(self.script))
        return self.argv[script + 1 :]

    @property
    def script(self) -> Path:
        return next(Path(a) for a in self.argv if a.endswith("flux_train_network.py"))

    def shell(self) -> str:
        return shlex.join(self.argv)


def _num(v: float | int) -> str:
    """Shortest exact text for a number: 4e-4 -> '0.0004', 32.0 -> '32'."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return repr(v)


def dataset_config(cfg: ExperimentConfig, root: Path) -> dict[str, Any]:
    """Kohya's dataset TOML: no bucketing, crop, flip or colour change; captions from .txt."""
    t = cfg.training
    batch = t.batch_size or cfg.hardware.profile.batch_size
    common = {
        "caption_extension": ".txt",  # the unset default would be ".caption"
        "keep_tokens": t.keep_tokens,
        "shuffle_caption": t.shuffle_caption,
        "flip_aug": t.flip_aug,
        "color_aug": t.color_aug,
        "random_crop": t.random_crop,
    }
    if t.caption_dropout_rate:
        common["caption_dropout_rate"] = t.caption_dropout_rate
    return {
        "general": {**common, "enable_bucket": False},
        "datasets": [
            {
                "resolution": t.side,
                "batch_size": batch,
                **validation_plan.dataset_keys(cfg),  # sd-scripts reads the split per dataset
                "enable_bucket": False,
                "subsets": [
                    {
                        "image_dir": resolve_path(root, cfg.dataset.out),
                        "num_repeats": t.num_repeats,
                        **common,
                    }
                ],
            }
        ],
    }


def sample_prompts(cfg: ExperimentConfig) -> str:
    """One prompt per line with every option spelled out: sd-scripts' FLUX defaults are 512 px, g 3.5."""
    s = cfg.sample
    opts = f"--w {s.width} --h {s.height} --d {s.seed} --s {s.steps} --g {_num(s.guidance)}"
    return "".join(f"{p.strip()} {opts}\n" for p in s.prompts)


# Schedules whose shape depends on --max_train_steps; a resumed segment must set that to the
# remaining steps, so sd-scripts would lay the decay over the wrong length (linear would reach 0).
DECAYING_SCHEDULERS = ("cosine", "cosine_with_restarts", "linear", "polynomial")


def trainer_argv(
    cfg: ExperimentConfig,
    root: Path,
    run_dir: Path,
    segment: Segment | None = None,
    machine_rank: int = 0,
    head: str | None = None,
) -> list[str]:
    """Machine ``machine_rank``'s accelerate argv. A resumed ``segment`` trains only the remaining steps into its own folder.

    sd-scripts restarts its step counter at 0 on --resume and only skips whole epochs, so left to
    itself it would rename nothing, overwrite the first segment's step files and, after a
    mid-epoch save, train past max_train_steps. Instead the resumed segment gets
    ``--max_train_steps`` = steps left, ``--initial_step 0`` (no epoch skip, no assert on the
    state's count), no ``--sample_at_first`` (the baseline would be drawn with the resumed LoRA),
    and a log prefix of its own; segments.py renumbers what it saves.
    """
    resumed = segment if segment is not None and segment.resumed else None  # the segment, when it resumes
    args = [
        str(TRAIN_SCRIPT),  # relative: the launcher and train.sh run from the checkout root
        *_model_args(cfg, root, run_dir, resumed),
        *_network_args(cfg),
        *_optimizer_args(cfg),
        *_precision_args(cfg, resumed),
        *_sampling_args(cfg, run_dir),
        *_resume_args(cfg, resumed),
    ]
    return accelerate_launch(cfg, machine_rank, head) + args


def _model_args(cfg: ExperimentConfig, root: Path, run_dir: Path, resumed: Segment | None) -> list[str]:
    """The model files, the dataset, and where and how often the LoRA and its state are saved."""
    m, t = cfg.model, cfg.training
    return [
        "--pretrained_model_name_or_path",
        resolve_path(root, m.flux),
        "--clip_l",
        resolve_path(root, m.clip_l),
        "--t5xxl",
        resolve_path(root, m.t5xxl),
        "--ae",
        resolve_path(root, m.ae),
        "--tokenizer_cache_dir",
        resolve_path(root, m.tokenizer_cache_dir),
        "--dataset_config",
        str(run_dir / DATASET_CONFIG),
        "--output_dir",
        str(resumed.output_dir if resumed else run_dir),
        "--output_name",
        t.output_name,
        "--save_model_as",
        "safetensors",
        "--save_precision",
        t.save_precision,
        "--save_every_n_steps",
        str(t.save_every_n_steps),
        "--save_state",
    ]


def _network_args(cfg: ExperimentConfig) -> list[str]:
    """The LoRA network: module, rank, alpha, dropout and its own arguments."""
    n = cfg.network
    args = [
        "--network_module",
        n.module,
        "--network_dim",
        str(n.dim),
        "--network_alpha",
        _num(n.alpha),
    ]
    if n.train_unet_only:
        args.append("--network_train_unet_only")
    if n.dropout is not None:
        args += ["--network_dropout", _num(n.dropout)]
    args += ["--network_args", *n.args] if n.args else []
    return args


def _optimizer_args(cfg: ExperimentConfig) -> list[str]:
    """The optimizer and its learning-rate schedule."""
    o = cfg.optimizer
    args = [
        "--optimizer_type",
        o.kohya_type,
        "--learning_rate",
        _num(o.learning_rate),
        "--lr_scheduler",
        o.scheduler,
        "--max_grad_norm",
        _num(o.max_grad_norm),
    ]
    if o.warmup_steps:
        args += ["--lr_warmup_steps", str(o.warmup_steps)]
    if o.args:
        args += ["--optimizer_args", *o.args]
    return args


def _precision_args(cfg: ExperimentConfig, resumed: Segment | None) -> list[str]:
    """Steps, precision, data loading, caches and the memory savers of the hardware profile."""
    t, h = cfg.training, cfg.hardware
    args = [
        "--max_train_steps",
        str(resumed.steps if resumed else t.max_train_steps),
        "--gradient_accumulation_steps",
        str(t.gradient_accumulation_steps),
        "--mixed_precision",
        t.mixed_precision,
        "--seed",
        str(t.seed),
        "--max_data_loader_n_workers",
        str(t.max_data_loader_n_workers),
    ]
    if t.max_data_loader_n_workers > 0:
        args.append("--persistent_data_loader_workers")
    if t.gradient_checkpointing:
        args.append("--gradient_checkpointing")
    if t.cache_latents_to_disk:
        args += ["--cache_latents", "--cache_latents_to_disk"]
    if t.cache_text_encoder_outputs:
        args += ["--cache_text_encoder_outputs", "--cache_text_encoder_outputs_to_disk"]
    if h.profile.fp8_base:
        args.append("--fp8_base")
    if h.swap:
        args += ["--blocks_to_swap", str(h.swap)]
    return args


def _sampling_args(cfg: ExperimentConfig, run_dir: Path) -> list[str]:
    """FLUX's timestep sampling, the sample prompts, the logs and the validation split."""
    t, s = cfg.training, cfg.sample
    return [
        "--timestep_sampling",
        t.timestep_sampling,
        "--discrete_flow_shift",
        _num(t.discrete_flow_shift),
        "--model_prediction_type",
        t.model_prediction_type,
        "--guidance_scale",
        _num(t.guidance_scale),
        "--sample_prompts",
        str(run_dir / SAMPLE_PROMPTS),
        "--sample_every_n_steps",
        str(s.every_n_steps),
        "--logging_dir",
        str(run_dir / "logs"),
        *validation_plan.trainer_args(cfg),
    ]


def _resume_args(cfg: ExperimentConfig, resumed: Segment | None) -> list[str]:
    """A resumed segment's log prefix and state; a fresh run's baseline sample instead."""
    if resumed:
        return [
            "--log_prefix",
            f"{resumed.output_dir.name}-",
            "--initial_step",
            "0",
            "--resume",
            str(resumed.resume_from),
        ]
    return ["--sample_at_first"] if cfg.sample.at_first else []


def accelerate_launch(cfg: ExperimentConfig, machine_rank: int = 0, head: str | None = None) -> list[str]:
    """accelerate's own options for machine ``machine_rank``: the processes (cluster.py) and precision."""
    t, h = cfg.training, cfg.hardware
    launch = ["accelerate", "launch", *launch_flags(cfg, machine_rank, head or cfg.cluster.main_process_ip)]
    return launch + [
        "--mixed_precision",
        t.mixed_precision,
        "--num_cpu_threads_per_process",
        str(h.num_cpu_threads_per_process),
    ]


def build_plan(
    cfg: ExperimentConfig,
    root: Path,
    run_dir: Path | None = None,
    resume: bool | None = None,
    machine_rank: int = 0,
    head: str | None = None,
) -> Plan:
    """All plan files for ``cfg``, the argv as machine ``machine_rank`` runs it; ``root`` is the checkout
    that holds vendor/ and data/."""
    root = Path(root).resolve()
    run_dir = Path(resolve_path(root, run_dir or cfg.training.output_dir))
    refuse_run_in_dataset(run_dir, Path(resolve_path(root, cfg.dataset.out)))
    t = cfg.training
    segment = next_segment(
        run_dir, t.output_name, t.max_train_steps, resume if resume is not None else t.resume
    )
    if segment.resumed and cfg.optimizer.scheduler in DECAYING_SCHEDULERS:
        raise UserError(
            f'[optimizer] scheduler = "{cfg.optimizer.scheduler}" cannot be resumed exactly: sd-scripts lays its decay '
            f"over --max_train_steps, which a resumed segment sets to the {segment.steps} steps left; set "
            'scheduler = "constant_with_warmup" to continue from the saved state, or train fresh without RESUME=1'
        )
    argv = trainer_argv(cfg, root, run_dir, segment, machine_rank, head)
    refused = multiprocess_refusals(cfg, argv)
    if refused:
        raise UserError(refused[0] + (f" (+{len(refused) - 1} more)" if len(refused) > 1 else ""))
    return Plan(
        run_dir=run_dir,
        dataset_config=dataset_config(cfg, root),
        sample_prompts=sample_prompts(cfg),
        argv=argv,
        resolved_toml=resolved_toml(cfg),
        segment=segment,
        cluster_files=cluster_plan_files(cfg, root, run_dir),
    )
