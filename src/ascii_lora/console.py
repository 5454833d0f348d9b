"""Rich output shared by the commands: one console, one progress style."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def bar_columns() -> tuple:
    """The columns of every progress bar: what, bar, count, time spent, time left."""
    return (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )


def track(items: Iterable[T], total: int, description: str) -> Iterator[T]:
    """A progress bar with count and rate; transient output stays out of logs when not a TTY."""
    with Progress(*bar_columns(), console=err_console, transient=False, disable=total == 0) as progress:
        task = progress.add_task(description, total=total)
        for item in items:
            yield item
            progress.advance(task)


def say(message: str) -> None:
    """A plain line on stdout: no markup parsing (paths and TOML tables contain brackets), no wrapping."""
    console.print(message, markup=False, soft_wrap=True)


def fail(message: str) -> None:
    """One error line on stderr."""
    err_console.print("[red]error:[/red] ", end="")
    err_console.print(message, markup=False, soft_wrap=True)


def stdout_failed(error: BaseException) -> bool:
    """Whether ``error`` was raised while writing standard output (a full device, a closed pipe).

    Told by where it was raised: inside our stdout console or the stdout stream. Stdout is then
    pointed at /dev/null, so the interpreter's flush at exit adds no second message.
    """
    import os
    import sys

    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_locals.get("self") in (console, sys.stdout):
            break
        tb = tb.tb_next
    else:
        return False
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return True
