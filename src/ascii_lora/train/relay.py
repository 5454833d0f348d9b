"""The launcher's signal relay: a user's Ctrl-C, SIGTERM or SIGHUP passed on to the trainer's process group."""

from __future__ import annotations

import os
import signal
import subprocess

from .cluster_stop import announce_interrupt

RELAYED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _Relay:
    """Ctrl-C, SIGTERM and SIGHUP passed on to the trainer's process group, exactly as received.

    Our handlers go in before the trainer starts: exec resets a handled signal to its default
    but keeps an ignored one ignored, and a launcher started ignoring SIGINT (a background job
    of a script, a CI runner) would otherwise start a trainer that no relayed Ctrl-C can stop.
    """

    def __init__(self) -> None:
        self.received: list[int] = []
        self.trainer: list[subprocess.Popen] = []  # empty until it has started
        self.early: list[int] = []  # signals that arrived while it was starting
        self.previous: dict = {}
        self.peer = None  # cluster_stop.PeerWatch of a launch on several machines

    def send(self, signum: int) -> None:
        try:
            os.killpg(self.trainer[0].pid, signum)
        except ProcessLookupError:
            pass

    def relay(self, signum: int, frame: object) -> None:
        self.received.append(signum)
        (self.send if self.trainer else self.early.append)(signum)
        if self.peer is not None:  # several machines: every other one stops too
            announce_interrupt(self.peer.run_dir, signum)

    def started(self, proc: subprocess.Popen) -> None:
        self.trainer.append(proc)
        while self.early:
            self.send(self.early.pop(0))

    def __enter__(self) -> _Relay:
        try:
            for sig in RELAYED:
                self.previous[sig] = signal.signal(sig, self.relay)
        except ValueError:  # not the main thread: signals stay with whoever owns them
            pass
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
