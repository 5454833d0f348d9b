"""Dataset workers: every chunk's result comes back, and a run stopped at any instant never waits on a worker.

multiprocessing.Pool hung CI: a worker killed by SIGTERM to the process group while it held one
of the pool's shared queue locks left it held, and Pool.terminate() waited on it for ever. The
test that plays that (a worker killed in the middle of sending its result) is the one below that
matters most.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import pytest

from ascii_lora.dataset.workers import WorkerDied, _serve, run_chunks
from ascii_lora.errors import UserError


@pytest.fixture(autouse=True)
def fails_instead_of_hanging():
    """A hang is the failure these tests look for: end it as one, after a minute."""

    def hung(signum, frame):
        raise TimeoutError("run_chunks hung")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _square_all(chunk):
    return [x * x for x in chunk]


def _pid(chunk):
    return os.getpid()


def _fails(chunk):
    if chunk == 3:
        raise OSError(28, "No space left on device", "/data/x.png")
    return chunk


def _big(chunk):
    return b"x" * (chunk * 1024 * 1024)  # far beyond a pipe's buffer: the worker blocks in send until read


def _dies(chunk):
    if chunk == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return chunk


def _no_children(timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not multiprocessing.active_children()


def test_every_chunk_comes_back_once_whatever_the_order():
    chunks = [[i, i + 1] for i in range(0, 40, 2)]
    got = list(run_chunks(_square_all, chunks, workers=2))
    assert sorted(map(tuple, got)) == sorted(tuple(x * x for x in c) for c in chunks)
    assert _no_children()


def test_the_work_is_spread_over_the_workers_asked_for():
    pids = list(run_chunks(_pid, list(range(30)), workers=2))
    assert len(pids) == 30 and len(set(pids)) == 2 and os.getpid() not in pids


def test_no_more_workers_than_chunks():
    assert len(set(run_chunks(_pid, [1], workers=4))) == 1


def test_no_chunks_no_workers():
    assert list(run_chunks(_pid, [], workers=2)) == [] and _no_children()


def test_the_start_function_runs_in_each_worker_before_any_work(tmp_path):
    seen = []
    for got in run_chunks(_read_mark, [tmp_path] * 4, workers=2, start=_mark, start_args=(str(tmp_path),)):
        seen.append(got)
    assert all(seen) and len(list(tmp_path.glob("started-*"))) == 2


def _mark(folder: str) -> None:
    open(os.path.join(folder, f"started-{os.getpid()}"), "w").close()


def _read_mark(folder) -> bool:
    return (folder / f"started-{os.getpid()}").exists()


def test_an_error_in_a_worker_is_raised_in_the_run_as_itself():
    with pytest.raises(OSError) as e:
        list(run_chunks(_fails, [1, 2, 3, 4, 5], workers=2))
    assert e.value.errno == 28 and e.value.filename == "/data/x.png"
    assert _no_children()


def test_a_worker_killed_on_its_own_ends_the_run_with_one_line_not_a_hang():
    t0 = time.monotonic()
    with pytest.raises(WorkerDied) as e:
        list(run_chunks(_dies, [1, 2, 3, 4, 5, 6], workers=2, wake_s=0.05))
    assert isinstance(e.value, UserError) and "exit code -9 before its images were written" in str(e.value)
    assert str(e.value).endswith("; re-run the same command to continue")
    assert time.monotonic() - t0 < 30 and _no_children()


def _dies_at_once(chunk):
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_worker_that_dies_while_the_run_waits_for_it_is_named_with_its_exit_code():
    with pytest.raises(WorkerDied) as e:
        list(run_chunks(_dies_at_once, [1], workers=1, wake_s=0.05))
    assert "ended with exit code -9 before its images were written" in str(e.value) and _no_children()


def test_a_worker_killed_while_sending_its_result_does_not_hold_up_the_stop():
    """The CI hang, played deterministically: the worker is killed in the middle of a send."""
    gen = run_chunks(_big, [0, 64], workers=1)
    assert next(gen) == b""  # the run now holds the first result; the worker is sending the 64 MiB one
    (child,) = multiprocessing.active_children()
    time.sleep(1.0)  # let it fill the pipe and block in send
    os.kill(child.pid, signal.SIGTERM)
    t0 = time.monotonic()
    gen.close()
    assert time.monotonic() - t0 < 10 and _no_children()


def test_stopping_early_kills_and_reaps_every_worker():
    gen = run_chunks(_slow, list(range(10)), workers=2)
    next(gen)
    t0 = time.monotonic()
    gen.close()
    assert time.monotonic() - t0 < 10 and _no_children(timeout=0.5)


def _slow(chunk):
    time.sleep(0 if chunk == 0 else 30)
    return chunk


# -- a worker's loop, run here: mutmut (and coverage) see nothing of what runs in a forked child ----------


def _double_or_fail(chunk):
    if chunk == "bad":
        raise ValueError("bad chunk")
    return chunk * 2


def test_a_worker_answers_each_chunk_in_turn_until_told_to_stop(tmp_path):
    run_end, worker_end = multiprocessing.Pipe()
    inherited, other = multiprocessing.Pipe()  # stands for the run's ends a forked worker inherits
    for chunk in (3, "bad", 5, None, 7):  # nothing after None is read
        run_end.send(chunk)
    started = []
    _serve(worker_end, (inherited,), _double_or_fail, lambda *a: started.append(a), ("x", 1))
    assert started == [("x", 1)] and inherited.closed and not worker_end.closed
    assert run_end.recv() == (True, 6)
    ok, error = run_end.recv()
    assert ok is False and isinstance(error, ValueError) and str(error) == "bad chunk"
    assert run_end.recv() == (True, 10)
    assert not run_end.poll(0.1)  # stopped at None: 7 was never answered


def test_a_worker_whose_run_is_gone_ends_quietly():
    run_end, worker_end = multiprocessing.Pipe()
    run_end.close()
    worked = []
    assert _serve(worker_end, (), worked.append, lambda: None, ()) is None  # EOF: returns instead of raising
    assert worked == []  # and did no work for a run that is gone
