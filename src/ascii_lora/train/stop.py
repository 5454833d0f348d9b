"""`ascii-lora stop`: ask a running sd-scripts training to stop right after its next saved state.

sd-scripts at the pin has no Ctrl-C handler and saves nothing on the way out, so Ctrl-C loses
every step since the last ``save_every_n_steps`` state (up to 499 with the defaults). A request
file in the run directory, read by the running launcher, costs nothing until a state is complete;
then the launcher sends the one SIGINT itself (launcher.py).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..fsutil import atomic_write
from .launcher import LAUNCH_HEADER, STEP_LINE, STOP_REQUEST, process_start_ticks
from .segments import RUN_JSON, read_record

TAIL_BYTES = 65536  # enough of train.log for the trainer's last progress line


@dataclass(frozen=True)
class StopRequest:
    path: Path
    step: int | None  # the run's cumulative step the trainer last reported (None: no step yet)
    next_save: int  # the cumulative step of the state it waits for


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def _is_our_launcher(pid: int, record: dict) -> bool:
    """Whether the live ``pid`` is still the launcher that wrote run.json, not a process that reused its
    number or one that a hand-edited run.json names: a process is its pid plus its start time."""
    now = process_start_ticks(pid)
    return now is None or now == record.get("launcher_start")  # None: no /proc here, the pid is all we have


def running_launch(run_dir: Path) -> dict:
    """run.json of the launch in progress in ``run_dir``; refused when none is running."""
    record = read_record(run_dir)
    pid = record.get("launcher_pid")
    if not record:
        if (run_dir / RUN_JSON).exists():
            raise UserError(
                f"{run_dir / RUN_JSON}: unreadable (not a JSON object `ascii-lora train` wrote), "
                "so it cannot say whether a training is running; if none is, move it aside"
            )
        raise UserError(
            f"{run_dir}: no run.json, so no training was launched here: check --run-dir / [training] output_dir"
        )
    if record.get("exit_code") is not None:
        raise UserError(
            f"{run_dir}: no training is running (its last launch ended with exit code {record['exit_code']})"
        )
    if not isinstance(pid, int) or isinstance(pid, bool) or not 0 < pid < 2**31 or not _alive(pid):
        raise UserError(
            f"{run_dir}: no training is running (the launcher recorded in run.json, pid {pid}, is gone)"
        )
    if not _is_our_launcher(pid, record):
        raise UserError(
            f"{run_dir}: no training is running (pid {pid}, recorded in run.json, is now another "
            "program: its launcher is gone)"
        )
    return record


def _last_step(log: Path) -> int | None:
    """The trainer's own step count from the running launch's last progress line (a resumed segment
    counts from 0); train.log holds every launch of the run, each after its own header line."""
    try:
        with open(log, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - TAIL_BYTES))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    current = text.rsplit("\n" + LAUNCH_HEADER, 1)[-1]  # an earlier launch's steps are not this one's
    found = [int(m.group(1)) for m in STEP_LINE.finditer(current.replace("\r", "\n"))]
    return found[-1] if found else None


def request_stop(run_dir: Path, save_every: int) -> StopRequest:
    """Write the request for the launch running in ``run_dir``; say which state it will wait for."""
    record = running_launch(run_dir)
    segments = record.get("segments") or [{}]
    offset = int(segments[-1].get("offset") or 0)
    local = _last_step(run_dir / "train.log")
    next_save = offset + ((local or 0) // save_every + 1) * save_every
    path = run_dir / STOP_REQUEST
    atomic_write(path, json.dumps({"requested": time.time(), "launcher_pid": record["launcher_pid"]}))
    return StopRequest(path, None if local is None else offset + local, next_save)


def cancel_stop(run_dir: Path) -> bool:
    """Withdraw a request; False when there was none."""
    path = run_dir / STOP_REQUEST
    if not path.exists():
        return False
    path.unlink(missing_ok=True)
    return True
