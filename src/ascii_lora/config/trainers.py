"""Which experiment settings each trainer can honour, so a switch of trainer never drops one silently.

The experiment file describes one LoRA recipe; ``[trainer] kind`` picks who runs it. Most keys
have an exact counterpart in both trainers (train/simpletuner.py maps them). The ones below are
Kohya sd-scripts concepts with no SimpleTuner equivalent at the pinned release: left at their
default they are simply not used, changed they would silently not happen, so they are refused
with a line that names both trainers. (SimpleTuner-only settings are not in the experiment file
at all, so nothing is refused the other way.)
"""

from __future__ import annotations

from typing import Any, Protocol

from .run_tables import HardwareConfig
from .training_tables import OptimizerConfig

SIMPLETUNER = "SimpleTuner 3.1.6"


class _Experiment(Protocol):
    """What the refusals read of an ExperimentConfig (the other tables by name), without importing models."""

    @property
    def hardware(self) -> HardwareConfig: ...

    @property
    def optimizer(self) -> OptimizerConfig: ...


# (table, key) -> why SimpleTuner has no counterpart. Refused when the value differs from the default.
NO_SIMPLETUNER_EQUIVALENT: dict[tuple[str, str], str] = {
    (
        "model",
        "clip_l",
    ): "SimpleTuner loads CLIP-L from the FLUX.1-dev diffusers repository, not from a single file",
    (
        "model",
        "t5xxl",
    ): "SimpleTuner loads T5-XXL from the FLUX.1-dev diffusers repository, not from a single file",
    (
        "model",
        "ae",
    ): "SimpleTuner loads the VAE from the FLUX.1-dev diffusers repository, not from a single file",
    ("model", "tokenizer_cache_dir"): "SimpleTuner takes its tokenizers from the Hugging Face cache",
    ("network", "train_unet_only"): "the SimpleTuner plan trains the FLUX transformer only",
    (
        "cluster",
        "num_machines",
    ): "the kit plans SimpleTuner on one machine; several machines are proven with sd-scripts",
    (
        "network",
        "dropout",
    ): "Kohya's neuron dropout drops LoRA rank activations; SimpleTuner's lora_dropout (PEFT) drops the layer input",
    ("network", "args"): "--network_args are options of sd-scripts' networks.lora_flux",
    ("training", "save_precision"): "SimpleTuner saves the LoRA in its own training dtype",
    (
        "training",
        "output_name",
    ): "SimpleTuner names its files itself (checkpoint-N/pytorch_lora_weights.safetensors)",
    ("training", "cache_text_encoder_outputs"): "SimpleTuner always caches text embeddings",
    ("training", "max_data_loader_n_workers"): "SimpleTuner sizes its data loading itself",
    ("training", "keep_tokens"): "SimpleTuner does not shuffle or drop caption tokens",
    ("training", "shuffle_caption"): "SimpleTuner does not shuffle caption tags",
    ("training", "flip_aug"): "SimpleTuner has no flip augmentation",
}

# Values of mapped keys that SimpleTuner cannot reproduce: (table, key) -> {value: why}.
NO_SIMPLETUNER_VALUE: dict[tuple[str, str], dict[Any, str]] = {
    ("optimizer", "type"): {
        "lion": "sd-scripts' Lion is lion-pytorch's; SimpleTuner offers only other implementations (optimi-lion, bnb-lion)",
        "adafactor": "SimpleTuner removed Adafactor (its deprecated_optimizers list)",
        "prodigy": "sd-scripts' Prodigy is prodigyopt's; SimpleTuner's 'prodigy' is the schedule-free ProdigyPlus, another algorithm",
    },
    ("training", "timestep_sampling"): {
        "sigma": "sd-scripts' 'sigma' samples from the noise scheduler's sigmas; SimpleTuner has no such schedule",
    },
    ("training", "model_prediction_type"): {
        "additive": "SimpleTuner reads the FLUX output raw only",
        "sigma_scaled": "SimpleTuner reads the FLUX output raw only",
    },
    ("training", "seed"): {
        0: "SimpleTuner reads seed 0 as 'a new seed from the clock', sd-scripts as the fixed seed 0"
    },
    ("sample", "seed"): {
        0: "SimpleTuner reads validation_seed 0 as 'use the training seed', sd-scripts as the fixed seed 0"
    },
}


def _show(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, str):
        return f'"{v}"'
    return repr(v)


def simpletuner_refusals(cfg: _Experiment) -> list[str]:
    """One line per setting of ``cfg`` that SimpleTuner would not honour (empty: it can run ``cfg``)."""
    out: list[str] = []
    switch = 'or train with [trainer] kind = "kohya"'
    for (table, key), why in NO_SIMPLETUNER_EQUIVALENT.items():
        model = getattr(cfg, table)
        field = type(model).model_fields[key]
        default = field.get_default(call_default_factory=True)
        value = getattr(model, key)
        if value != default:
            out.append(
                f"[{table}] {key} = {_show(value)} has no {SIMPLETUNER} equivalent ({why}); "
                f"set it back to {_show(default)} {switch} (Kohya sd-scripts honours it)"
            )
    for (table, key), values in NO_SIMPLETUNER_VALUE.items():
        value = getattr(getattr(cfg, table), key)
        if value in values and not isinstance(value, bool):
            out.append(
                f"[{table}] {key} = {_show(value)} has no {SIMPLETUNER} equivalent ({values[value]}); "
                f"choose another value {switch} (Kohya sd-scripts supports it)"
            )
    if cfg.hardware.swap:
        h = cfg.hardware
        where = (
            "[hardware] blocks_to_swap"
            if h.blocks_to_swap is not None
            else f'[hardware] vram_profile = "{h.vram_profile}"'
        )
        out.append(
            f"{where} swaps {h.swap} FLUX blocks to the CPU (sd-scripts --blocks_to_swap), which has no {SIMPLETUNER} "
            f'equivalent (its group offload is another mechanism); use vram_profile "24gb" or "48gb+" '
            f"with blocks_to_swap = 0 {switch} (Kohya sd-scripts swaps blocks)"
        )
    for arg in cfg.optimizer.args:
        name, sep, val = arg.partition("=")
        if not sep or not name.strip() or not _plain_scalar(val):
            out.append(
                f"[optimizer] args entry {arg!r} cannot be passed to {SIMPLETUNER} (its optimizer_config takes "
                f"'name=number' or 'name=true/false' only); simplify it {switch} (Kohya sd-scripts takes Python literals)"
            )
    return out


def _plain_scalar(text: str) -> bool:
    t = text.strip()
    if t.lower() in ("true", "false"):
        return True
    try:
        float(t)
    except ValueError:
        return False
    return "," not in t
