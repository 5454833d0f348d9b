"""Watch the trainer's output: measured s/step, a live ETA, checkpoint and end messages, a summary.

Fed one output line at a time by the launcher's output watcher; it decides what to say and what to
send, and keeps what ``run.json`` records. It never blocks on the network (the webhook drains in
its own thread) and builds checkpoint messages lazily there, so reading a step's check verdicts
or validation loss costs the trainer's output stream nothing.

A checkpoint's message waits for the trainer's next step (or its exit): sd-scripts validates a
step after saving it, so only then is that step's validation loss in the event file.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..config.models import ExperimentConfig
from .estimate import duration
from .launcher import STEP_LINE as STEP
from .losses_file import update_losses
from .notify import Webhook, webhook_url
from .progress import StepClock

CHECKPOINT = re.compile(r"saving checkpoint: (\S+)")  # train_network.py save_model
PEAK = re.compile(r"peak CUDA memory: ([\d.]+) GiB allocated, ([\d.]+) GiB reserved")
LAST_LINES = 12


@dataclass
class RunWatch:
    """What one launch of the trainer has shown so far, and what it says about it."""

    run: str  # the run's name in messages (its folder name, never a URL)
    total: int  # the run's max_train_steps
    offset: int = 0  # cumulative steps before this launch
    webhook: Webhook = field(default_factory=lambda: Webhook(None))
    describe_step: Callable[[int], str] | None = (
        None  # cumulative step -> its check verdicts and validation loss
    )
    now: Callable[[], float] = time.monotonic
    every_s: float = 60.0
    clock: StepClock = field(init=False)
    started: float = field(init=False)
    checkpoints: list[int] = field(default_factory=list)
    peak: str | None = None
    tail: deque = field(default_factory=lambda: deque(maxlen=LAST_LINES))
    _pending: int | None = None  # a checkpoint whose message waits for the next step

    def __post_init__(self) -> None:
        self.clock = StepClock(self.total, self.offset, self.every_s)
        self.started = self.now()

    def launched(self, plan_line: str) -> None:
        self.webhook.send(
            f"ascii-lora {self.run}: training launched, step {self.offset}/{self.total}. {plan_line}"
        )

    def feed(self, line: str) -> list[str]:
        """Take one trainer output line; returns what the launcher should say about it."""
        self.tail.append(line.rstrip("\n")[-300:])
        out = []
        m = STEP.search(line)
        if m:
            step = int(m.group(1))
            if self._pending is not None and self.offset + step > self._pending:
                self._checkpoint_message(self._pending)
            if self.clock.update(self.now(), step):
                out.append(self.clock.line())
        saved = CHECKPOINT.search(line)
        if saved and self.clock.step is not None:
            self.checkpoints.append(self.clock.step)
            self._pending = self.clock.step
        peak = PEAK.search(line)
        if peak:
            self.peak = f"{peak.group(1)} GiB allocated, {peak.group(2)} GiB reserved"
        return out

    def _checkpoint_message(self, step: int) -> None:
        self._pending = None
        describe = self.describe_step
        head = f"ascii-lora {self.run}: checkpoint saved at step {step}/{self.total}"
        self.webhook.send(lambda: head + (f". {describe(step)}" if describe else ""))

    def summary(self) -> str:
        """steps, wall time, s/step and peak VRAM when the trainer logged it."""
        rate = self.clock.seconds_per_step
        step = self.clock.step if self.clock.step is not None else self.offset
        parts = [
            f"steps {self.offset}->{step} of {self.total}",
            f"wall time {duration(self.now() - self.started)}",
            f"{rate:.2f} s/step" if rate is not None else "s/step not measured (fewer than 2 steps)",
        ]
        if self.peak:
            parts.append(f"peak VRAM {self.peak}")
        return "summary: " + ", ".join(parts)

    def finished(self, code: int, stop_text: str | None = None) -> str:
        """Send the last messages (a pending checkpoint, then end, stop or failure); returns the summary line."""
        if self._pending is not None:
            self._checkpoint_message(self._pending)
        summary = self.summary()
        if stop_text:
            self.webhook.send(f"ascii-lora {self.run}: stopped. {stop_text} {summary}")
        elif code:
            last = "\n".join(self.tail)
            self.webhook.send(
                f"ascii-lora {self.run}: training failed with exit code {code}. {summary}\n"
                f"last lines of the log:\n{last}"
            )
        else:
            self.webhook.send(f"ascii-lora {self.run}: training finished. {summary}")
        return summary

    def close(self) -> None:
        """Let the last messages go out (bounded by the webhook's timeout)."""
        self.webhook.close()

    def record(self) -> dict:
        """What run.json keeps: the measured speed, the ETA, the checkpoints seen, the peak."""
        return {
            **self.clock.record(),
            "wall_s": round(self.now() - self.started, 1),
            "checkpoints": self.checkpoints,
            "peak_vram": self.peak,
        }


def run_watch(
    cfg: ExperimentConfig,
    run_dir: Path,
    offset: int,
    echo: Callable[[str], None],
    describe: Callable[[int], str] | None = None,
) -> RunWatch:
    """The watcher of one launch, with the configured webhook (``ASCII_LORA_WEBHOOK_URL`` first) or none."""
    hook = Webhook(webhook_url(cfg.notify), cfg.notify.timeout_s, log=echo)
    return RunWatch(
        run=Path(run_dir).name,
        total=cfg.training.max_train_steps,
        offset=offset,
        webhook=hook,
        describe_step=describe,
    )


def checkpoint_description(
    run_dir: Path, validated: bool, samples: Callable[[int], str] | None = None
) -> Callable[[int], str]:
    """What a checkpoint's message says about its step: the validation loss (read from the event files now,
    in the webhook's thread) and, from ``samples``, that step's check verdicts."""

    def describe(step: int) -> str:
        parts = []
        if validated:
            losses, why = update_losses(run_dir)
            parts.append(
                f"validation loss {losses[step]:.4f} at step {step}"
                if step in losses
                else why or f"no validation loss logged at step {step}"
            )
        if samples is not None:
            parts.append(samples(step))
        return "; ".join(parts)

    return describe
