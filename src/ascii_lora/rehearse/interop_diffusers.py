"""diffusers' own FLUX LoRA loading, judged on the LoRA files this kit's plans produce.

Two proofs, both through ``FluxLoraLoaderMixin`` (the loader ``FluxPipeline.load_lora_weights``
uses): the rehearsal's trained LoRA loads into a ``FluxTransformer2DModel`` of the stand-in's
size with no key unmatched or ignored and changes its output; and the full FLUX.1-dev key set of
the configured plan (sd-scripts' own network built on the meta device, every ``[network] args``
applied) converts completely onto a meta FLUX.1-dev transformer, every LoRA matrix the shape of
the layer it patches. Needs the train environment with peft (the ``interop`` extra).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..config.models import ExperimentConfig
from .standins import Sizes, _sd_scripts_on_path

PREFIX = "transformer."


class InteropError(Exception):
    """A loader refused, ignored or mismatched something: the message names what."""


@contextlib.contextmanager
def warnings_of(*loggers: str) -> Iterator[list[str]]:
    """Every warning the named loggers (and ``warnings.warn``) emit inside the block."""
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    handler = Keep(logging.WARNING)
    targets = [logging.getLogger(n) for n in loggers]
    for t in targets:
        t.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield seen
        seen.extend(str(w.message) for w in caught)
    finally:
        for t in targets:
            t.removeHandler(handler)


def plan_state_dict(cfg: ExperimentConfig, root: Path, sizes: Sizes | None = None) -> dict[str, Any]:
    """The LoRA state dict sd-scripts would save for this plan on FLUX.1-dev, without its memory.

    sd-scripts' ``lora_flux.create_network`` runs on a meta FLUX built by its own class, with the
    config's rank, alpha, dropout and ``[network] args`` exactly as the trainer parses them
    (``key=value`` strings); every tensor then becomes a zero-stride stand-in of its shape.
    """
    from dataclasses import replace

    import torch

    _sd_scripts_on_path(root / "vendor" / "sd-scripts")
    from library import flux_models, flux_utils
    from networks import lora_flux

    sizes = sizes or Sizes.full()
    spec = flux_models.configs[flux_utils.MODEL_NAME_DEV]
    args = dict(a.split("=", 1) for a in cfg.network.args)
    with torch.device("meta"):
        flux = flux_models.Flux(
            replace(spec.params, depth=sizes.double_blocks, depth_single_blocks=sizes.single_blocks)
        )
        net = lora_flux.create_network(
            1.0,
            cfg.network.dim,
            cfg.network.alpha,
            None,
            [None, None],
            flux,
            neuron_dropout=cfg.network.dropout,
            **args,
        )
        net.apply_to(
            [None, None], flux, apply_text_encoder=not cfg.network.train_unet_only, apply_unet=True
        )  # as the trainer
    alphas = {f"{m.lora_name}.alpha": m.scale * m.lora_dim for m in net.unet_loras + net.text_encoder_loras}
    out: dict[str, Any] = {}
    for k, t in net.state_dict().items():
        if k in alphas:
            out[k] = torch.tensor(alphas[k], dtype=torch.float32)
        else:
            out[k] = torch.zeros((), dtype=torch.bfloat16).expand(tuple(t.shape))
    return out


def _flux_config(double: int, single: int, **over: Any) -> dict[str, Any]:
    """FLUX.1-dev's transformer config (its Hub config.json) with the block counts given."""
    return {
        "patch_size": 1,
        "in_channels": 64,
        "num_layers": double,
        "num_single_layers": single,
        "attention_head_dim": 128,
        "num_attention_heads": 24,
        "joint_attention_dim": 4096,
        "pooled_projection_dim": 768,
        "guidance_embeds": True,
        "axes_dims_rope": (16, 56, 56),
        **over,
    }


def convert(state_dict: dict[str, Any]) -> dict[str, Any]:
    """diffusers' own kohya -> diffusers conversion; anything it cannot place is an error, not a warning."""
    from diffusers import FluxPipeline

    with warnings_of("diffusers") as seen:
        try:
            converted = FluxPipeline.lora_state_dict(dict(state_dict))
        except ValueError as e:
            raise InteropError(f"diffusers refuses the keys: {' '.join(str(e).split())[:300]}") from None
    if isinstance(converted, tuple):
        converted = converted[0]
    noise = [m for m in seen if any(w in m.lower() for w in ("unsupported", "incompatible", "unexpected"))]
    if noise:
        raise InteropError(f"diffusers left keys unconverted: {noise[0][:300]}")
    ignored = sorted(k for k in converted if not k.startswith(PREFIX))
    if ignored:
        raise InteropError(
            f"{len(ignored)} keys would be ignored by the FLUX transformer (first {ignored[0]})"
        )
    return converted


def modules_of(converted: dict[str, Any]) -> dict[str, tuple[int, int, int]]:
    """module path -> (rank, in, out) from lora_A [rank, in] and lora_B [out, rank]."""
    out = {}
    for k, a in converted.items():
        if k.endswith(".lora_A.weight"):
            path = k[len(PREFIX) : -len(".lora_A.weight")]
            b = converted[k.replace(".lora_A.", ".lora_B.")]
            out[path] = (int(a.shape[0]), int(a.shape[1]), int(b.shape[0]))
    return out


