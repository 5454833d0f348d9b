"""Run the trainer: stream its output, keep a log, relay the user's Ctrl-C, return its exit code."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import __version__
from ..fsutil import atomic_write, ensure_dir
from .relay import RELAYED as RELAYED  # re-exported: the signals a launch relays
from .relay import _Relay


def resolve_launcher(argv: list[str]) -> list[str]:
    """Use the ``accelerate`` of this environment when PATH has another (or none)."""
    if argv and argv[0] == "accelerate":
        local = Path(sys.executable).parent / "accelerate"
        if local.exists():
            return [str(local), *argv[1:]]
        if shutil.which("accelerate") is None:
            raise FileNotFoundError("accelerate is not installed in this environment: run `make setup-train`")
    return argv


# sd-scripts' tqdm bar: "steps:  10%|#         | 300/3000 [..]" (\r-separated updates read as lines); its
# validation bars ("validation steps:", "epoch validation steps:") count something else
STEP_LINE = re.compile(r"(?<!validation )steps:\s*\d+%.*?\|\s*(\d+)/(\d+)")
STATE_DIR = re.compile(r"-step(\d{8})-state$")
# train_util.save_and_remove_state_stepwise logs this before accelerator.save_state; the loop's
# progress_bar.set_postfix comes after the save returns (train_network.py at the pin), so the first
# step line after it means the state is complete on disk
SAVING_STATE = re.compile(r"saving state at (?:step|epoch) (\d+)")
LAUNCH_HEADER = "# ascii-lora "  # opens each launch's part of train.log (the log is appended to)
STOP_REQUEST = "stop.request"  # `ascii-lora stop` writes it into the run directory


def process_start_ticks(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (/proc/PID/stat field 22); None without /proc.

    With the pid it names one process for good: `ascii-lora stop` compares both, so a pid reused by
    another program after the launcher died is never taken for the training.
    """
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _flag(argv: list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv and argv.index(flag) + 1 < len(argv) else None


def states_saved_since(run_dir: Path, output_name: str, since: float) -> list[tuple[int, str]]:
    """(step, name) of each resumable state sd-scripts saved in ``run_dir`` after ``since``."""
    found = []
    for p in run_dir.glob(f"{output_name}-step*-state"):
        m = STATE_DIR.search(p.name)
        try:
            if m and p.is_dir() and p.stat().st_mtime >= since:
                found.append((int(m.group(1)), p.name))
        except OSError:
            continue
    return sorted(found)


def _in_run(name: str, offset: int) -> str:
    """A resumed segment's state name as it reads once segments.py renumbers it into the run."""
    return STATE_DIR.sub(lambda m: f"-step{offset + int(m.group(1)):08d}-state", name) if offset else name


def interruption_report(
    step: int | None, saved: list[tuple[int, str]], save_every: str | None, offset: int = 0
) -> str:
    """What one Ctrl-C cost: sd-scripts (at the pinned commit) has no Ctrl-C handler and saves nothing on
    the way out, so every step since the last ``save_every_n_steps`` state is lost.

    Steps are the trainer's own count plus ``offset``: a resumed segment counts from 0 again, the
    user thinks in the run's cumulative steps.
    """
    if step is None:
        return "stopped before the first training step: nothing was lost"
    if saved:
        last, name = saved[-1]
        lost = max(0, step - last)
        return (
            f"stopped at step {offset + step}; the last state this run saved is step {offset + last} ({_in_run(name, offset)}): "
            f"{lost} step(s) since then are lost. `make train RESUME=1` continues from it"
        )
    every = f" (one is saved every {save_every} steps)" if save_every else ""
    since = f" since its resume at step {offset}" if offset else ""
    return f"stopped at step {offset + step} before this run saved any state{since}{every}: these {step} step(s) are lost"


def stop_report(saved_step: int, saved: list[tuple[int, str]], offset: int = 0) -> str:
    """What a requested stop kept: everything, since it waits for a save to complete."""
    name = next((n for s, n in reversed(saved) if s == saved_step), None)
    where = f" ({_in_run(name, offset)})" if name else ""
    return (
        f"stopped as asked, right after the trainer saved its state at step {offset + saved_step}{where}: "
        "nothing is lost; `make train RESUME=1` continues from it"
    )


def launch(
    argv: list[str],
    cwd: Path,
    log_path: Path,
    echo: Callable[[str], None] = print,
    env: dict[str, str] | None = None,
    keep: dict | None = None,
    stop_request: Path | None = None,
    step_offset: int = 0,
    record: Path | None = None,
    peers: Callable | None = None,
    progress: Any = None,
) -> int:
    """Stream stdout+stderr line by line to ``echo`` and ``log_path``; return the trainer's exit code.

    ``progress`` (a ``watch.RunWatch``) reads the same lines: measured s/step and the time left,
    recorded in run.json as they change, checkpoint messages, and the summary line at the end.

    Ctrl-C means stop now. The trainer runs in a process group of its own, so a terminal's Ctrl-C
    reaches only us, and we relay exactly that one signal to the trainer's group: never a second
    one on a timer, never one the user did not send. SIGTERM and SIGHUP are relayed the same way.

    Stop at the next save: sd-scripts saves nothing on the way out, so a Ctrl-C loses every step
    since the last state. When ``stop_request`` appears (``ascii-lora stop``), the trainer is sent
    one SIGINT right after its next state is complete, and the launch returns 0: nothing is lost.
    A request left over from an earlier launch is cleared first, so it cannot stop this one early.

    Several machines (``peers``: cluster_stop.PeerWatch's factory, given the signal sender): a user
    signal here is announced in the shared run directory, and a peer's announcement or a stop
    honoured on the head stops this machine's trainer too. ``record``: where this launch is
    recorded (run.json; a machine other than the head keeps its own).
    """
    ensure_dir(log_path.parent)
    record = record or log_path.with_name("run.json")
    started = time.time()
    _clear_old_stop(stop_request, peers, echo)
    info = _launch_info(argv, cwd, started, keep)
    env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    relay = _Relay()
    watch = _Watcher(echo, relay, stop_request, step_offset)
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"\n{LAUNCH_HEADER}{__version__}: {' '.join(argv)}\n")
        log.flush()
        # run.json names this launcher only once its part of the log has begun: `ascii-lora stop`
        # trusts that whatever follows the last header in train.log is this launch's
        atomic_write(record, json.dumps(info, indent=1))
        with relay:
            code, peer = _run_trainer(argv, cwd, env, relay, watch, peers, echo, log, record, info, progress)
        _report_end(argv, log_path, started, relay, watch, code, progress, echo, log, info)
    code = _close_record(record, info, code, started, relay.received, watch, stop_request)
    if peer is not None and peer.stopped_after is not None and not relay.received:
        return 0  # stopped after the head's complete save: the trainer's exit is the broken all-reduce's
    return code


