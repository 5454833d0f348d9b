"""Read a run's TensorBoard event files into a small JSON: run in the train environment only.

``python -m ascii_lora.train.tb_events LOGS_DIR OUT_JSON`` uses the ``tensorboard`` package that
sd-scripts' requirements install (its ``EventAccumulator``: no hand-written protobuf parsing), so
the core never imports tensorboard or torch. The launcher runs it with the trainer's interpreter
and turns the result into ``validation_loss.json`` (``ascii_lora.validation_loss``).

Per launch folder (``<logs>/<prefix><stamp>/network_train``) it keeps the validation points and the
last step of the trainer's first epoch, which ``per_validation`` needs. Exit 0 with the JSON
written, 1 with ``{"error": ...}`` written instead; it prints nothing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..fsutil import atomic_write
from ..validation_loss import TAG, launch_offset

STEP_LOSS = "loss/current"  # logged after every optimizer step
EPOCH_END = "loss/epoch_average"  # logged at the end of every epoch


def first_epoch_steps(step_events: list, epoch_events: list) -> int | None:
    """The last step logged before the first epoch ended; None while the first epoch still runs."""
    if not epoch_events:
        return None
    end = min(e.wall_time for e in epoch_events)
    before = [e.step for e in step_events if e.wall_time <= end]
    return max(before) if before else 0


def read_launch(folder: Path) -> dict:
    """One launch folder's validation points (step, value, wall time) and first-epoch end."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    tags = set(acc.Tags().get("scalars", []))

    def scalars(tag: str) -> list:
        return acc.Scalars(tag) if tag in tags else []

    return {
        "points": [[e.step, e.value, e.wall_time] for e in scalars(TAG)],
        "first_epoch_steps": first_epoch_steps(scalars(STEP_LOSS), scalars(EPOCH_END)),
    }


def read_logs(logs: Path) -> list[dict]:
    """Every launch folder under ``logs`` that sd-scripts made, oldest first."""
    launches = []
    for folder in sorted(logs.iterdir()) if logs.is_dir() else ():
        if folder.is_dir() and launch_offset(folder.name) is not None:
            for run in sorted(p for p in folder.iterdir() if p.is_dir()) or [folder]:
                launches.append({"name": folder.name, "run": run.name, **read_launch(run)})
    return launches


def main(argv: list[str]) -> int:
    logs, out = Path(argv[0]), Path(argv[1])
    try:
        data = {"launches": read_logs(logs)}
    except Exception as err:  # reported through the file: the launcher says what went wrong, once
        atomic_write(out, json.dumps({"error": f"{type(err).__name__}: {err}"}))
        return 1
    atomic_write(out, json.dumps(data))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
