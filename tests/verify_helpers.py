"""Stand-ins for the drawing worker's far side: pictures whose verdict is known before the checker sees them."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PIL import Image

from ascii_lora.grid.atlas import get_atlas

from .fakes import fake_lora, fake_model

MODULES = {"lora_unet_double_blocks_0_img_attn_proj": {"in_features": 8, "out_features": 8}}


def perfect_codes(seed: int, margin: int = 0) -> np.ndarray:
    """A 64x64-cell map: a wall ring, floor dots, a few doors; ``margin`` empty cells all round."""
    rng = np.random.default_rng(seed)
    codes = np.full((64, 64), ord(" "), dtype=np.uint8)
    a, b = 2 + margin, 62 - margin
    codes[a:b, a:b] = ord("#")
    codes[a + 1 : b - 1, a + 1 : b - 1] = ord(".")
    codes[a, rng.integers(a + 2, b - 2, 3)] = ord("+")
    return codes


def perfect_picture(seed: int, margin: int = 0) -> np.ndarray:
    return get_atlas(16).render_gray(perfect_codes(seed, margin))


def noise_picture(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (1024, 1024), dtype=np.uint8)


def save_like_sd_scripts(folder: Path, gray: np.ndarray) -> Path:
    """flux_minimal_inference saves RGB under a timestamp name in its output_dir."""
    path = folder / f"{time.strftime('%Y%m%d_%H%M%S')}.png"
    Image.fromarray(np.repeat(gray[..., None], 3, axis=2)).save(path)
    return path


def make_run(run_dir: Path, name: str, steps: list[int], final_steps: int | None = None) -> list[Path]:
    """LoRA files named as sd-scripts' train_util names them, ``ss_steps`` in their metadata."""
    run_dir.mkdir(parents=True, exist_ok=True)
    out = [
        fake_lora(run_dir / f"{name}-step{s:08d}.safetensors", MODULES, 4, 2.0, {"ss_steps": str(s)})
        for s in steps
    ]
    if final_steps is not None:
        out.append(
            fake_lora(run_dir / f"{name}.safetensors", MODULES, 4, 2.0, {"ss_steps": str(final_steps)})
        )
    return out


def make_models(root: Path) -> None:
    """Base model files with the right tensor names, and a filled tokenizer cache."""
    for key, kind in (("flux1-dev", "flux-dev"), ("clip_l", "clip_l"), ("t5xxl_fp16", "t5xxl"), ("ae", "ae")):
        fake_model(root / "models" / f"{key}.safetensors", kind)
    for t in ("openai_clip-vit-large-patch14", "google_t5-v1_1-xxl"):
        (root / "models" / "tokenizers" / t).mkdir(parents=True, exist_ok=True)
