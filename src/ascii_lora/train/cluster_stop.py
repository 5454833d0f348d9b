"""Stopping every machine of a cluster through the shared run directory.

One machine's Ctrl-C or ``ascii-lora stop`` reaches only that machine's processes. The others
would then fail inside the gradient all-reduce (gloo at once; NCCL only after its watchdog's
timeout, 30 minutes by default) and report a crash. So each machine's launcher watches the run
directory every machine shares:

* ``stop.request`` (``ascii-lora stop`` on the head): the head stops its trainer right after the
  next saved state, as on one machine. sd-scripts saves from the main process only
  (train_network.py:1497-1505 at the pin), so the other machines cannot see that save in their own
  output; they wait until the state is complete on the shared disk, then stop theirs.
* ``interrupt.request``: written by a launcher whose user pressed Ctrl-C (or that got SIGTERM/
  SIGHUP); every other machine's launcher relays one SIGINT to its trainer at once.

A launcher that stopped because of a peer reports it and exits like a requested stop (0) or an
interrupt (non-zero), never as a crash of its own.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..fsutil import atomic_write
from .runs import half_written, state_step

INTERRUPT_REQUEST = "interrupt.request"
POLL_S = 1.0


def announce_interrupt(run_dir: Path, signum: int) -> None:
    """Tell every other machine that this one was interrupted (they stop at once too)."""
    atomic_write(
        Path(run_dir) / INTERRUPT_REQUEST,
        json.dumps(
            {
                "signal": signal.Signals(signum).name,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "at": time.time(),
            }
        ),
    )


def clear_interrupt(run_dir: Path) -> None:
    """The head clears an old announcement before its handshake, so it cannot stop the new launch."""
    (Path(run_dir) / INTERRUPT_REQUEST).unlink(missing_ok=True)


def complete_state_since(run_dir: Path, output_name: str, since: float) -> int | None:
    """The newest step of a state completely saved in ``run_dir`` after ``since`` (None: none yet)."""
    best = None
    for d in Path(run_dir).glob(f"{output_name}-step*-state"):
        try:
            if d.stat().st_mtime < since or half_written(d) or not any(d.glob("random_states_*.pkl")):
                continue
        except OSError:
            continue
        step = state_step(d)
        if step is not None and (best is None or step > best):
            best = step
    return best


class PeerWatch(threading.Thread):
    """Polls the shared run directory while one machine's trainer runs; ``send`` signals its group."""

    def __init__(
        self,
        run_dir: Path,
        output_name: str,
        since: float,
        stop_request: Path,
        head: bool,
        send: Callable[[int], None],
        poll_s: float = POLL_S,
        states_in: Path | None = None,
    ):
        super().__init__(daemon=True)
        self.run_dir, self.output_name, self.since = Path(run_dir), output_name, since
        self.states_in = Path(states_in or run_dir)  # a resumed segment saves into its own folder
        self.stop_request, self.head, self.send, self.poll_s = stop_request, head, send, poll_s
        self.peer_interrupt: dict | None = None  # the announcement that stopped us
        self.stop_seen = False  # a stop request was in the run directory during this launch
        self.stopped_after: int | None = None  # the state a non-head machine waited for
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.poll_s):
            if self.poll_once():
                return

    def poll_once(self) -> bool:
        """One look; True once this machine's trainer has been told to stop."""
        path = self.run_dir / INTERRUPT_REQUEST
        try:
            fresh = path.stat().st_mtime >= self.since
        except OSError:
            fresh = False
        if fresh:
            try:
                self.peer_interrupt = json.loads(path.read_text())
            except (OSError, ValueError):
                self.peer_interrupt = {}
            self.send(signal.SIGINT)
            return True
        if self.head:  # the head's launcher honours stop.request itself, from its trainer's output
            return False
        self.stop_seen = self.stop_seen or self.stop_request.exists()
        if self.stop_seen:
            step = complete_state_since(self.states_in, self.output_name, self.since)
            if step is not None:
                self.stopped_after = step
                self.send(signal.SIGINT)
                return True
        return False

    def finish(self) -> None:
        self._done.set()
