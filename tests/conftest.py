from __future__ import annotations

from pathlib import Path

import pytest

from ascii_lora.config.models import DatasetConfig

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cfg() -> DatasetConfig:
    return DatasetConfig()
