"""``[sample]``, ``[hardware]``, ``[check]``, ``[trainer]``, ``[verify]``: around the training run (re-exported by
``config.models``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from .common import Strict, _no_control

VerificationPrompt = "ascii_structure_style, systematic dungeon map, infinite corridor, white on black"


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
    at_first: bool = Field(
        False, description="Also sample before training (step 0): the base model's baseline."
    )
    width: int = Field(1024, description="Sample width (multiple of 16).")
    height: int = Field(1024, description="Sample height (multiple of 16).")
    guidance: float = Field(3.5, gt=0, description="Embedded guidance at sampling (--g).")
    steps: int = Field(20, ge=1, le=1000, description="Sampling steps (--s).")
    # torch.manual_seed takes at most 2**64 - 1: more fails at the first sample, after hours of training
    seed: int = Field(
        1234, ge=0, le=2**64 - 1, description="Sample seed (--d): the same noise at every checkpoint."
    )

    @field_validator("prompts")
    @classmethod
    def _one_clean_line_each(cls, prompts: list[str]) -> list[str]:
        for p in prompts:
            if _no_control(p.rstrip("\n")):
                raise ValueError(
                    f"prompt {p!r} contains the control character {_no_control(p)}; sd-scripts reads "
                    "prompts line by line"
                )
        return prompts

    @model_validator(mode="after")
    def _sizes(self) -> SampleConfig:
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
    "48gb+": VramProfile(
        min_vram_gib=44,
        fp8_base=False,
        blocks_to_swap=0,
        batch_size=2,
        needs_8bit_optimizer=False,
        why="bf16 base weights fit beside activations; no fp8 quantisation error",
    ),
    "24gb": VramProfile(
        min_vram_gib=22,
        fp8_base=True,
        blocks_to_swap=0,
        batch_size=2,
        needs_8bit_optimizer=False,
        why="fp8 base; sd-scripts: basic settings work at batch size 2",
    ),
    "16gb": VramProfile(
        min_vram_gib=15,
        fp8_base=True,
        blocks_to_swap=8,
        batch_size=1,
        needs_8bit_optimizer=False,
        why="fp8 base, batch 1, 8 of 57 blocks swapped to CPU",
    ),
    "12gb": VramProfile(
        min_vram_gib=11,
        fp8_base=True,
        blocks_to_swap=16,
        batch_size=1,
        needs_8bit_optimizer=True,
        why="fp8 base, 16 blocks swapped, 8-bit optimizer states",
    ),
}


class HardwareConfig(Strict):
    """``[hardware]``"""

    vram_profile: Literal["48gb+", "24gb", "16gb", "12gb"] = Field(
        "24gb", description="Card size: " + "; ".join(f"{k}: {v.why}" for k, v in VRAM_PROFILES.items())
    )
    num_gpus: int = Field(
        1,
        ge=1,
        le=64,
        description="GPUs on each machine, one process each; > 1 (or [cluster] num_machines > 1) launches accelerate --multi_gpu.",
    )
    num_cpu_threads_per_process: int = Field(2, ge=1, description="accelerate --num_cpu_threads_per_process.")
    blocks_to_swap: int | None = Field(
        None, ge=0, le=35, description="Override the profile's block swap (0-35)."
    )
    price_per_hour: float | None = Field(
        None,
        ge=0,
        description="What the card costs per hour (any currency); set, "
        "`plan` and the pre-flight print the run's cost beside its duration.",
    )

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
    max_edge_grey: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Crisp when at most this share of the pixels beside a black/white edge is grey (more than edge_band of the contrast away from both the picture's dark and light levels).",
    )
    edge_band: float = Field(
        0.15,
        ge=0,
        le=0.5,
        description="Crisp: a pixel beside an edge within this share of the dark-to-light contrast of either level is black or white, not grey (decoder noise and JPEG ringing stay within it, blur and anti-aliasing do not).",
    )
    min_white_level: float = Field(
        192.0,
        ge=0,
        le=255,
        description="Crisp: the strokes' median level must reach this (grey strokes are not white).",
    )
    max_background_level: float = Field(
        24.0,
        ge=0,
        le=255,
        description="Black background when the flat (empty) cells sit at or below this level (a decoder's black is 10-16, a grey background 35+).",
    )
    min_cell_pixels: int = Field(
        2,
        ge=1,
        le=256,
        description="A cell is drawn when it holds at least this many stroke pixels (white pixels with a white neighbour; lone specks do not count).",
    )
    min_drawn_share: float = Field(
        0.01, ge=0, le=1, description="Content: at least this share of cells must be drawn..."
    )
    min_sparse_share: float = Field(
        0.005,
        ge=0,
        le=1,
        description="...or at least this share (a single framed panel is ~1 %), when its drawn cells join up (min_connected_share).",
    )
    min_connected_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Content of a sparse picture: at least this share of its drawn cells touch another drawn cell (a panel's cells join up; scattered specks do not).",
    )
    min_breadth: float = Field(
        3.0,
        ge=0,
        le=1024,
        description="Content: the drawing's spread across its main direction (px, smaller principal spread of the stroke pixels) must reach this; a lone line of any slope is about 1.",
    )
    max_speck_share: float = Field(
        0.3,
        ge=0,
        le=1,
        description="Content: at most this share of white pixels may be isolated specks (salt noise fails).",
    )
    min_grid_score: float = Field(
        0.9,
        ge=0,
        le=1,
        description="Grid found when at least this share of the drawn ink lies in cells that are reused patterns no block edge cuts.",
    )
    max_period_error: float = Field(
        0.5,
        ge=0,
        le=8,
        description="Not aligned when the measured structure period differs from the cell size by more than this many px.",
    )
    read_max_distance: float = Field(
        0.35,
        ge=0,
        le=1,
        description="Read-back: a foreign glyph reads as a character when its tolerant shape distance (0 same .. 1 disjoint) is at most this.",
    )
    read_min_margin: float = Field(
        0.03,
        ge=0,
        le=1,
        description="Read-back: ...and when the runner-up character is at least this much farther; otherwise the cell reads '?'.",
    )
    variant_max_share: float = Field(
        0.15,
        ge=0,
        le=1,
        description="Read-back of the kit's glyphs as a decoder draws them: a cell reads as a tile when it differs from the tile made 1 px thicker, thinner or moved in at most this share of its ink...",
    )
    variant_min_gap: int = Field(
        2,
        ge=0,
        le=256,
        description="...and every other tile's nearest such variant differs in at least twice as many pixels plus this many.",
    )


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

    seeds: int = Field(
        8,
        ge=1,
        le=1000,
        description="Seeds per prompt and checkpoint: pictures per checkpoint = [sample] prompts (the verification prompt always among them) x seeds.",
    )
    first_seed: int = Field(
        0, ge=0, le=2**32 - 1000, description="Seeds drawn: first_seed, first_seed + 1, ..."
    )
    baseline: bool = Field(
        True, description="Also draw the base model without LoRA: the yardstick of every pass rate."
    )
    multiplier: float = Field(1.0, gt=0, le=4, description="LoRA strength when drawing.")
    steps: int | None = Field(None, ge=1, le=1000, description="Sampling steps; None takes [sample] steps.")
    guidance: float | None = Field(None, gt=0, description="Embedded guidance; None takes [sample] guidance.")
    precision: Literal["auto", "bf16", "fp8", "fp32"] = Field(
        "auto",
        description="FLUX in memory: bf16 (all resident, needs a 40 GB card, 6 s per 1024 px picture on an H100) or fp8 with CPU offload (a 16 GB card, 22 s); auto: bf16 for vram_profile 48gb+, else fp8. fp32: float32 everywhere, for a CPU without fast bf16 (what the CPU rehearsal draws with); twice bf16's weights on a card.",
    )
    count: int = Field(4, ge=1, le=1000, description="`generate`: pictures per prompt.")
    out: str = Field("generated", description="`generate`: output folder.")
