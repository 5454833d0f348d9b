"""Run the trainer: stream its output, keep a log, forward Ctrl-C, return its exit code."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .. import __version__
from ..fsutil import atomic_write


def resolve_launcher(argv: list[str]) -> list[str]:
    """Use the ``accelerate`` of this environment when PATH has another (or none)."""
    if argv and argv[0] == "accelerate":
        local = Path(sys.executable).parent / "accelerate"
        if local.exists():
            return [str(local), *argv[1:]]
        if shutil.which("accelerate") is None:
            raise FileNotFoundError("accelerate is not installed in this environment: run `make setup-train`")
    return argv


def _stop_gracefully(proc: subprocess.Popen, log, echo: Callable[[str], None]) -> int:
    """After Ctrl-C: let the trainer wind down, keep logging its last words; a second Ctrl-C kills it.

    A terminal's Ctrl-C already reached the trainer (same process group); one aimed at us alone
    (``kill -INT``) is forwarded once, after a grace period, never twice.
    """
    try:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            echo(line.rstrip("\n"))
        return proc.wait()
    except KeyboardInterrupt:
        proc.kill()
        return proc.wait()


def launch(argv: list[str], cwd: Path, log_path: Path, echo: Callable[[str], None] = print,
           keep: dict | None = None) -> int:
    """Stream stdout+stderr line by line to ``echo`` and ``log_path``; Ctrl-C stops the trainer cleanly."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    record = log_path.with_name("run.json")
    started = time.time()
    # ``keep``: what the caller carries across launches (segments.py: the run's segments)
    info = {**(keep or {}), "argv": argv, "cwd": str(cwd), "started": started, "ascii_lora": __version__, "exit_code": None}
    atomic_write(record, json.dumps(info, indent=1))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"\n# ascii-lora {__version__}: {' '.join(argv)}\n")
        proc = subprocess.Popen(resolve_launcher(argv), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, bufsize=1, env=env, errors="replace")
        interrupted = False
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                log.flush()
                echo(line.rstrip("\n"))
            code = proc.wait()
        except KeyboardInterrupt:
            interrupted = True
            code = _stop_gracefully(proc, log, echo)
            log.write("# interrupted by Ctrl-C; RESUME=1 continues from the last saved state\n")
    if code < 0:  # killed by a signal: report it the way a shell does
        code = 128 - code
    info.update(exit_code=code, finished=time.time(), seconds=round(time.time() - started, 1), interrupted=interrupted)
    atomic_write(record, json.dumps(info, indent=1))
    return 130 if interrupted and code == 0 else code
