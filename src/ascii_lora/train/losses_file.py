"""Write ``<run>/validation_loss.json`` from the run's TensorBoard event files.

The event files are read by ``tb_events.py`` in a child process of the trainer's interpreter (the
train environment, where sd-scripts' requirements put tensorboard), so neither tensorboard nor
torch is ever imported here. A reading that fails leaves the previous file as it was and says why.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from ..fsutil import atomic_write
from ..validation_loss import VALIDATION_FILE, losses_json, run_losses

READ_TIMEOUT_S = 120


def read_event_files(logs: Path, python: str = sys.executable, timeout_s: float = READ_TIMEOUT_S) -> dict:
    """``tb_events.py``'s JSON for ``logs`` ({"launches": [...]} or {"error": ...})."""
    with tempfile.TemporaryDirectory(prefix="ascii-lora-events-") as tmp:
        out = Path(tmp) / "events.json"
        try:
            subprocess.run(
                [python, "-m", "ascii_lora.train.tb_events", str(logs), str(out)],
                timeout=timeout_s,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                errors="replace",
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            return {"error": f"the event-file reader did not run ({type(err).__name__})"}
        try:
            return json.loads(out.read_text())
        except (OSError, ValueError):
            return {
                "error": "the event-file reader wrote nothing (is tensorboard installed in the train environment?)"
            }


def update_losses(run_dir: Path, python: str = sys.executable) -> tuple[dict[int, float], str | None]:
    """Read the run's event files into ``validation_loss.json``; (losses, None) or ({}, why not)."""
    data = read_event_files(Path(run_dir) / "logs", python)
    if "error" in data:
        return {}, f"validation loss not read: {data['error']}"
    launches = data.get("launches", [])
    losses = run_losses(launches)
    atomic_write(Path(run_dir) / VALIDATION_FILE, losses_json(losses, launches))
    return losses, None


def losses_line(losses: dict[int, float]) -> str:
    """One line for the console: the validation loss at each validated step."""
    if not losses:
        return "validation loss: none logged yet"
    return "validation loss (from the run's event files): " + ", ".join(
        f"step {s} {v:.4f}" for s, v in sorted(losses.items())
    )
