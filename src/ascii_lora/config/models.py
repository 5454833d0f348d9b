"""The experiment model: the one place where defaults live.

An experiment TOML (``configs/flux_ascii.toml``) holds tables that mirror these models. Every
model forbids unknown keys, so a typo is an error that names the key instead of a setting that
silently does nothing.
"""

from __future__ import annotations

import os
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from .base import Strict
from .trainers import simpletuner_refusals
from .watch import NotifyConfig, ValidationConfig, held_out_images, validation_warning

# TOML arrays arrive as lists: the pair itself is lax about list-vs-tuple, its items stay strict.
IntRange = Annotated[
    tuple[int, int],
    Field(description="inclusive [min, max]", strict=False),
]
FloatRange = Annotated[tuple[float, float], Field(strict=False)]
MAX_CELLS = 4096 // 8  # the largest grid: resolution 4096 at cell_size 8
MAX_WEIGHT = 1e6  # weights are relative; a cap keeps their sum finite


def _no_control(text: str) -> str | None:
    bad = next((c for c in text if ord(c) < 32 or 0x7F <= ord(c) < 0xA0), None)
    return None if bad is None else repr(bad)


def _config_path(value: str) -> str:
    """Every path of the config is read one way: ``~`` is the home folder, relative is from the working directory."""
    if not value.strip():
        raise ValueError("must name a path, got an empty string")
    bad = _no_control(value)
    if bad:
        raise ValueError(f"path contains the control character {bad}")
    return os.path.expanduser(value)


ConfigPath = Annotated[str, AfterValidator(_config_path)]


def _kohya_args(name: str, items: list[str]) -> list[str]:
    """sd-scripts splits each item on '=' into a key and a value; anything else crashes it or smuggles a flag."""
    for item in items:
        if item.lstrip().startswith("-"):
            raise ValueError(f"{name} item {item!r} starts with '-': it would reach the trainer as a flag of its own "
                             "(--); write key=value")
        if _no_control(item) or "=" not in item or not item.split("=", 1)[0].strip():
            raise ValueError(f"{name} item {item!r} must be one key=value without control characters")
    return items


def _check_range(name: str, value: tuple[int, int] | tuple[float, float]) -> None:
    if value[0] > value[1]:
        raise ValueError(f"{name} must be [min, max] with min <= max, got {list(value)}")


class FamilyMix(Strict):
    """Relative weights of the structure families; 0 leaves a family out."""

    dungeon: float = Field(2.0, ge=0, le=MAX_WEIGHT, description="BSP rooms joined by corridors, doors at room walls.")
    rooms_and_mazes: float = Field(1.5, ge=0, le=MAX_WEIGHT, description="Rooms in a pruned winding maze (classic roguelike).")
    cave: float = Field(1.5, ge=0, le=MAX_WEIGHT, description="Cellular-automaton caves, every chamber tunnelled together.")
    maze: float = Field(1.0, ge=0, le=MAX_WEIGHT, description="Perfect mazes (recursive backtracker or Prim).")
    corridor: float = Field(1.5, ge=0, le=MAX_WEIGHT, description="Long straight and turning corridors running off the edges.")
    text: float = Field(1.5, ge=0, le=MAX_WEIGHT, description="Framed text panels and terminal screens of real words.")
    mixed: float = Field(1.0, ge=0, le=MAX_WEIGHT, description="BSP layouts with caves grown inside some leaves.")

    @model_validator(mode="after")
    def _some_family(self) -> "FamilyMix":
        if sum(self.weights().values()) <= 0:
            raise ValueError("at least one family needs a weight above 0")
        return self

    def weights(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in type(self).model_fields}


class DungeonParams(Strict):
    min_leaf: IntRange = Field(
        (9, 18), description="Smallest BSP leaf side in cells, drawn per image from [min, max]; smaller means more rooms."
    )
    room_fill: FloatRange = Field(
        (0.45, 0.9), description="Room side as a share of its leaf side, drawn per room from [min, max]."
    )

    @model_validator(mode="after")
    def _ranges(self) -> "DungeonParams":
        _check_range("room_fill", self.room_fill)
        _check_range("min_leaf", self.min_leaf)
        if self.min_leaf[0] < 6:
            raise ValueError("min_leaf min must be at least 6 (a room, its walls and a corridor)")
        if not (0 < self.room_fill[0] and self.room_fill[1] <= 1):
            raise ValueError("room_fill values must lie in (0, 1]")
        return self


