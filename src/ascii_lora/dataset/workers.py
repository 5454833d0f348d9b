"""Forked workers with a pipe each: a run stopped at any instant never waits on one of them.

multiprocessing.Pool shares two queues among its workers, each guarded by a lock that lives in
shared memory. SIGTERM to the process group kills every worker at once, at whatever it is doing;
one killed while holding such a lock (sending a result, taking a task) leaves it held for ever,
and Pool.terminate() then waits on it. CI hung exactly there (stacks: ``_terminate_pool`` ->
``outqueue.put`` -> the lock's ``__enter__``), and a stress run hung in 2 of 40 group SIGTERMs
under load. Here each worker has its own pipe, only the parent hands out work, and stopping
kills and reaps the workers without touching anything they might have held.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Generator, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any, cast

from .. import interrupts
from ..errors import UserError

AHEAD = 2  # chunks handed to a worker at once: one it works on, one waiting, so it never idles between them


class WorkerDied(UserError):
    """A worker ended while it still had work: killed on its own (the OOM killer, `kill -9 <worker>`).
    Not the user's mistake, but it travels like one: a line saying what to do, no traceback."""


def _serve(
    conn: Connection,
    not_mine: tuple[Connection, ...],
    work: Callable[[Any], Any],
    start: Callable[..., None],
    start_args: tuple[Any, ...],
) -> None:
    for other in (
        not_mine
    ):  # the run's ends, inherited by fork: the run alone may hold them, or closing one ends nothing
        other.close()
    start(*start_args)
    while True:
        try:
            chunk = conn.recv()
        except EOFError:  # the run is gone
            return
        if chunk is None:
            return
        try:
            reply = (True, work(chunk))
        except Exception as e:  # noqa: BLE001 - raised again in the run, where the CLI turns it into one line
            reply = (False, e)
        conn.send(reply)


def _died(proc: multiprocessing.process.BaseProcess) -> WorkerDied:
    """What a worker's end means, said once it is reaped; a stop of the whole run (its workers die with it) wins."""
    proc.join(timeout=5)
    interrupts.raise_if_pending()
    return WorkerDied(
        f"a dataset worker (pid {proc.pid}) ended with exit code {proc.exitcode} before its images "
        "were written; re-run the same command to continue"
    )


def run_chunks(
    work: Callable[[Any], Any],
    chunks: Sequence[Any],
    workers: int,
    start: Callable[..., None] = lambda: None,
    start_args: tuple[Any, ...] = (),
    wake_s: float = 0.2,
) -> Generator[Any, None, None]:
    """Yield ``work(chunk)`` for every chunk, in the order they finish, from ``workers`` forked processes.

    Waits in slices of ``wake_s`` so a stop whose exception Python swallowed is raised again
    (`interrupts`). Closing the iterator early, or any exception, kills and reaps every worker.
    """
    ctx = multiprocessing.get_context("fork")
    todo = list(reversed(chunks))  # pop() hands them out in order
    of: dict[Connection, multiprocessing.process.BaseProcess] = {}  # each worker by the run's end of its pipe
    owed: dict[Connection, int] = {}  # results each worker still owes

    def give(conn: Connection) -> None:
        owed[conn] += 1
        try:
            conn.send(todo.pop())
        except (BrokenPipeError, ConnectionResetError):
            pass  # it died: its pipe reads as closed at the next wait, and the loop says so in one place

    try:
        for _ in range(min(workers, len(chunks))):
            mine, theirs = ctx.Pipe()
            proc: multiprocessing.process.BaseProcess = ctx.Process(
                target=_serve, args=(theirs, (*of, mine), work, start, start_args), daemon=True
            )
            proc.start()
            theirs.close()
            of[mine], owed[mine] = proc, 0
            for _ in range(AHEAD):
                if todo:
                    give(mine)
        while any(owed.values()):
            # a worker that dies closes its end of the pipe: it reads as ready, and recv() says so
            ready = cast("list[Connection]", wait([c for c in of if owed[c]], timeout=wake_s))
            interrupts.raise_if_pending()
            for conn in ready:
                try:
                    ok, value = conn.recv()
                except (EOFError, ConnectionResetError):  # its end closed: it died, perhaps mid-reply
                    raise _died(of[conn]) from None
                owed[conn] -= 1
                if not ok:
                    raise value
                if todo:
                    give(conn)
                yield value
        for conn in of:
            try:
                conn.send(None)
            except (BrokenPipeError, ConnectionResetError):
                pass  # it ended after its last reply: nothing was lost
        for proc in of.values():
            proc.join()
    finally:
        for proc in of.values():
            if proc.is_alive():
                proc.kill()  # atomic writes: a worker killed mid-image leaves only a temp file the next run removes
        for conn in of:
            conn.close()  # and a worker waiting for work reads the end of it
        for proc in of.values():
            proc.join()
