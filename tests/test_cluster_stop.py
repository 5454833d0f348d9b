"""Every machine stops when one is told to: through the shared run directory, never a crash report."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from ascii_lora.train.cluster_stop import (
    INTERRUPT_REQUEST,
    PeerWatch,
    announce_interrupt,
    clear_interrupt,
    complete_state_since,
)

NAME = "lora"


def save_state(run: Path, step: int, complete: bool = True, mtime: float | None = None) -> Path:
    d = run / f"{NAME}-step{step:08d}-state"
    d.mkdir(parents=True)
    (d / "train_state.json").write_text(json.dumps({"current_step": step}))
    if complete:
        (d / "random_states_0.pkl").write_bytes(b"x")
    if mtime is not None:
        os.utime(d, (mtime, mtime))
    return d


def watch(run: Path, head: bool, since: float = 0.0) -> tuple[PeerWatch, list[int]]:
    sent: list[int] = []
    return PeerWatch(run, NAME, since, run / "stop.request", head, sent.append, poll_s=0.01), sent


def test_complete_state_since_ignores_old_and_half_written_states(tmp_path):
    now = time.time()
    save_state(tmp_path, 2, mtime=now - 100)
    assert complete_state_since(tmp_path, NAME, now - 10) is None  # saved before this launch
    save_state(tmp_path, 4, complete=False)
    assert complete_state_since(tmp_path, NAME, now - 10) is None  # accelerate has not finished it
    save_state(tmp_path, 6)
    assert complete_state_since(tmp_path, NAME, now - 10) == 6


def test_a_non_head_machine_stops_once_the_requested_state_is_on_the_shared_disk(tmp_path):
    w, sent = watch(tmp_path, head=False, since=time.time() - 1)
    assert w.poll_once() is False and sent == []
    (tmp_path / "stop.request").write_text("{}")
    assert w.poll_once() is False and sent == []  # asked, but the head has not saved yet
    (tmp_path / "stop.request").unlink()  # the head honoured it and cleared it: we still remember
    save_state(tmp_path, 4)
    assert w.poll_once() is True and sent == [signal.SIGINT] and w.stopped_after == 4


def test_the_head_leaves_stop_requests_to_its_own_launcher(tmp_path):
    w, sent = watch(tmp_path, head=True, since=time.time() - 1)
    (tmp_path / "stop.request").write_text("{}")
    save_state(tmp_path, 4)
    assert w.poll_once() is False and sent == []


def test_an_interrupt_on_any_machine_stops_every_other_at_once(tmp_path):
    for head in (True, False):
        clear_interrupt(tmp_path)
        w, sent = watch(tmp_path, head=head, since=time.time() - 1)
        assert w.poll_once() is False
        announce_interrupt(tmp_path, signal.SIGINT)
        assert w.poll_once() is True and sent == [signal.SIGINT] and w.peer_interrupt["signal"] == "SIGINT"


def test_an_old_announcement_does_not_stop_a_new_launch(tmp_path):
    announce_interrupt(tmp_path, signal.SIGTERM)
    old = time.time() - 100
    os.utime(tmp_path / INTERRUPT_REQUEST, (old, old))
    w, sent = watch(tmp_path, head=False, since=time.time() - 1)
    assert w.poll_once() is False and sent == []


def test_the_watch_thread_polls_until_it_has_stopped_the_trainer(tmp_path):
    w, sent = watch(tmp_path, head=False, since=time.time() - 1)
    w.start()
    announce_interrupt(tmp_path, signal.SIGINT)
    w.join(10)
    assert not w.is_alive() and sent == [signal.SIGINT]