class RoomsAndMazesParams(Strict):
    room_attempts: int = Field(60, ge=1, le=1000, description="Room placements tried; overlaps are discarded.")
    room_size: IntRange = Field((3, 11), description="Room side in cells [min, max], odd sizes are used.")
    extra_door_chance: float = Field(0.06, ge=0, le=1, description="Chance to open a redundant connector (loops).")

    @model_validator(mode="after")
    def _ranges(self) -> "RoomsAndMazesParams":
        _check_range("room_size", self.room_size)
        if self.room_size[0] < 3:
            raise ValueError("room_size min must be at least 3")
        return self


class CaveParams(Strict):
    fill: FloatRange = Field((0.47, 0.54), description="Initial rock share, drawn from [min, max].")
    iterations: int = Field(5, ge=1, le=20, description="Cellular-automaton smoothing passes (4-5 rule).")
    min_chamber: int = Field(12, ge=1, description="Open regions smaller than this many cells are filled in.")

    @model_validator(mode="after")
    def _ranges(self) -> "CaveParams":
        _check_range("fill", self.fill)
        if not (0 < self.fill[0] and self.fill[1] < 1):
            raise ValueError("fill values must lie in (0, 1)")
        return self


class MazeParams(Strict):
    nodes: IntRange = Field((8, 31), description="Maze size in junction cells per side [min, max].")
    algorithms: list[str] = Field(
        ["backtracker", "prim"], min_length=1, description="Algorithms to draw from: backtracker, prim."
    )

    @field_validator("nodes")
    @classmethod
    def _fits_any_grid(cls, v: tuple[int, int]) -> tuple[int, int]:
        if v[1] > MAX_CELLS // 2:
            raise ValueError(f"max must be at most {MAX_CELLS // 2} (no grid holds more), got {list(v)}")
        return v

    @model_validator(mode="after")
    def _check(self) -> "MazeParams":
        _check_range("nodes", self.nodes)
        if self.nodes[0] < 2:
            raise ValueError("nodes min must be at least 2")
        unknown = sorted(set(self.algorithms) - {"backtracker", "prim"})
        if unknown:
            raise ValueError(f"unknown maze algorithm {unknown}; allowed: backtracker, prim")
        return self


class CorridorParams(Strict):
    count: IntRange = Field((2, 4), description="Corridors per image [min, max].")
    width: IntRange = Field((1, 3), description="Corridor width in cells [min, max].")
    segment: IntRange = Field((6, 28), description="Straight run between turns in cells [min, max].")

    @field_validator("count")
    @classmethod
    def _few(cls, v: tuple[int, int]) -> tuple[int, int]:
        if v[1] > 64:
            raise ValueError(f"max must be at most 64 corridors per image, got {list(v)}")
        return v

    @field_validator("segment")
    @classmethod
    def _fits_any_grid(cls, v: tuple[int, int]) -> tuple[int, int]:
        if v[1] > MAX_CELLS:
            raise ValueError(f"max must be at most {MAX_CELLS} cells (no grid is wider), got {list(v)}")
        return v

    @model_validator(mode="after")
    def _ranges(self) -> "CorridorParams":
        for name in ("count", "width", "segment"):
            _check_range(name, getattr(self, name))
        if self.count[0] < 1 or self.width[0] < 1 or self.segment[0] < 2:
            raise ValueError("count and width must be at least 1, segment at least 2")
        return self


class TextParams(Strict):
    terminal_chance: float = Field(0.4, ge=0, le=1, description="Share of text images drawn as terminal screens.")
    uppercase_chance: float = Field(0.3, ge=0, le=1, description="Share of panels written in capitals.")


class MixedParams(Strict):
    cave_leaf_chance: float = Field(0.45, ge=0, le=1, description="Chance that a BSP leaf holds a cave, not a room.")


