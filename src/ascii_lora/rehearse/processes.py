"""The rehearsal's child processes: `ascii-lora train` run as a terminal would, and one-shot CLI calls."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from ..fsutil import atomic_write
from .overrides import OFFLINE


class _Trainer:
    """`ascii-lora train` in its own process group, as a terminal would run it; output to a log."""

    def __init__(
        self,
        root: Path,
        config: Path,
        log: Path,
        extra: list[str],
        on_line: Callable[[str], None],
        cmd: list[str] | None = None,
        env: dict[str, str] | None = None,
    ):
        self.log = log
        self.lines: list[str] = []
        cmd = cmd or [
            sys.executable,
            "-m",
            "ascii_lora",
            "train",
            "--config",
            str(config),
            "--rehearsal",
            *extra,
        ]
        self.proc = subprocess.Popen(
            cmd,
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env={**os.environ, **OFFLINE, **(env or {})},
            start_new_session=True,
            preexec_fn=lambda: signal.signal(
                signal.SIGINT, signal.SIG_DFL
            ),  # a background parent may ignore it
        )
        self.reader = threading.Thread(target=self._read, args=(on_line,), daemon=True)
        self.reader.start()

    def _read(self, on_line):
        with open(self.log, "w", encoding="utf-8") as f:
            f.write("$ ascii-lora train (rehearsal)\n")
            assert self.proc.stdout is not None
            buf = ""
            while True:
                chunk = self.proc.stdout.read(256)
                if not chunk:
                    break
                f.write(chunk)
                f.flush()
                buf += chunk
                *done, buf = re.split(r"[\r\n]", buf)
                for line in done:
                    if line.strip():
                        self.lines.append(line)
                        on_line(line)

    def ctrl_c(self) -> None:
        """What a terminal sends on Ctrl-C: SIGINT to the whole foreground process group."""
        os.killpg(self.proc.pid, signal.SIGINT)

    def wait(self, timeout: float) -> int | None:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self.reader.join(timeout=10)
        return code

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def tail(self, n: int = 3) -> str:
        return " | ".join(line.strip()[:160] for line in self.lines[-n:])

    def seconds_per_step(self) -> float | None:
        """sd-scripts' own tqdm figure from its last training-step line ('steps: ... 70.48s/it')."""
        for line in reversed(self.lines):
            m = re.search(r"steps:.*?([\d.]+)(s/it|it/s)", line)
            if m:
                v = float(m.group(1))
                return v if m.group(2) == "s/it" else 1 / v
        return None


def _cli(root: Path, argv: list[str], log: Path, timeout: float) -> tuple[int, str]:
    """``ascii-lora ARGV`` in this (train) environment, offline; output kept in ``log``."""
    try:
        r = subprocess.run(
            [sys.executable, "-m", "ascii_lora", *argv],
            cwd=root,
            capture_output=True,
            text=True,
            errors="replace",
            env={**os.environ, **OFFLINE},
            timeout=timeout,
        )
        code, text = r.returncode, r.stdout + r.stderr
    except subprocess.TimeoutExpired as e:
        # bytes even with text=True: run() hands on what was read before the kill, undecoded
        partial = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        code, text = 124, f"timed out after {timeout:.0f} s: {partial}"
    atomic_write(log, f"$ ascii-lora {' '.join(argv)}\n{text}")
    return code, text
