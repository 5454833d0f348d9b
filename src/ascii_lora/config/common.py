"""What every config table shares: strict models (no unknown key, no type coercion) and the path and range rules.

Why a module of its own: the table groups (dataset_tables, training_tables, run_tables) all build on it,
and ``models.py`` puts them together under one import surface.
"""

from __future__ import annotations

import os
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

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
            raise ValueError(
                f"{name} item {item!r} starts with '-': it would reach the trainer as a flag of its own "
                "(--); write key=value"
            )
        if _no_control(item) or "=" not in item or not item.split("=", 1)[0].strip():
            raise ValueError(f"{name} item {item!r} must be one key=value without control characters")
    return items


class Strict(BaseModel):
    """TOML has types: a value of the wrong type (``"1024"``, ``"no"``, ``5.0`` for a count) is refused, not
    converted, and ``inf``/``nan`` never reach a generator or the trainer's argv."""

    model_config = ConfigDict(extra="forbid", validate_default=True, strict=True, allow_inf_nan=False)


def _check_range(name: str, value: tuple[int, int] | tuple[float, float]) -> None:
    if value[0] > value[1]:
        raise ValueError(f"{name} must be [min, max] with min <= max, got {list(value)}")
