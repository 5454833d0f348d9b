"""A stop whose exception Python swallowed still stops the run.

Python raises a signal handler's exception wherever the main thread is; inside a finalizer it
prints "Exception ignored in ..." and goes on. CI once saw `dataset` hang for ever that way after
SIGTERM to its process group: workers dead, exception lost, the run waiting for their images.
Each test below plays that swallow deterministically by running the real handler inside `__del__`.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import signal
import sys
import time

import pytest

from ascii_lora import interrupts
from ascii_lora.cli.app import main
from ascii_lora.config.models import DatasetConfig
from ascii_lora.dataset import writer
from ascii_lora.dataset.workers import run_chunks
from ascii_lora.dataset.writer import write_dataset


class _SignalInFinalizer:
    """Runs the installed handler for ``signum`` inside ``__del__``, where Python swallows what it raises."""

    def __init__(self, signum: int):
        self.signum = signum

    def __del__(self):
        signal.getsignal(self.signum)(self.signum, None)


SWALLOWED: list[type] = []


def _swallowed(signum: int) -> None:
    _SignalInFinalizer(
        signum
    )  # dropped at once: its __del__ runs here and Python reports, not raises, its exception
    gc.collect()


@pytest.fixture
def handlers(monkeypatch):
    SWALLOWED.clear()
    monkeypatch.setattr(sys, "unraisablehook", lambda u: SWALLOWED.append(u.exc_type))
    # As in a terminal: a runner started as a background job inherits Ctrl-C ignored, and install()
    # rightly keeps an ignored Ctrl-C ignored, which would leave no handler to play here.
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    restore = interrupts.install()
    yield
    restore()
    signal.signal(signal.SIGINT, inherited)
    interrupts._PENDING.clear()  # a stop played here must not stop the next test's run


@pytest.mark.parametrize(
    "signum,kind", [(signal.SIGTERM, interrupts.Terminated), (signal.SIGINT, KeyboardInterrupt)]
)
def test_the_swallowed_exception_is_raised_again_at_the_next_check(handlers, signum, kind):
    _swallowed(signum)
    assert SWALLOWED == [kind]  # the swallow really happened
    with pytest.raises(kind) as e:
        interrupts.raise_if_pending()
    assert isinstance(e.value, interrupts.Terminated) == (signum == signal.SIGTERM)


def test_nothing_is_pending_in_a_fresh_install(handlers):
    interrupts._PENDING.append(signal.SIGTERM)
    interrupts.install()()  # a new command starts clean
    assert interrupts._PENDING == []
    assert interrupts.raise_if_pending() is None  # nothing raised


def test_an_ignored_ctrl_c_stays_ignored():
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        restore = interrupts.install()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is interrupts._handle
        restore()
        assert signal.getsignal(signal.SIGTERM) is not interrupts._handle
    finally:
        signal.signal(signal.SIGINT, before)


def _sleeps(chunk):
    time.sleep(60)


def test_a_wait_for_workers_that_will_not_answer_soon_stops_at_the_next_wake_up(handlers):
    _swallowed(signal.SIGTERM)
    t0 = time.monotonic()
    with pytest.raises(interrupts.Terminated):
        next(run_chunks(_sleeps, [1], workers=1, wake_s=0.05))
    assert time.monotonic() - t0 < 20 and multiprocessing.active_children() == []


@pytest.mark.parametrize("workers", [1, 2])
def test_a_swallowed_stop_after_the_first_image_stops_the_dataset_incomplete(tmp_path, handlers, workers):
    cfg = DatasetConfig(count=12, resolution=384)

    def stop_after_first(results, total):
        for i, r in enumerate(results):
            yield r
            if i == 0:
                _swallowed(signal.SIGTERM)

    with pytest.raises(interrupts.Terminated):
        write_dataset(cfg, tmp_path, workers=workers, progress=stop_after_first)
    # the run never reached its last write (workers may have drawn every image by then)
    assert json.loads((tmp_path / "manifest.json").read_text())["status"] == "incomplete"


def test_the_cli_reports_the_swallowed_stop_as_terminated(tmp_path, handlers, monkeypatch, capsys):
    real = writer._write_locked

    def swallow_then_write(cfg, out, old, workers, progress):
        def stopping(results, total):
            for i, r in enumerate(progress(results, total)):
                yield r
                if i == 0:
                    _swallowed(signal.SIGTERM)

        return real(cfg, out, old, workers, stopping)

    monkeypatch.setattr(writer, "_write_locked", swallow_then_write)
    code = main(["dataset", "--out", str(tmp_path / "data"), "--count", "12", "--workers", "1"])
    assert code == 143 and SWALLOWED == [interrupts.Terminated]
    out = capsys.readouterr()
    assert "terminated; re-run the same command" in out.out + out.err


def _run_in_child(signum: int) -> int:
    """Fork, run the inherited handler for ``signum`` in the child as threading's after-fork hook would; its wait status."""
    pid = os.fork()
    if pid == 0:
        # as inherited (after the dataset's first pool, the child's own at-fork set-up has replaced it here)
        signal.signal(signum, interrupts._handle)
        try:
            interrupts._handle(signum, None)
        except BaseException:
            os._exit(
                3
            )  # the run's stop raised in a process that is not the run: swallowed there, it lives on
        os._exit(4)
    return os.waitpid(pid, 0)[1]


def test_a_forked_child_that_inherits_the_runs_handler_dies_on_sigterm(handlers):
    status = _run_in_child(signal.SIGTERM)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM
    interrupts.raise_if_pending()  # and the run itself was not stopped by its child's signal


def test_a_forked_child_that_inherits_the_runs_handler_leaves_ctrl_c_to_the_run(handlers):
    status = _run_in_child(signal.SIGINT)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 4
