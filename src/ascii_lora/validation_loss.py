"""The run's validation loss per step: what the trainer logged, made comparable, in a small JSON file.

sd-scripts (at the pin) logs ``loss/validation/step_average`` to TensorBoard after each validation.
That number is its ``LossRecorder.moving_average``, which is not always the mean of this
validation alone: during the first epoch the recorder appends, so the k-th validation there logs
the mean of all k so far; in later epochs it overwrites the first entries and keeps the first
epoch's extra ones. ``per_validation`` undoes both (the first epoch's end is read from the same
event file: the step logged last before sd-scripts' first ``loss/epoch_average``), so each step gets the mean loss of its own
validation: the same images, timesteps and noise every time, comparable across steps and runs.

The launcher has the event files read in the train environment (``train/tb_events.py``, with the
``tensorboard`` package sd-scripts installs) and writes ``validation_loss.json`` into the run
directory; ``check`` and ``verify`` read that file. Nothing here imports tensorboard or torch.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

VALIDATION_FILE = "validation_loss.json"
TAG = "loss/validation/step_average"
# sd-scripts names each launch's log folder <log_prefix><YYYYmmddHHMMSS>; a resumed segment's prefix
# is its folder name, which carries the cumulative step it resumed from
LAUNCH_DIR = re.compile(r"^(?:resume-from-step(?P<offset>\d{8})-)?(?P<stamp>\d{14})$")


def per_validation(points: list[tuple[int, float]], first_epoch_steps: int | None) -> list[tuple[int, float]]:
    """(step, mean loss of that validation alone) from one launch's logged (step, moving average).

    ``first_epoch_steps``: the trainer's last step of its first epoch (None: still in it). There the
    j-th logged value is the mean of the first j validations; afterwards it is (this validation +
    the first epoch's 2nd..k-th) / k, k the count of first-epoch validations (at least 1): each
    validation adds the same number of losses to the recorder.
    """
    means: list[float] = []
    first_epoch = 0
    out = []
    for step, avg in sorted(points):
        if first_epoch_steps is None or step <= first_epoch_steps:
            mean = (first_epoch + 1) * avg - sum(means)
            first_epoch += 1
        else:
            mean = max(first_epoch, 1) * avg - sum(means[1:first_epoch])
        means.append(mean)
        out.append((step, mean))
    return out


def launch_offset(name: str) -> tuple[int, str] | None:
    """(cumulative offset, timestamp) of a launch's log folder name; None for a folder that is not one."""
    m = LAUNCH_DIR.match(name)
    return None if m is None else (int(m.group("offset") or 0), m.group("stamp"))


def run_losses(launches: list[dict]) -> dict[int, float]:
    """Cumulative step -> validation loss over the launches that make up the run.

    ``launches``: ``{"name", "points", "first_epoch_steps"}`` per log folder (``tb_events.py``). A fresh launch (offset 0)
    starts the run over, so launches older than the newest fresh one are left out; a later launch
    wins a step that two launches logged.
    """
    dated = sorted(
        (parsed[1], parsed[0], i)
        for i, launch in enumerate(launches)
        if (parsed := launch_offset(launch["name"])) is not None
    )
    fresh = max((k for k, (_, offset, _) in enumerate(dated) if offset == 0), default=0)
    out: dict[int, float] = {}
    for _, offset, i in dated[fresh:]:
        launch = launches[i]
        points = [(int(p[0]), float(p[1])) for p in launch.get("points", [])]
        end = launch.get("first_epoch_steps")
        for step, loss in per_validation(points, None if end is None else int(end)):
            out[offset + step] = loss
    return out


def read_losses(run_dir: Path) -> dict[int, float]:
    """Cumulative step -> validation loss from ``<run>/validation_loss.json``; empty when absent or unreadable."""
    try:
        data = json.loads((Path(run_dir) / VALIDATION_FILE).read_text())
        out = {int(row["step"]): float(row["loss"]) for row in data["losses"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {s: v for s, v in out.items() if math.isfinite(v)}


def losses_json(losses: dict[int, float], launches: list[dict]) -> str:
    """The file ``read_losses`` reads: the comparable losses and, for the record, what was read."""
    rows = [{"step": s, "loss": round(v, 6)} for s, v in sorted(losses.items())]
    return json.dumps({"tag": TAG, "losses": rows, "launches": launches}, indent=1)


def loss_at(losses: dict[int, float], step: int | None) -> str:
    """The loss of ``step`` for a report cell: 4 decimals, or a dash when that step was not validated."""
    return "-" if step is None or step not in losses else f"{losses[step]:.4f}"
