"""Where a run lives on disk: path resolution for the plan and the scan of saved states.

Kept apart from plan.py so that the plan stays a pure function of the config; these are the
only places that look at the file system to decide what the trainer is told.
"""

from __future__ import annotations

from pathlib import Path


def resolve_path(root: Path, p: str | Path) -> str:
    """A config path as the trainer must see it: ~ expanded, relative to the checkout, absolute."""
    path = Path(p).expanduser()
    return str(path if path.is_absolute() else (root / path).resolve())


def latest_state(run_dir: Path, output_name: str) -> Path | None:
    """Newest resumable state sd-scripts saved: ``{name}-step{N:08d}-state`` or the final ``{name}-state``."""
    final = run_dir / f"{output_name}-state"
    steps = sorted(run_dir.glob(f"{output_name}-step*-state"))
    if final.is_dir():
        return final
    return steps[-1] if steps else None
