"""Small pieces every command module shares: argparse value types and human-readable sizes."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from pydantic import BaseModel


def int_at_least(low: int) -> Callable[[str], int]:
    """argparse type: a whole number >= ``low``, with the reason in the usage error."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            shown = text if len(text) <= 40 else f"{text[:20]}... ({len(text)} characters)"
            raise argparse.ArgumentTypeError(f"expected a whole number, got {shown!r}") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {v}")
        return v

    return parse


def int_between(low: int, high: int) -> Callable[[str], int]:
    """argparse type: a whole number in [low, high]; the bound says why a bigger value is refused."""
    at_least = int_at_least(low)

    def parse(text: str) -> int:
        v = at_least(text)
        if v > high:
            raise argparse.ArgumentTypeError(f"must be at most {high}, got {v}")
        return v

    return parse


positive = int_at_least(1)
nonnegative = int_at_least(0)


def config_int(model: type[BaseModel], key: str) -> Callable[[str], int]:
    """argparse type of a flag that overrides config key ``key``: the key's own bounds, from its model.

    One source of truth: `--seeds 50000000` is refused as `[verify] seeds = 50000000` is, before any memory
    is spent on it.
    """
    low: int = 0
    high: int | None = None
    for m in model.model_fields[key].metadata:
        low = int(m.ge) if getattr(m, "ge", None) is not None else low
        high = int(m.le) if getattr(m, "le", None) is not None else high
    return int_between(low, high) if high is not None else int_at_least(low)


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"