class DatasetConfig(Strict):
    """``[dataset]``: what ``ascii-lora dataset`` draws."""

    count: int = Field(
        280,
        ge=1,
        le=1_000_000,
        description=(
            "Images to write. 280 gives 28 to 56 per family (by the mix weights); a 3000-step run at batch 2 sees each one "
            "about 21 times: enough repetition to learn the grid, enough variety not to memorize."
        ),
    )
    seed: int = Field(20261125, ge=0, description="Master seed; image i depends only on (seed, i).")
    out: ConfigPath = Field("data/ascii_training_data", description="Output directory, relative to the working directory.")
    resolution: int = Field(1024, ge=64, le=4096, description="Image side in pixels; a multiple of cell_size.")
    cell_size: int = Field(16, description="Cell side in pixels: 16 = one FLUX token (VAE 8x, 2x2 patches).")
    outline_chance: float = Field(0.35, ge=0, le=1, description="Share of maps drawn with line walls, not brick blocks.")
    mix: FamilyMix = Field(default_factory=FamilyMix, description="Relative weight of each structure family.")
    dungeon: DungeonParams = Field(default_factory=DungeonParams, description="Dungeon (BSP) parameters.")
    rooms_and_mazes: RoomsAndMazesParams = Field(default_factory=RoomsAndMazesParams, description="Rooms-and-mazes parameters.")
    cave: CaveParams = Field(default_factory=CaveParams, description="Cave parameters (also used by mixed).")
    maze: MazeParams = Field(default_factory=MazeParams, description="Maze parameters.")
    corridor: CorridorParams = Field(default_factory=CorridorParams, description="Corridor parameters.")
    text: TextParams = Field(default_factory=TextParams, description="Text panel parameters.")
    mixed: MixedParams = Field(default_factory=MixedParams, description="Mixed layout parameters.")

    @model_validator(mode="after")
    def _geometry(self) -> "DatasetConfig":
        if self.cell_size not in (8, 16, 32):
            raise ValueError(f"cell_size must be 8, 16 or 32 (16 matches a FLUX token), got {self.cell_size}")
        if self.resolution % self.cell_size:
            raise ValueError(
                f"resolution {self.resolution} is not a multiple of cell_size {self.cell_size}"
            )
        if self.resolution // self.cell_size < 24:
            raise ValueError("resolution / cell_size must give at least 24 cells per side")
        n = self.cells
        for key, value, most, why in (
            ("corridor] width", self.corridor.width[1], (n - 1) // 2 - 2, "a corridor and its walls must fit twice across the grid"),
            ("dungeon] min_leaf", self.dungeon.min_leaf[1], n, "a leaf cannot be larger than the grid"),
            ("rooms_and_mazes] room_size", self.rooms_and_mazes.room_size[1], n - 2, "a room and its walls must fit the grid"),
            ("maze] nodes", self.maze.nodes[0], (n - 3) // 2, "the smallest maze must fit inside its outer wall"),
            ("cave] min_chamber", self.cave.min_chamber, n * n, "no chamber is larger than the grid"),
        ):
            if value > most:
                raise ValueError(f"[dataset.{key} {value} does not fit a grid of {n}x{n} cells (resolution {self.resolution} / "
                                 f"cell_size {self.cell_size}): at most {most}; {why}")
        return self

    @property
    def cells(self) -> int:
        return self.resolution // self.cell_size

    def content_fingerprint(self) -> dict:
        """Everything that decides what image i looks like: count, out and workers do not."""
        return self.model_dump(mode="json", exclude={"count", "out"})


# -- training ------------------------------------------------------------------------------------

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
VerificationPrompt = "ascii_structure_style, systematic dungeon map, infinite corridor, white on black"


class ModelConfig(Strict):
    """``[model]``: local files of FLUX.1-dev and its encoders (sd-scripts takes no Hub ids)."""

    flux: ConfigPath = Field("models/flux1-dev.safetensors", description="FLUX.1-dev transformer (BFL single-file format).")
    clip_l: ConfigPath = Field("models/clip_l.safetensors", description="CLIP-L text encoder.")
    t5xxl: ConfigPath = Field("models/t5xxl_fp16.safetensors", description="T5-XXL text encoder (fp16 or fp8 file).")
    ae: ConfigPath = Field("models/ae.safetensors", description="FLUX autoencoder (VAE).")
    tokenizer_cache_dir: ConfigPath = Field(
        "models/tokenizers", description="Pre-filled tokenizer cache so training never reaches the Hub."
    )


class NetworkConfig(Strict):
    """``[network]``: the LoRA itself."""

    module: Literal["networks.lora_flux"] = Field("networks.lora_flux", description="sd-scripts network module for FLUX LoRA.")
    dim: int = Field(64, ge=1, le=1024, description="LoRA rank.")
    alpha: float = Field(32.0, gt=0, description="LoRA alpha; the update is scaled by alpha / dim.")
    train_unet_only: bool = Field(True, description="Train the transformer only, not the text encoders.")
    dropout: float | None = Field(None, ge=0, lt=1, description="Neuron dropout, None for off.")
    args: list[str] = Field(default_factory=list, description="Extra --network_args, e.g. ['train_blocks=single'].")

    @field_validator("args")
    @classmethod
    def _key_values(cls, v: list[str]) -> list[str]:
        return _kohya_args("args", v)


class OptimizerConfig(Strict):
    """``[optimizer]``"""

    type: str = Field("adamw8bit", description="One of: " + ", ".join(OPTIMIZERS) + ".")
    learning_rate: float = Field(4e-4, description="Peak learning rate; must be > 0.")
    scheduler: str = Field("constant_with_warmup", description="One of: " + ", ".join(SCHEDULERS) + ".")
    warmup_steps: int = Field(100, ge=0, description="Learning-rate warm-up steps.")
    max_grad_norm: float = Field(1.0, ge=0, description="Gradient clipping, 0 for off.")
    args: list[str] = Field(default_factory=list, description="Extra --optimizer_args, e.g. ['weight_decay=0.01'].")

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
    def _warmup_fits_scheduler(self) -> "OptimizerConfig":
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

    max_train_steps: int = Field(3000, ge=1, description="Optimizer steps.")
    mixed_precision: Literal["bf16", "fp16"] = Field("bf16", description="Compute precision; FLUX is trained in bf16.")
    save_precision: Literal["bf16", "fp16", "float"] = Field("bf16", description="dtype of the saved LoRA.")
    resolution: int | list[int] = Field(1024, description="Training resolution: one side, or [width, height] (must be square).")
    batch_size: int | None = Field(None, ge=1, le=64, description="Per-GPU batch; None takes the VRAM profile's.")
    gradient_accumulation_steps: int = Field(1, ge=1, description="Batches per optimizer step.")
    num_repeats: int = Field(1, ge=1, description="Times each image is repeated per epoch.")
    seed: int = Field(42, ge=0, description="Training seed (noise, shuffling).")
    save_every_n_steps: int = Field(500, ge=1, description="Checkpoint (and resumable state) interval.")
    output_dir: ConfigPath = Field("runs/flux_ascii", description="Run directory: plan files, log, checkpoints, samples.")
    output_name: str = Field("flux_ascii_structure_v1", description="Checkpoint file stem.")
    resume: bool = Field(False, description="Continue from the newest saved state (also RESUME=1).")
    gradient_checkpointing: bool = Field(True, description="Trade compute for memory; needed below 48 GB.")
    cache_latents_to_disk: bool = Field(True, description="Encode images once with the VAE and keep latents on disk.")
    cache_text_encoder_outputs: bool = Field(True, description="Encode captions once; frees the text encoders' VRAM.")
    guidance_scale: float = Field(1.0, gt=0, description="Embedded guidance during training; sd-scripts docs: 1.0 for dev.")
    timestep_sampling: Literal["sigma", "uniform", "sigmoid", "shift", "flux_shift"] = Field("shift", description="Timestep distribution.")
    discrete_flow_shift: float = Field(3.1582, gt=0, description="Shift for timestep_sampling = shift.")
    model_prediction_type: Literal["raw", "additive", "sigma_scaled"] = Field("raw", description="How the model output is read.")
    max_data_loader_n_workers: int = Field(2, ge=0, description="Data loader processes.")
    keep_tokens: int = Field(1, ge=0, description="Leading caption tokens kept in place (the trigger word).")
    flip_aug: bool = Field(False, description="Horizontal flips; refused with text (mirrored glyphs).")
    random_crop: bool = Field(False, description="Refused: a crop moves the 16 px grid.")
    enable_bucket: bool = Field(False, description="Refused: bucketing resizes and moves the grid.")
    color_aug: bool = Field(False, description="Refused: colour jitter makes grey.")
    shuffle_caption: bool = Field(False, description="Shuffle caption tags; needs cache_text_encoder_outputs = false.")
    caption_dropout_rate: float = Field(0.0, ge=0, le=1, description="Share of steps trained with an empty caption.")

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
            raise ValueError(f"output_name {v!r} must be a plain file stem (no /, no control characters, not . or ..)")
        if v.startswith("-"):
            raise ValueError(f"output_name {v!r} starts with '-': the trainer would read it as a flag")
        if len(v.encode()) > OUTPUT_NAME_BYTES:
            raise ValueError(f"output_name is {len(v.encode())} bytes long, at most {OUTPUT_NAME_BYTES}: sd-scripts appends "
                             "'-step00000000-state' and file names stop at 255 bytes")
        return v

    @model_validator(mode="after")
    def _caching_rules(self) -> "TrainingConfig":
        if self.cache_text_encoder_outputs and self.shuffle_caption:
            raise ValueError("shuffle_caption needs fresh text encodings: set cache_text_encoder_outputs = false or shuffle_caption = false")
        if self.cache_text_encoder_outputs and self.caption_dropout_rate > 0:
            raise ValueError("caption_dropout_rate > 0 needs cache_text_encoder_outputs = false")
        return self


class SampleConfig(Strict):
    """``[sample]``: images sd-scripts draws during training, the checker's input."""

    prompts: list[str] = Field(
        default_factory=lambda: [
            VerificationPrompt,
            "ascii_structure_style, roguelike rooms and mazes, 12 rooms linked by winding passages, brick walls, white on black",
            "ascii_structure_style, cave system, 5 chambers joined by tunnels, thin line walls, white on black",
            'ascii_structure_style, framed text panel titled "IRON GATE", line frame, white on black',
        ],
        min_length=1,
        description="Prompts; the first is the kit's verification prompt.",
    )
    every_n_steps: int = Field(250, ge=1, description="Sample interval in steps.")
    at_first: bool = Field(False, description="Also sample before training (step 0): the base model's baseline.")
    width: int = Field(1024, description="Sample width (multiple of 16).")
    height: int = Field(1024, description="Sample height (multiple of 16).")
    guidance: float = Field(3.5, gt=0, description="Embedded guidance at sampling (--g).")
    steps: int = Field(20, ge=1, le=1000, description="Sampling steps (--s).")
    seed: int = Field(1234, ge=0, description="Sample seed (--d): the same noise at every checkpoint.")

    @field_validator("prompts")
    @classmethod
    def _one_clean_line_each(cls, prompts: list[str]) -> list[str]:
        for p in prompts:
            if _no_control(p.rstrip("\n")):
                raise ValueError(f"prompt {p!r} contains the control character {_no_control(p)}; sd-scripts reads "
                                 "prompts line by line")
        return prompts

    @model_validator(mode="after")
    def _sizes(self) -> "SampleConfig":
        for name in ("width", "height"):
            v = getattr(self, name)
            if v % 16 or v < 256:
                raise ValueError(f"{name} {v} must be a multiple of 16 and at least 256")
        for p in self.prompts:
            if not p.strip() or "\n" in p:
                raise ValueError("each prompt must be one non-empty line")
            if p.lstrip().startswith("#"):
                raise ValueError(f"prompt {p!r} starts with '#', which sd-scripts skips as a comment")
            if " --" in p:
                raise ValueError(f"prompt {p!r} contains ' --', which sd-scripts reads as a sample option")
        return self


class VramProfile(BaseModel):
    """What one card size needs (sd-scripts docs/flux_train_network.md, all with fp8 below 48 GB)."""

    min_vram_gib: float
    fp8_base: bool
    blocks_to_swap: int
    batch_size: int
    needs_8bit_optimizer: bool
    why: str


VRAM_PROFILES: dict[str, VramProfile] = {
    "48gb+": VramProfile(min_vram_gib=44, fp8_base=False, blocks_to_swap=0, batch_size=2, needs_8bit_optimizer=False,
                         why="bf16 base weights fit beside activations; no fp8 quantisation error"),
    "24gb": VramProfile(min_vram_gib=22, fp8_base=True, blocks_to_swap=0, batch_size=2, needs_8bit_optimizer=False,
                        why="fp8 base; sd-scripts: basic settings work at batch size 2"),
    "16gb": VramProfile(min_vram_gib=15, fp8_base=True, blocks_to_swap=8, batch_size=1, needs_8bit_optimizer=False,
                        why="fp8 base, batch 1, 8 of 57 blocks swapped to CPU"),
    "12gb": VramProfile(min_vram_gib=11, fp8_base=True, blocks_to_swap=16, batch_size=1, needs_8bit_optimizer=True,
                        why="fp8 base, 16 blocks swapped, 8-bit optimizer states"),
}


class HardwareConfig(Strict):
    """``[hardware]``"""

    vram_profile: Literal["48gb+", "24gb", "16gb", "12gb"] = Field("24gb", description="Card size: " + "; ".join(f"{k}: {v.why}" for k, v in VRAM_PROFILES.items()))
    num_gpus: int = Field(1, ge=1, le=64, description="GPUs on this machine; > 1 launches accelerate --multi_gpu.")
    num_cpu_threads_per_process: int = Field(2, ge=1, description="accelerate --num_cpu_threads_per_process.")
    blocks_to_swap: int | None = Field(None, ge=0, le=35, description="Override the profile's block swap (0-35).")
    price_per_hour: float | None = Field(None, ge=0, description="What the card costs per hour (any currency); set, "
                                         "`plan` and the pre-flight print the run's cost beside its duration.")

    @property
    def profile(self) -> VramProfile:
        return VRAM_PROFILES[self.vram_profile]

    @property
    def swap(self) -> int:
        return self.profile.blocks_to_swap if self.blocks_to_swap is None else self.blocks_to_swap


class CheckConfig(Strict):
    """``[check]``: how ``ascii-lora check`` judges samples. FLUX's VAE never returns exact 0/255,
    so "black" and "white" are bands; the defaults pass a few levels of decoder noise and mild
    JPEG ringing, and fail blur and anti-aliasing. The grid is judged from geometry (reused cell
    patterns inside their cells), never from resemblance to the kit's own font."""

    black_tolerance: int = Field(8, ge=0, le=127, description="Pixels <= this level count as black.")
    white_tolerance: int = Field(8, ge=0, le=127, description="Pixels >= 255 - this level count as white.")
    max_edge_grey: float = Field(0.05, ge=0, le=1, description="Crisp when at most this share of the pixels beside a black/white edge is grey (outside both bands).")
    max_background_level: float = Field(8.0, ge=0, le=255, description="Black background when the flat (empty) cells sit at or below this level.")
    min_cell_pixels: int = Field(2, ge=1, le=256, description="A cell is drawn when it holds at least this many stroke pixels (white pixels with a white neighbour; lone specks do not count).")
    min_drawn_share: float = Field(0.01, ge=0, le=1, description="Content: at least this share of cells must be drawn.")
    min_breadth: float = Field(3.0, ge=0, le=1024, description="Content: the drawing's spread across its main direction (px, smaller principal spread of the stroke pixels) must reach this; a lone line of any slope is about 1.")
    max_speck_share: float = Field(0.3, ge=0, le=1, description="Content: at most this share of white pixels may be isolated specks (salt noise fails).")
    min_grid_score: float = Field(0.9, ge=0, le=1, description="Grid found when at least this share of the drawn ink lies in cells that are reused patterns no block edge cuts.")
    max_period_error: float = Field(0.5, ge=0, le=8, description="Not aligned when the measured structure period differs from the cell size by more than this many px.")
    read_max_distance: float = Field(0.35, ge=0, le=1, description="Read-back: a foreign glyph reads as a character when its tolerant shape distance (0 same .. 1 disjoint) is at most this.")
    read_min_margin: float = Field(0.03, ge=0, le=1, description="Read-back: ...and when the runner-up character is at least this much farther; otherwise the cell reads '?'.")


class TrainerConfig(Strict):
    """``[trainer]``: who runs the recipe. The other tables hold the recipe itself, once, for both."""

    kind: Literal["kohya", "simpletuner"] = Field(
        "kohya",
        description="kohya: sd-scripts (vendor/sd-scripts, the project environment); simpletuner: SimpleTuner 3.1.6 "
        "in its own environment (.venv-simpletuner). Also --trainer on plan, train and setup-train.",
    )


class VerifyConfig(Strict):
    """``[verify]``: ``ascii-lora verify`` (every saved LoRA x prompts x seeds) and ``ascii-lora generate``.
    Prompts, size, steps and guidance come from ``[sample]``, so verification judges what training sampled."""

    seeds: int = Field(8, ge=1, le=1000, description="Seeds per prompt and checkpoint: pictures per checkpoint = [sample] prompts (the verification prompt always among them) x seeds.")
    first_seed: int = Field(0, ge=0, le=2**32 - 1000, description="Seeds drawn: first_seed, first_seed + 1, ...")
    baseline: bool = Field(True, description="Also draw the base model without LoRA: the yardstick of every pass rate.")
    multiplier: float = Field(1.0, gt=0, le=4, description="LoRA strength when drawing.")
    steps: int | None = Field(None, ge=1, le=1000, description="Sampling steps; None takes [sample] steps.")
    guidance: float | None = Field(None, gt=0, description="Embedded guidance; None takes [sample] guidance.")
    precision: Literal["auto", "bf16", "fp8"] = Field("auto", description="FLUX in memory: bf16 (all resident, needs a 40 GB card, 6 s per 1024 px picture on an H100) or fp8 with CPU offload (a 16 GB card, 22 s); auto: bf16 for vram_profile 48gb+, else fp8.")
    count: int = Field(4, ge=1, le=1000, description="`generate`: pictures per prompt.")
    out: str = Field("generated", description="`generate`: output folder.")


class ExperimentConfig(Strict):
    """One experiment file: the tables of ``configs/flux_ascii.toml``."""

    dataset: DatasetConfig = Field(default_factory=DatasetConfig, description="Training-set generator.")
    model: ModelConfig = Field(default_factory=ModelConfig, description="Base model files.")
    network: NetworkConfig = Field(default_factory=NetworkConfig, description="LoRA network.")
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig, description="Optimizer and schedule.")
    training: TrainingConfig = Field(default_factory=TrainingConfig, description="Training run.")
    sample: SampleConfig = Field(default_factory=SampleConfig, description="Samples drawn during training.")
    hardware: HardwareConfig = Field(default_factory=HardwareConfig, description="GPU profile.")
    check: CheckConfig = Field(default_factory=CheckConfig, description="Sample checker thresholds.")
    trainer: TrainerConfig = Field(default_factory=TrainerConfig, description="Which trainer runs the plan.")
    verify: VerifyConfig = Field(default_factory=VerifyConfig, description="Drawing with the trained LoRA after training.")
    validation: ValidationConfig = Field(default_factory=ValidationConfig, description="Held-out images and their loss.")
    notify: NotifyConfig = Field(default_factory=NotifyConfig, description="A webhook told about the run.")

    @model_validator(mode="after")
    def _consistent(self) -> "ExperimentConfig":
        if self.training.side != self.dataset.resolution:
            raise ValueError(
                f"[training] resolution {self.training.side} differs from [dataset] resolution "
                f"{self.dataset.resolution}; Kohya would resize the images off the grid"
            )
        if self.training.flip_aug and self.dataset.mix.text > 0:
            raise ValueError("[training] flip_aug = true mirrors the glyphs of the text family; set flip_aug = false or [dataset.mix] text = 0")
        p = self.hardware.profile
        if p.needs_8bit_optimizer and not self.optimizer.type.endswith("8bit"):
            raise ValueError(f"[hardware] vram_profile {self.hardware.vram_profile} needs an 8-bit optimizer (adamw8bit), got [optimizer] type {self.optimizer.type!r}")
        held_out_images(self.validation, self.dataset.count)  # one line when it leaves no training image
        if self.trainer.kind == "simpletuner":
            refused = simpletuner_refusals(self)
            if refused:
                raise ValueError(refused[0] + (f" (+{len(refused) - 1} more)" if len(refused) > 1 else ""))
        return self

    def warnings(self) -> list[str]:
        """Legal but suspicious settings: printed, never fatal."""
        out = []
        if self.network.alpha > self.network.dim:
            out.append(f"[network] alpha {self.network.alpha:g} > dim {self.network.dim}: updates are scaled up by {self.network.alpha / self.network.dim:g}x")
        if self.training.save_every_n_steps > self.training.max_train_steps:
            out.append("[training] save_every_n_steps > max_train_steps: only the final LoRA is saved and the run cannot resume midway")
        if self.sample.every_n_steps > self.training.max_train_steps:
            out.append("[sample] every_n_steps > max_train_steps: no samples during training, nothing for `make check`")
        if self.training.mixed_precision == "fp16":
            out.append("[training] mixed_precision fp16: FLUX is trained in bf16; fp16 overflows are likely")
        if self.optimizer.learning_rate > 2e-3:
            out.append(f"[optimizer] learning_rate {self.optimizer.learning_rate:g} is very high for a rank-{self.network.dim} FLUX LoRA")
        held = validation_warning(self.validation, self.dataset.count)
        if held:
            out.append(held)
        return out
