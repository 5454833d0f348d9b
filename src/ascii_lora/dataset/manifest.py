"""The dataset manifest, read like a config: validated, never trusted blindly.

The manifest is also the only proof of ownership: a file in a dataset folder is ours only when
the manifest's own config schedules it (or its file list names it). Anything else is the user's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..config.loader import format_validation_error
from ..config.models import DatasetConfig
from ..errors import UserError
from ..fsutil import parse_error_words, read_regular
from .sample import family_schedule, sample_name

MANIFEST = "manifest.json"
EXTENSIONS = (".png", ".txt", ".ascii")
MAX_MANIFEST_BYTES = 256 << 20  # ~3 million file hashes; a bigger "manifest" is not ours


class Manifest(BaseModel):
    """What ``ascii-lora dataset`` writes beside the images (only the fields decisions rest on are required)."""

    model_config = ConfigDict(extra="allow", strict=True)

    tool: Literal["ascii-lora"] = Field(
        description="Writer; a manifest of another tool is not ours to act on."
    )
    status: Literal["incomplete", "complete"] = Field(
        description="'incomplete' until the last image is written."
    )
    fingerprint: str = Field(description="Hash of everything that decides the images' content.")
    seed: int = Field(ge=0, description="Master seed of the dataset.")
    count: int = Field(ge=1, le=1_000_000, description="Images the dataset holds when complete.")
    config: DatasetConfig = Field(
        description="The [dataset] config that drew it (geometry for validate, ownership)."
    )
    files: dict[str, str] = Field(default_factory=dict, description="sha256 of every finished file, by name.")

    def names(self) -> set[str]:
        """Every file name this dataset may hold: its schedule's names and the files it lists."""
        schedule = family_schedule(self.config.mix.weights(), self.count)
        return {f"{sample_name(fam, i)}{ext}" for i, fam in enumerate(schedule) for ext in EXTENSIONS} | set(
            self.files
        )


def read_manifest(folder: Path) -> Manifest | None:
    """The folder's manifest, None when there is none; one ``UserError`` line when it is unusable."""
    path = Path(folder) / MANIFEST
    if not path.exists() and not path.is_symlink():
        return None
    raw = read_regular(path, MAX_MANIFEST_BYTES)
    fix = "move the folder aside or choose another --out"
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as e:  # RecursionError: nested deeper than the parser's stack
        raise UserError(f"{path}: not a readable manifest ({parse_error_words(e)}); {fix}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: not a manifest (a JSON {type(data).__name__}, expected an object); {fix}")
    try:
        return Manifest.model_validate(data)
    except ValidationError as e:
        raise UserError(f"{format_validation_error(str(path), e, root=Manifest)}; {fix}") from None