def _clear_old_stop(stop_request: Path | None, peers: Callable | None, echo: Callable[[str], None]) -> None:
    """A stop request left by an earlier launch, removed so it cannot stop this one early."""
    if (
        stop_request is not None and stop_request.exists() and peers is None
    ):  # a cluster's head cleared it already
        stop_request.unlink(missing_ok=True)
        echo(f"cleared an old stop request ({stop_request}); `ascii-lora stop` during this run asks again")


def _launch_info(argv: list[str], cwd: Path, started: float, keep: dict | None) -> dict:
    """run.json as the launch begins: what runs, where, and which launcher process (for `ascii-lora stop`)."""
    # ``keep``: what the caller carries across launches (segments.py: the run's segments)
    return {
        **(keep or {}),
        "argv": argv,
        "cwd": str(cwd),
        "started": started,
        "ascii_lora": __version__,
        "exit_code": None,
        "launcher_pid": os.getpid(),
        "launcher_start": process_start_ticks(os.getpid()),
    }


def _run_trainer(
    argv: list[str],
    cwd: Path,
    env: dict[str, str],
    relay: _Relay,
    watch: _Watcher,
    peers: Callable | None,
    echo: Callable[[str], None],
    log: Any,
    record: Path,
    info: dict,
    progress: Any,
) -> tuple[int, Any]:
    """Start the trainer, relay its output line by line until it exits: (exit code, peer watch or None)."""
    peer = None
    proc = subprocess.Popen(
        resolve_launcher(argv),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        env=env,
        errors="replace",
        process_group=0,
    )
    relay.started(proc)
    if peers is not None:
        peer = relay.peer = peers(relay.send)
        peer.start()
    assert proc.stdout is not None
    for line in proc.stdout:
        log.write(line)
        log.flush()
        echo(line.rstrip("\n"))
        watch.line(line, proc)
        _progress(progress, line, echo, log, record, info)
    code = proc.wait()
    watch.tell()  # it stopped without another line
    if peer is not None:
        peer.finish()
        _peer_outcome(peer, relay, watch, echo)
    return code, peer


def _report_end(
    argv: list[str],
    log_path: Path,
    started: float,
    relay: _Relay,
    watch: _Watcher,
    code: int,
    progress: Any,
    echo: Callable[[str], None],
    log: Any,
    info: dict,
) -> None:
    """Say and log how the run ended: what an interrupt or stop kept, and the progress watcher's summary."""
    summary = _summary(argv, log_path, started, relay.received, watch)
    if summary:
        log.write(summary[0])
        echo(summary[1])
    if progress is not None:
        said = progress.finished(code, summary[1] if summary else None)
        log.write(f"# {said}\n")
        echo(said)
        info["progress"] = progress.record()


