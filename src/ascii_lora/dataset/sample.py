"""One training pair from (config, seed, index): structure -> cells -> pixels -> bytes. Pure."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..grid.atlas import get_atlas
from .captions import caption
from ..config.models import DatasetConfig
from .families import FAMILIES
from ..grid.layout import Layout

PNG_SETTINGS = {"format": "PNG", "compress_level": 6}


@dataclass(frozen=True)
class Sample:
    name: str
    family: str
    png: bytes
    caption: str
    ascii: str


def family_schedule(weights: dict[str, float], count: int) -> list[str]:
    """Smooth weighted round robin: every prefix of the dataset keeps the configured mix.

    Image i's family depends only on i and the weights, so growing ``count`` never changes an
    image that already exists.
    """
    names = [n for n, w in weights.items() if w > 0]
    w = np.array([weights[n] for n in names], dtype=float)
    current = np.zeros(len(names))
    total = w.sum()
    out = []
    for _ in range(count):
        current += w
        k = int(np.argmax(current))
        current[k] -= total
        out.append(names[k])
    return out


def sample_name(family: str, index: int) -> str:
    return f"{family}_{index:05d}"


def build_layout(cfg: DatasetConfig, family: str, index: int) -> tuple[Layout, np.random.Generator]:
    rng = np.random.default_rng([cfg.seed, index])
    return FAMILIES[family](rng, cfg), rng


def encode_png(image: Image.Image | np.ndarray) -> bytes:
    """0/255 'L' image -> 8-bit grayscale PNG (the most widely read form of a binary picture)."""
    buf = io.BytesIO()
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(buf, **PNG_SETTINGS)
    return buf.getvalue()


def make_sample(cfg: DatasetConfig, family: str, index: int) -> Sample:
    layout, rng = build_layout(cfg, family, index)
    image = get_atlas(cfg.cell_size).render_image(layout.grid)
    return Sample(sample_name(family, index), family, encode_png(image), caption(layout, rng) + "\n", layout.text())
