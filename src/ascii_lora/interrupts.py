"""Ctrl-C and SIGTERM stop a run, and only the run: never swallowed, never run by a forked worker.

Two ways the handler's exception got lost, each ending in a run that never ends:

- In a forked child. CI hung in `pool.join()` after SIGTERM to the dataset's process group: the
  pool was forking a replacement worker when the run's `pool.terminate()` sent it SIGTERM, and the
  child ran the *run's* handler inside threading's after-fork hook, before the worker's own
  signal set-up. Python printed "Exception ignored in ... _after_fork" and the child lived on as a
  worker nobody would ever stop. A child that inherits the handler now does what it would have
  done without one: dies on SIGTERM, ignores Ctrl-C (the run stops its workers itself).
- In the run itself. The exception is raised wherever the main thread happens to be; inside a
  weakref callback or a ``__del__`` Python reports it and carries on. So the handler records the
  signal, and the loops that wait re-raise it at their next wake-up.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: workers stopped, nothing half-written, the same one line."""


_PENDING: list[int] = []  # signals whose exception was raised; cleared by install()
_OWNER: list[int] = []  # the pid that installed the handlers: the only process they stop by exception


def _exception(signum: int) -> KeyboardInterrupt:
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _handle(signum: int, frame: object) -> None:
    if _OWNER and os.getpid() != _OWNER[0]:  # a forked child that has not set up its own signals yet
        if signum == signal.SIGTERM:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        return
    _PENDING.append(signum)
    raise _exception(signum)


def raise_if_pending() -> None:
    """Raise again the stop a swallowed handler exception lost; a no-op when none was asked for."""
    if _PENDING:
        raise _exception(_PENDING[-1])


def install() -> Callable[[], None]:
    """Handle SIGTERM (and Ctrl-C, unless it is ignored) in the main thread; returns what restores the old handlers.

    An ignored SIGINT stays ignored: `nohup` and background jobs of a non-interactive shell start
    that way on purpose. Outside the main thread (an embedding program) nothing is changed.
    """
    _PENDING.clear()
    _OWNER[:] = [os.getpid()]
    previous: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {}
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            if signum == signal.SIGINT and signal.getsignal(signum) is not signal.default_int_handler:
                continue
            previous[signum] = signal.signal(signum, _handle)
        except ValueError:  # not the main thread
            break

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    return restore
