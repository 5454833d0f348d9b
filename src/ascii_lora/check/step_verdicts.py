"""One step's sample verdicts, for a message sent while the run goes on (a checkpoint's webhook).

Reads only the samples sd-scripts drew at that step and writes nothing: the full ``check`` (overlays,
read-back, report) is for after the run.
"""

from __future__ import annotations

from pathlib import Path

from ..config.models import CheckConfig
from ..grid.atlas import get_atlas
from .ranking import parse_sample_name
from .score import check_file


def step_verdicts(sample_dir: Path, step: int, cfg: CheckConfig, cell_size: int) -> tuple[int, int]:
    """(passed, checked) among the samples named for ``step`` in ``sample_dir`` (unreadable ones fail)."""
    files = sorted(
        p
        for p in Path(sample_dir).glob("*.png")
        if (parsed := parse_sample_name(p.stem)) is not None and parsed[1:] == ("step", step)
    )
    atlas = get_atlas(cell_size)
    passed = sum(bool(check_file(p, cfg, atlas)[0].passed) for p in files)
    return passed, len(files)


def verdict_text(passed: int, checked: int) -> str:
    return f"check: {passed} of {checked} samples pass" if checked else "check: no samples at this step"
