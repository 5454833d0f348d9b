"""The experiment model: the one place where defaults live.

An experiment TOML (``configs/flux_ascii.toml``) holds tables that mirror these models. Every
model forbids unknown keys, so a typo is an error that names the key instead of a setting that
silently does nothing.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from .cluster import ClusterConfig
from .common import (  # noqa: F401 - one import surface for every table
    MAX_CELLS,
    MAX_WEIGHT,
    ConfigPath,
    FloatRange,
    IntRange,
    Strict,
    _check_range,
    _config_path,
    _kohya_args,
    _no_control,
)
from .dataset_tables import (  # noqa: F401 - one import surface for every table
    CaveParams,
    CorridorParams,
    DatasetConfig,
    DungeonParams,
    FamilyMix,
    MazeParams,
    MixedParams,
    RoomsAndMazesParams,
    TextParams,
)
from .run_tables import (  # noqa: F401 - one import surface for every table
    VRAM_PROFILES,
    CheckConfig,
    HardwareConfig,
    SampleConfig,
    TrainerConfig,
    VerificationPrompt,
    VerifyConfig,
    VramProfile,
)
from .trainers import simpletuner_refusals
from .training_tables import (  # noqa: F401 - one import surface for every table
    OPTIMIZERS,
    OUTPUT_NAME_BYTES,
    SCHEDULERS,
    ModelConfig,
    NetworkConfig,
    OptimizerConfig,
    TrainingConfig,
)
from .watch import NotifyConfig, ValidationConfig, held_out_images, validation_warning

# Every name the table modules define, re-exported: other modules (and other branches) import them from here.
__all__ = [
    "CaveParams",
    "CheckConfig",
    "ConfigPath",
    "CorridorParams",
    "DatasetConfig",
    "DungeonParams",
    "ExperimentConfig",
    "FamilyMix",
    "FloatRange",
    "HardwareConfig",
    "IntRange",
    "MAX_CELLS",
    "MAX_WEIGHT",
    "MazeParams",
    "MixedParams",
    "ModelConfig",
    "NetworkConfig",
    "NotifyConfig",
    "OPTIMIZERS",
    "OUTPUT_NAME_BYTES",
    "OptimizerConfig",
    "RoomsAndMazesParams",
    "SCHEDULERS",
    "SampleConfig",
    "Strict",
    "TextParams",
    "TrainerConfig",
    "TrainingConfig",
    "VRAM_PROFILES",
    "ValidationConfig",
    "VerificationPrompt",
    "VerifyConfig",
    "VramProfile",
    "_check_range",
    "_config_path",
    "_kohya_args",
    "_no_control",
]


class ExperimentConfig(Strict):
    """One experiment file: the tables of ``configs/flux_ascii.toml``."""

    dataset: DatasetConfig = Field(default_factory=DatasetConfig, description="Training-set generator.")
    model: ModelConfig = Field(default_factory=ModelConfig, description="Base model files.")
    network: NetworkConfig = Field(default_factory=NetworkConfig, description="LoRA network.")
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig, description="Optimizer and schedule.")
    training: TrainingConfig = Field(default_factory=TrainingConfig, description="Training run.")
    sample: SampleConfig = Field(default_factory=SampleConfig, description="Samples drawn during training.")
    hardware: HardwareConfig = Field(default_factory=HardwareConfig, description="GPU profile.")
    cluster: ClusterConfig = Field(
        default_factory=ClusterConfig, description="Several machines under accelerate."
    )
    check: CheckConfig = Field(default_factory=CheckConfig, description="Sample checker thresholds.")
    trainer: TrainerConfig = Field(default_factory=TrainerConfig, description="Which trainer runs the plan.")
    verify: VerifyConfig = Field(
        default_factory=VerifyConfig, description="Drawing with the trained LoRA after training."
    )
    validation: ValidationConfig = Field(
        default_factory=ValidationConfig, description="Held-out images and their loss."
    )
    notify: NotifyConfig = Field(default_factory=NotifyConfig, description="A webhook told about the run.")

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentConfig:
        if self.training.side != self.dataset.resolution:
            raise ValueError(
                f"[training] resolution {self.training.side} differs from [dataset] resolution "
                f"{self.dataset.resolution}; Kohya would resize the images off the grid"
            )
        if self.training.flip_aug and self.dataset.mix.text > 0:
            raise ValueError(
                "[training] flip_aug = true mirrors the glyphs of the text family; set flip_aug = false or [dataset.mix] text = 0"
            )
        p = self.hardware.profile
        if p.needs_8bit_optimizer and not self.optimizer.type.endswith("8bit"):
            raise ValueError(
                f"[hardware] vram_profile {self.hardware.vram_profile} needs an 8-bit optimizer (adamw8bit), got [optimizer] type {self.optimizer.type!r}"
            )
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
            out.append(
                f"[network] alpha {self.network.alpha:g} > dim {self.network.dim}: updates are scaled up by {self.network.alpha / self.network.dim:g}x"
            )
        if self.training.save_every_n_steps > self.training.max_train_steps:
            out.append(
                "[training] save_every_n_steps > max_train_steps: only the final LoRA is saved and the run cannot resume midway"
            )
        if self.sample.every_n_steps > self.training.max_train_steps:
            out.append(
                "[sample] every_n_steps > max_train_steps: no samples during training, nothing for `make check`"
            )
        if self.training.mixed_precision == "fp16":
            out.append("[training] mixed_precision fp16: FLUX is trained in bf16; fp16 overflows are likely")
        if self.optimizer.learning_rate > 2e-3:
            out.append(
                f"[optimizer] learning_rate {self.optimizer.learning_rate:g} is very high for a rank-{self.network.dim} FLUX LoRA"
            )
        held = validation_warning(self.validation, self.dataset.count)
        if held:
            out.append(held)
        return out
