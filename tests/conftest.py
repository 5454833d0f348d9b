from __future__ import annotations

from pathlib import Path

import pytest

from ascii_lora.config.models import DatasetConfig

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture
def cfg() -> DatasetConfig:
    return DatasetConfig()


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: the shared project facts are needed for this check")
    return SHARED
