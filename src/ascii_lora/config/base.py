"""The base of every config table: strict types, unknown keys refused, no inf/nan."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """TOML has types: a value of the wrong type (``"1024"``, ``"no"``, ``5.0`` for a count) is refused, not
    converted, and ``inf``/``nan`` never reach a generator or the trainer's argv."""

    model_config = ConfigDict(extra="forbid", validate_default=True, strict=True, allow_inf_nan=False)