def plan_maps_completely(cfg: ExperimentConfig, root: Path) -> str:
    """Every module of the plan's full-size LoRA lands on a FLUX.1-dev layer of the matching shape."""
    import torch
    from diffusers import FluxTransformer2DModel

    sd = plan_state_dict(cfg, root)
    mods = modules_of(convert(sd))
    with torch.device("meta"):
        model = FluxTransformer2DModel(**_flux_config(19, 38))
    layers = dict(model.named_modules())
    for path, (_rank, fan_in, fan_out) in sorted(mods.items()):
        layer = layers.get(path)
        if not isinstance(layer, torch.nn.Linear):
            raise InteropError(f"{path}: no such linear layer in FLUX.1-dev's FluxTransformer2DModel")
        if (layer.in_features, layer.out_features) != (fan_in, fan_out):
            raise InteropError(
                f"{path}: LoRA {fan_in}->{fan_out}, layer {layer.in_features}->{layer.out_features}"
            )
    kohya = sum(k.endswith(".lora_down.weight") for k in sd)
    return (
        f"full FLUX.1-dev plan (rank {cfg.network.dim}"
        + (f", {' '.join(cfg.network.args)}" if cfg.network.args else "")
        + f"): {kohya} sd-scripts modules -> {len(mods)} diffusers layers, every one found with its shape"
    )


def standin_transformer(flux: Path):
    """The stand-in FLUX file as a diffusers FluxTransformer2DModel, via diffusers' own BFL converter.

    Built on the meta device and filled with ``assign=True``, so the checkpoint's every tensor must
    find its parameter (strict) and nothing is initialised twice.
    """
    import torch
    from diffusers import FluxTransformer2DModel
    from diffusers.loaders.single_file_utils import convert_flux_transformer_checkpoint_to_diffusers
    from safetensors.torch import load_file

    bfl = load_file(str(flux))
    double = 1 + max(int(k.split(".")[1]) for k in bfl if k.startswith("double_blocks."))
    single = 1 + max(int(k.split(".")[1]) for k in bfl if k.startswith("single_blocks."))
    cfg = _flux_config(
        double,
        single,
        guidance_embeds="guidance_in.in_layer.weight" in bfl,
        joint_attention_dim=int(bfl["txt_in.weight"].shape[1]),
        pooled_projection_dim=int(bfl["vector_in.in_layer.weight"].shape[1]),
    )
    with torch.device("meta"):
        model = FluxTransformer2DModel(**cfg)
    model.load_state_dict(convert_flux_transformer_checkpoint_to_diffusers(bfl), strict=True, assign=True)
    return model.to(torch.float32).eval(), cfg


def _inputs(cfg: dict[str, Any]) -> dict[str, Any]:
    """A 4x4-latent, 8-token call with fixed noise: enough to see every block's output move."""
    import torch

    g = torch.Generator().manual_seed(0)
    ids = torch.zeros(16, 3)
    ids[:, 1], ids[:, 2] = torch.arange(16) // 4, torch.arange(16) % 4
    return {
        "hidden_states": torch.randn(1, 16, cfg["in_channels"], generator=g),
        "encoder_hidden_states": torch.randn(1, 8, cfg["joint_attention_dim"], generator=g),
        "pooled_projections": torch.randn(1, cfg["pooled_projection_dim"], generator=g),
        "timestep": torch.tensor([0.5]),
        "img_ids": ids,
        "txt_ids": torch.zeros(8, 3),
        "guidance": torch.tensor([3.5]) if cfg["guidance_embeds"] else None,
        "return_dict": False,
    }


def expected_layers(kohya: dict[str, Any]) -> int:
    """diffusers layers an sd-scripts FLUX LoRA must patch, counted from its own keys: a fused qkv
    is diffusers' q, k and v; a single block's linear1 is q, k, v and the MLP input; the rest one each."""
    names = [k[: -len(".lora_down.weight")] for k in kohya if k.endswith(".lora_down.weight")]
    return sum(3 if n.endswith("_attn_qkv") else 4 if n.endswith("_linear1") else 1 for n in names)


def lora_loads(lora: Path, flux: Path) -> str:
    """The trained LoRA through ``FluxPipeline.load_lora_into_transformer``: all keys used, output changed."""
    import torch
    from diffusers import FluxPipeline
    from safetensors.torch import load_file

    model, cfg = standin_transformer(flux)
    kohya = load_file(str(lora))
    converted = convert(kohya)
    with torch.no_grad():
        before = model(**_inputs(cfg))[0]
    with warnings_of("diffusers", "peft") as seen:
        FluxPipeline.load_lora_into_transformer(
            converted, network_alphas=None, transformer=model, adapter_name="ascii"
        )
    trouble = [
        m for m in seen if any(w in m.lower() for w in ("unexpected", "missing", "not found", "ignored"))
    ]
    if trouble:
        raise InteropError(f"diffusers loaded with a complaint: {trouble[0][:300]}")
    patched = {n for n, m in model.named_modules() if "ascii" in getattr(m, "lora_A", {})}
    wanted = set(modules_of(converted))
    if patched != wanted or len(patched) != expected_layers(kohya):
        raise InteropError(
            f"LoRA layers in the model {len(patched)}, converted {len(wanted)}, the file's modules "
            f"call for {expected_layers(kohya)}: {sorted(wanted ^ patched)[:3]} differ"
        )
    with torch.no_grad():
        after = model(**_inputs(cfg))[0]
    change = float((after - before).abs().max())
    if not change > 0:
        raise InteropError("the LoRA loaded but the transformer's output did not change")
    downs = sum(k.endswith(".lora_down.weight") for k in kohya)
    return (
        f"{lora.name}: {downs} sd-scripts modules -> {len(patched)} LoRA layers in a "
        f"FluxTransformer2DModel of the stand-in's size ({cfg['num_layers']}+{cfg['num_single_layers']} "
        "blocks), no key unmatched or ignored; "
        f"output moved by up to {change:.2e}"
    )
