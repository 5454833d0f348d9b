"""Run the trainer: stream its output, keep a log, relay the user's Ctrl-C, return its exit code."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .. import __version__
from ..fsutil import atomic_write, ensure_dir


def resolve_launcher(argv: list[str]) -> list[str]:
    """Use the ``accelerate`` of this environment when PATH has another (or none)."""
    if argv and argv[0] == "accelerate":
        local = Path(sys.executable).parent / "accelerate"
        if local.exists():
            return [str(local), *argv[1:]]
        if shutil.which("accelerate") is None:
            raise FileNotFoundError("accelerate is not installed in this environment: run `make setup-train`")
    return argv


# sd-scripts' tqdm bar: "steps:  10%|#         | 300/3000 [..]" (\r-separated updates read as lines)
STEP_LINE = re.compile(r"steps:\s*\d+%.*?\|\s*(\d+)/(\d+)")
STATE_DIR = re.compile(r"-step(\d{8})-state$")
RELAYED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _flag(argv: list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv and argv.index(flag) + 1 < len(argv) else None


def states_saved_since(run_dir: Path, output_name: str, since: float) -> list[tuple[int, str]]:
    """(step, name) of each resumable state sd-scripts saved in ``run_dir`` after ``since``."""
    found = []
    for p in run_dir.glob(f"{output_name}-step*-state"):
        m = STATE_DIR.search(p.name)
        try:
            if m and p.is_dir() and p.stat().st_mtime >= since:
                found.append((int(m.group(1)), p.name))
        except OSError:
            continue
    return sorted(found)


def interruption_report(step: int | None, saved: list[tuple[int, str]], save_every: str | None) -> str:
    """What one Ctrl-C cost: sd-scripts (at the pinned commit) has no Ctrl-C handler and saves nothing on
    the way out, so every step since the last ``save_every_n_steps`` state is lost."""
    if step is None:
        return "stopped before the first training step: nothing was lost"
    if saved:
        last, name = saved[-1]
        lost = max(0, step - last)
        return (f"stopped at step {step}; the last state this run saved is step {last} ({name}): "
                f"{lost} step(s) since then are lost. `make train RESUME=1` continues from it")
    every = f" (one is saved every {save_every} steps)" if save_every else ""
    return f"stopped at step {step} before this run saved any state{every}: these {step} step(s) are lost"


def launch(argv: list[str], cwd: Path, log_path: Path, echo: Callable[[str], None] = print,
           env: dict[str, str] | None = None, keep: dict | None = None) -> int:
    """Stream stdout+stderr line by line to ``echo`` and ``log_path``; return the trainer's exit code.

    Ctrl-C means stop now. The trainer runs in a process group of its own, so a terminal's Ctrl-C
    reaches only us, and we relay exactly that one signal to the trainer's group: never a second
    one on a timer, never one the user did not send. SIGTERM and SIGHUP are relayed the same way.
    """
    ensure_dir(log_path.parent)
    record = log_path.with_name("run.json")
    started = time.time()
    # ``keep``: what the caller carries across launches (segments.py: the run's segments)
    info = {**(keep or {}), "argv": argv, "cwd": str(cwd), "started": started, "ascii_lora": __version__, "exit_code": None}
    atomic_write(record, json.dumps(info, indent=1))
    env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    received: list[int] = []
    step: int | None = None
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"\n# ascii-lora {__version__}: {' '.join(argv)}\n")
        trainer: list[subprocess.Popen] = []  # empty until it has started
        early: list[int] = []  # signals that arrived while it was starting

        def send(signum: int) -> None:
            try:
                os.killpg(trainer[0].pid, signum)
            except ProcessLookupError:
                pass

        def relay(signum: int, frame: object) -> None:
            received.append(signum)
            (send if trainer else early.append)(signum)

        # Our handlers go in before the trainer starts: exec resets a handled signal to its default
        # but keeps an ignored one ignored, and a launcher started ignoring SIGINT (a background job
        # of a script, a CI runner) would otherwise start a trainer that no relayed Ctrl-C can stop.
        previous = {}
        try:
            for sig in RELAYED:
                previous[sig] = signal.signal(sig, relay)
        except ValueError:  # not the main thread: signals stay with whoever owns them
            pass
        try:
            proc = subprocess.Popen(resolve_launcher(argv), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, bufsize=1, env=env, errors="replace", process_group=0)
            trainer.append(proc)
            while early:
                send(early.pop(0))
            assert proc.stdout is not None
            told = 0
            for line in proc.stdout:
                log.write(line)
                log.flush()
                echo(line.rstrip("\n"))
                m = STEP_LINE.search(line)
                if m:
                    step = int(m.group(1))
                if len(received) > told:  # said between lines, never from inside the handler
                    told = len(received)
                    echo(f"{signal.Signals(received[-1]).name} passed to the trainer: stopping now (nothing is saved on the way out)")
            code = proc.wait()
            if len(received) > told:  # it stopped without another line
                echo(f"{signal.Signals(received[-1]).name} passed to the trainer: stopping now (nothing is saved on the way out)")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        interrupted = bool(received)
        if interrupted:
            run_dir = Path(_flag(argv, "--output_dir") or log_path.parent)  # where the trainer saves (a resumed segment too)
            name = _flag(argv, "--output_name") or "at"  # sd-scripts' DEFAULT_STEP_NAME (train_util.py at the pin)
            summary = interruption_report(step, states_saved_since(run_dir, name, started - 1), _flag(argv, "--save_every_n_steps"))
            log.write(f"# interrupted ({signal.Signals(received[0]).name}): {summary}\n")
            echo(summary)
    if code < 0:  # killed by a signal: report it the way a shell does
        code = 128 - code
    info.update(exit_code=code, finished=time.time(), seconds=round(time.time() - started, 1), interrupted=interrupted,
                last_step=step)
    atomic_write(record, json.dumps(info, indent=1))
    if interrupted and code == 0:
        return 128 + received[0]
    return code