def _peer_outcome(peer, relay: _Relay, watch: _Watcher, echo: Callable[[str], None]) -> None:
    """What another machine did to this launch: its interrupt counts as ours, its honoured stop as a stop."""
    if relay.received or watch.stopped_after is not None:
        return
    if peer.peer_interrupt is not None:
        relay.received.append(signal.SIGINT)  # reported as an interrupt: the run stopped without a save
        watch.told = len(relay.received)
        echo(
            f"another machine ({peer.peer_interrupt.get('host', '?')}) was interrupted: stopped this one too"
        )
    elif peer.stopped_after is not None:
        watch.stopped_after = peer.stopped_after


def _progress(
    progress: Any, line: str, echo: Callable[[str], None], log: Any, record: Path, info: dict
) -> None:
    """What the progress watcher says about ``line``: said, logged, and kept in run.json."""
    if progress is None:
        return
    said = progress.feed(line)
    for text in said:
        log.write(f"# {text}\n")
        echo(text)
    if said:
        info["progress"] = progress.record()
        atomic_write(record, json.dumps(info, indent=1))


class _Watcher:
    """Reads the trainer's output: its step, the state it is saving, and when a requested stop may go."""

    def __init__(
        self, echo: Callable[[str], None], relay: _Relay, stop_request: Path | None, step_offset: int
    ) -> None:
        self.echo, self.relay, self.stop_request, self.step_offset = echo, relay, stop_request, step_offset
        self.step: int | None = None
        self.saving: int | None = None  # the step of a state being saved, until the trainer moves on
        self.stopped_after: int | None = None  # the state a requested stop waited for
        self.told = 0

    def line(self, line: str, proc: subprocess.Popen) -> None:
        m = STEP_LINE.search(line)
        if m:
            self.step = int(m.group(1))
        saved = SAVING_STATE.search(line)
        if saved:
            self.saving = int(saved.group(1))
        elif m and self.saving is not None:
            if self._stop_asked():
                self.stopped_after = self.saving
                self.echo(
                    f"stop requested: the state at step {self.step_offset + self.saving} is saved; stopping the trainer"
                )
                try:
                    os.killpg(proc.pid, signal.SIGINT)
                except ProcessLookupError:
                    pass
            self.saving = None
        self.tell()  # said between lines, never from inside the handler

    def _stop_asked(self) -> bool:
        return (
            self.stopped_after is None
            and not self.relay.received
            and self.stop_request is not None
            and self.stop_request.exists()
        )

    def tell(self) -> None:
        received = self.relay.received
        if len(received) > self.told:
            self.told = len(received)
            self.echo(
                f"{signal.Signals(received[-1]).name} passed to the trainer: stopping now (nothing is saved on the way out)"
            )


def _summary(
    argv: list[str], log_path: Path, started: float, received: list[int], watch: _Watcher
) -> tuple[str, str] | None:
    """(log line, user line) after an interrupted or stopped run: what was saved and how to go on."""
    run_dir = Path(
        _flag(argv, "--output_dir") or log_path.parent
    )  # where the trainer saves (a resumed segment too)
    name = _flag(argv, "--output_name") or "at"  # sd-scripts' DEFAULT_STEP_NAME (train_util.py at the pin)
    if received:
        summary = interruption_report(
            watch.step,
            states_saved_since(run_dir, name, started - 1),
            _flag(argv, "--save_every_n_steps"),
            watch.step_offset,
        )
        return f"# interrupted ({signal.Signals(received[0]).name}): {summary}\n", summary
    if watch.stopped_after is not None:
        summary = stop_report(
            watch.stopped_after, states_saved_since(run_dir, name, started - 1), watch.step_offset
        )
        return f"# {summary}\n", summary
    return None


def _close_record(
    record: Path,
    info: dict,
    code: int,
    started: float,
    received: list[int],
    watch: _Watcher,
    stop_request: Path | None,
) -> int:
    """Finish run.json and say the launch's exit code: a shell's for a signal, 0 for a stop that was asked for."""
    interrupted, stopped_after = bool(received), watch.stopped_after
    if stop_request is not None and stopped_after is not None:
        stop_request.unlink(missing_ok=True)
    if code < 0:  # killed by a signal: report it the way a shell does
        code = 128 - code
    info.update(
        exit_code=code,
        finished=time.time(),
        seconds=round(time.time() - started, 1),
        interrupted=interrupted,
        last_step=watch.step,
        stopped_on_request_after=stopped_after,
    )
    atomic_write(record, json.dumps(info, indent=1))
    if interrupted and code == 0:
        return 128 + received[0]
    if stopped_after is not None and not interrupted and code in (0, 1, 128 + signal.SIGINT):
        return 0  # the SIGINT was ours (accelerate may report it as 1), sent as asked after a complete save
    return code
