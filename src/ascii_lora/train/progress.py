"""Measured seconds per step and the time left, in the run's cumulative step count.

sd-scripts counts a resumed segment from step 0 again; the user thinks in the run's steps. The
clock takes the trainer's own step and the segment's offset, measures from the first step line it
sees (model loading and caching are behind it), and counts sampling and validation pauses in,
since they recur until the end.
"""

from __future__ import annotations

from dataclasses import dataclass

from .estimate import duration


@dataclass
class StepClock:
    total: int  # the run's max_train_steps
    offset: int = 0  # cumulative steps saved before this launch
    every_s: float = 60.0  # at most one progress line this often
    first: tuple[float, int] | None = None  # (time, trainer step) of the first step line
    last: tuple[float, int] | None = None
    _told: float | None = None

    def update(self, now: float, step: int) -> bool:
        """Record the trainer's ``step`` seen at ``now``; True when a progress line is due."""
        if self.first is None:
            self.first = (now, step)
        if self.last is not None and step <= self.last[1]:
            return False
        self.last = (now, step)
        if self.seconds_per_step is None or (self._told is not None and now - self._told < self.every_s):
            return False
        self._told = now
        return True

    @property
    def step(self) -> int | None:
        """The cumulative step of the newest step line."""
        return None if self.last is None else self.offset + self.last[1]

    @property
    def seconds_per_step(self) -> float | None:
        if self.first is None or self.last is None or self.last[1] <= self.first[1]:
            return None
        return (self.last[0] - self.first[0]) / (self.last[1] - self.first[1])

    @property
    def eta_s(self) -> float | None:
        rate, step = self.seconds_per_step, self.step
        return None if rate is None or step is None else max(0, self.total - step) * rate

    def line(self) -> str:
        return (
            f"progress: step {self.step}/{self.total}, {self.seconds_per_step:.2f} s/step measured, "
            f"about {duration(self.eta_s or 0)} left"
        )

    def record(self) -> dict:
        """What run.json keeps of the clock."""
        rate, eta = self.seconds_per_step, self.eta_s
        return {
            "step": self.step,
            "seconds_per_step": None if rate is None else round(rate, 3),
            "eta_s": None if eta is None else round(eta),
        }
