"""``[model]``, ``[network]``, ``[optimizer]``, ``[training]``: the trainer's recipe (re-exported by ``config.models``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from .common import ConfigPath, Strict, _kohya_args, _no_control

# [network] args that make a LoRA no loader can use, measured by the rehearsal's interop phases
# (docs/publish.md): refused here, before a GPU hour is spent on it.
# key -> (the value that breaks it, None for any value; why)
UNSHAREABLE_NETWORK_ARGS: dict[str, tuple[str | None, str]] = {
    "in_dims": (None, "trains img_in/txt_in layers, whose keys diffusers' FLUX LoRA loader refuses"),
    "split_qkv": ("true", "crashes the pinned sd-scripts' lora_flux while it builds the network"),
    "train_t5xxl": ("true", "adds T5-XXL keys that diffusers' FLUX LoRA loader refuses"),
}


def _shareable(items: list[str]) -> list[str]:
    """Every args item a published LoRA can survive; the first that cannot is refused with its reason."""
    for item in items:
        key, value = (s.strip() for s in item.split("=", 1))
        rule = UNSHAREABLE_NETWORK_ARGS.get(key)
        if rule and (rule[0] is None or value.lower() == rule[0]):
            raise ValueError(
                f"args item {item!r} {rule[1]}; remove it "
                "(train_blocks, *_dim and dropout args stay loadable)"
            )
    return items


OPTIMIZERS = {  # our lower-case name -> sd-scripts' spelling (it lower-cases before comparing)
    "adamw": "AdamW",
    "adamw8bit": "AdamW8bit",
    "pagedadamw8bit": "PagedAdamW8bit",
    "lion": "Lion",
    "lion8bit": "Lion8bit",
    "adafactor": "Adafactor",
    "prodigy": "Prodigy",
}
SCHEDULERS = ("constant", "constant_with_warmup", "cosine", "cosine_with_restarts", "linear", "polynomial")


class ModelConfig(Strict):
    """``[model]``: local files of FLUX.1-dev and its encoders (sd-scripts takes no Hub ids)."""

    flux: ConfigPath = Field(
        "models/flux1-dev.safetensors", description="FLUX.1-dev transformer (BFL single-file format)."
    )
    clip_l: ConfigPath = Field("models/clip_l.safetensors", description="CLIP-L text encoder.")
    t5xxl: ConfigPath = Field(
        "models/t5xxl_fp16.safetensors", description="T5-XXL text encoder (fp16 or fp8 file)."
    )
    ae: ConfigPath = Field("models/ae.safetensors", description="FLUX autoencoder (VAE).")
    tokenizer_cache_dir: ConfigPath = Field(
        "models/tokenizers", description="Pre-filled tokenizer cache so training never reaches the Hub."
    )


class NetworkConfig(Strict):
    """``[network]``: the LoRA itself."""

    module: Literal["networks.lora_flux"] = Field(
        "networks.lora_flux", description="sd-scripts network module for FLUX LoRA."
    )
    dim: int = Field(64, ge=1, le=1024, description="LoRA rank.")
    alpha: float = Field(32.0, gt=0, description="LoRA alpha; the update is scaled by alpha / dim.")
    train_unet_only: bool = Field(True, description="Train the transformer only, not the text encoders.")
    dropout: float | None = Field(None, ge=0, lt=1, description="Neuron dropout, None for off.")
    args: list[str] = Field(
        default_factory=list, description="Extra --network_args, e.g. ['train_blocks=single']."
    )

    @field_validator("args")
    @classmethod
    def _key_values(cls, v: list[str]) -> list[str]:
        return _shareable(_kohya_args("args", v))


class OptimizerConfig(Strict):
    """``[optimizer]``"""

    type: str = Field("adamw8bit", description="One of: " + ", ".join(OPTIMIZERS) + ".")
    learning_rate: float = Field(4e-4, description="Peak learning rate; must be > 0.")
    scheduler: str = Field("constant_with_warmup", description="One of: " + ", ".join(SCHEDULERS) + ".")
    warmup_steps: int = Field(100, ge=0, description="Learning-rate warm-up steps.")
    max_grad_norm: float = Field(1.0, ge=0, description="Gradient clipping, 0 for off.")
    args: list[str] = Field(
        default_factory=list, description="Extra --optimizer_args, e.g. ['weight_decay=0.01']."
    )

    @field_validator("args")
    @classmethod
    def _key_values(cls, v: list[str]) -> list[str]:
        return _kohya_args("args", v)

    @field_validator("type")
    @classmethod
    def _known_optimizer(cls, v: str) -> str:
        if v.lower() not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {v!r}; allowed: {', '.join(OPTIMIZERS)}")
        return v.lower()

    @field_validator("learning_rate")
    @classmethod
    def _positive_lr(cls, v: float) -> float:
        if not v > 0:
            raise ValueError(f"learning_rate must be > 0, got {v}")
        return v

    @field_validator("scheduler")
    @classmethod
    def _known_scheduler(cls, v: str) -> str:
        if v not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {v!r}; allowed: {', '.join(SCHEDULERS)}")
        return v

    @model_validator(mode="after")
    def _warmup_fits_scheduler(self) -> OptimizerConfig:
        if self.scheduler == "constant" and self.warmup_steps:
            # sd-scripts raises "constant does not require num_warmup_steps" only after loading FLUX
            raise ValueError(
                f"scheduler 'constant' takes no warm-up (warmup_steps = {self.warmup_steps}); "
                "use scheduler = 'constant_with_warmup' or warmup_steps = 0"
            )
        return self

    @property
    def kohya_type(self) -> str:
        return OPTIMIZERS[self.type]


OUTPUT_NAME_BYTES = 200


class TrainingConfig(Strict):
    """``[training]``: the run. Augmentations that would move the 16 px grid are refused."""

    # states are named -step{:08d}-state: a ninth digit would hide them from resume
    max_train_steps: int = Field(3000, ge=1, le=99_999_999, description="Optimizer steps.")
    mixed_precision: Literal["bf16", "fp16"] = Field(
        "bf16", description="Compute precision; FLUX is trained in bf16."
    )
    save_precision: Literal["bf16", "fp16", "float"] = Field("bf16", description="dtype of the saved LoRA.")
    resolution: int | list[int] = Field(
        1024, description="Training resolution: one side, or [width, height] (must be square)."
    )
    batch_size: int | None = Field(
        None, ge=1, le=64, description="Per-GPU batch; None takes the VRAM profile's."
    )
    gradient_accumulation_steps: int = Field(1, ge=1, description="Batches per optimizer step.")
    # sd-scripts lists every image num_repeats times in memory before the first step (train_util's bucketing)
    num_repeats: int = Field(1, ge=1, le=10_000, description="Times each image is repeated per epoch.")
    # accelerate's set_seed hands it to numpy's np.random.seed, which refuses 2**32 and more (at start)
    seed: int = Field(42, ge=0, le=2**32 - 1, description="Training seed (noise, shuffling).")
    save_every_n_steps: int = Field(500, ge=1, description="Checkpoint (and resumable state) interval.")
    output_dir: ConfigPath = Field(
        "runs/flux_ascii", description="Run directory: plan files, log, checkpoints, samples."
    )
    output_name: str = Field("flux_ascii_structure_v1", description="Checkpoint file stem.")
    resume: bool = Field(False, description="Continue from the newest saved state (also RESUME=1).")
    gradient_checkpointing: bool = Field(True, description="Trade compute for memory; needed below 48 GB.")
    cache_latents_to_disk: bool = Field(
        True, description="Encode images once with the VAE and keep latents on disk."
    )
    cache_text_encoder_outputs: bool = Field(
        True, description="Encode captions once; frees the text encoders' VRAM."
    )
    guidance_scale: float = Field(
        1.0, gt=0, description="Embedded guidance during training; sd-scripts docs: 1.0 for dev."
    )
    timestep_sampling: Literal["sigma", "uniform", "sigmoid", "shift", "flux_shift"] = Field(
        "shift", description="Timestep distribution."
    )
    discrete_flow_shift: float = Field(3.1582, gt=0, description="Shift for timestep_sampling = shift.")
    model_prediction_type: Literal["raw", "additive", "sigma_scaled"] = Field(
        "raw", description="How the model output is read."
    )
    max_data_loader_n_workers: int = Field(2, ge=0, description="Data loader processes.")
    keep_tokens: int = Field(1, ge=0, description="Leading caption tokens kept in place (the trigger word).")
    flip_aug: bool = Field(False, description="Horizontal flips; refused with text (mirrored glyphs).")
    random_crop: bool = Field(False, description="Refused: a crop moves the 16 px grid.")
    enable_bucket: bool = Field(False, description="Refused: bucketing resizes and moves the grid.")
    color_aug: bool = Field(False, description="Refused: colour jitter makes grey.")
    shuffle_caption: bool = Field(
        False, description="Shuffle caption tags; needs cache_text_encoder_outputs = false."
    )
    caption_dropout_rate: float = Field(
        0.0, ge=0, le=1, description="Share of steps trained with an empty caption."
    )

    @property
    def side(self) -> int:
        return self.resolution if isinstance(self.resolution, int) else self.resolution[0]

    @field_validator("resolution")
    @classmethod
    def _square_on_grid(cls, res: int | list[int]) -> int | list[int]:
        if isinstance(res, list):
            if len(res) != 2:
                raise ValueError(f"resolution must be one number or [width, height], got {res}")
            if res[0] != res[1]:
                raise ValueError(f"resolution {res} is not square; the grid images are square")
        side = res if isinstance(res, int) else res[0]
        if side % 16 or side < 256:
            raise ValueError(f"resolution {side} must be a multiple of 16 (one FLUX token) and at least 256")
        return res

    @field_validator("random_crop", "enable_bucket", "color_aug")
    @classmethod
    def _grid_moving_augmentation(cls, v: bool, info: ValidationInfo) -> bool:
        assert info.field_name is not None  # a field validator always knows its field
        why = {
            "random_crop": "a random crop moves the 16 px grid",
            "enable_bucket": "bucketing resizes images off the 16 px grid",
            "color_aug": "colour jitter adds grey and colour (and conflicts with latent caching)",
        }[info.field_name]
        if v:
            raise ValueError(f"{info.field_name} = true refused: {why}; set it to false")
        return v

    @field_validator("output_name")
    @classmethod
    def _plain_stem(cls, v: str) -> str:
        if "/" in v or "\\" in v or not v.strip() or v.strip(".") == "" or _no_control(v):
            raise ValueError(
                f"output_name {v!r} must be a plain file stem (no /, no control characters, not . or ..)"
            )
        if v.startswith("-"):
            raise ValueError(f"output_name {v!r} starts with '-': the trainer would read it as a flag")
        if len(v.encode()) > OUTPUT_NAME_BYTES:
            raise ValueError(
                f"output_name is {len(v.encode())} bytes long, at most {OUTPUT_NAME_BYTES}: sd-scripts appends "
                "'-step00000000-state' and file names stop at 255 bytes"
            )
        return v

    @model_validator(mode="after")
    def _caching_rules(self) -> TrainingConfig:
        if self.cache_text_encoder_outputs and self.shuffle_caption:
            raise ValueError(
                "shuffle_caption needs fresh text encodings: set cache_text_encoder_outputs = false or shuffle_caption = false"
            )
        if self.cache_text_encoder_outputs and self.caption_dropout_rate > 0:
            raise ValueError("caption_dropout_rate > 0 needs cache_text_encoder_outputs = false")
        return self
