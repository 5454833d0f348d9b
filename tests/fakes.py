"""Small stand-ins for multi-GB files: safetensors with the right key names, tiny tensors."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

KEYS = {
    "flux-dev": [
        "double_blocks.0.img_attn.qkv.weight",
        "guidance_in.in_layer.weight",
        "single_blocks.0.linear1.weight",
    ],
    "flux-schnell": ["double_blocks.0.img_attn.qkv.weight", "single_blocks.0.linear1.weight"],
    "ae": ["decoder.conv_in.weight", "encoder.conv_in.weight"],
    "clip_l": ["text_model.embeddings.token_embedding.weight", "text_model.encoder.layers.0.mlp.fc1.weight"],
    "t5xxl": ["encoder.block.0.layer.0.SelfAttention.q.weight", "shared.weight"],
}


def fake_model(path: Path, kind: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: np.zeros((2, 2), dtype=np.float16) for k in KEYS[kind]}, str(path))
    return path


def fake_lora(
    path: Path,
    modules: dict[str, dict],
    rank: int,
    alpha: float,
    metadata: dict[str, str] | None = None,
    alpha_bf16: bool = False,
) -> Path:
    """A LoRA with sd-scripts' key layout; bf16 alphas are written by hand (numpy has no bf16)."""
    tensors = {}
    for name, shape in modules.items():
        tensors[f"{name}.lora_down.weight"] = np.zeros((rank, shape["in_features"]), dtype=np.float16)
        tensors[f"{name}.lora_up.weight"] = np.zeros((shape["out_features"], rank), dtype=np.float16)
        if not alpha_bf16:
            tensors[f"{name}.alpha"] = np.array(alpha, dtype=np.float16)
    save_file(tensors, str(path), metadata=metadata)
    if alpha_bf16:
        _append_bf16_alphas(path, list(modules), alpha)
    return path


def _append_bf16_alphas(path: Path, names: list[str], alpha: float) -> None:
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    data = bytearray(raw[8 + n :])
    bf16 = (np.array([alpha], dtype=np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
    for name in names:
        start = len(data)
        data += bf16
        header[f"{name}.alpha"] = {"dtype": "BF16", "shape": [], "data_offsets": [start, start + 2]}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(len(text).to_bytes(8, "little") + text + bytes(data))


def ctrl_c_as_in_a_terminal() -> None:
    """preexec_fn for a child a test sends Ctrl-C: the disposition a terminal's foreground job starts with.

    A child inherits an ignored SIGINT (``make test`` started as a background job, ``trap '' INT``) and
    our commands keep an ignored Ctrl-C ignored on purpose, so a test that relies on the default must set it.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
