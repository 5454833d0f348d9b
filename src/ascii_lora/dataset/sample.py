"""One training pair from (config, seed, index): structure -> cells -> pixels -> bytes. Pure."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config.models import DatasetConfig
from ..grid.atlas import get_atlas
from ..grid.layout import Layout
from .captions import caption
from .families import FAMILIES
from .png import encode_grid


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


def make_sample(cfg: DatasetConfig, family: str, index: int) -> Sample:
    layout, rng = build_layout(cfg, family, index)
    png = encode_grid(layout.grid, get_atlas(cfg.cell_size))
    return Sample(sample_name(family, index), family, png, caption(layout, rng) + "\n", layout.text())
