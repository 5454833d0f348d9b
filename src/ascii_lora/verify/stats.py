"""Pass rates with honest error bars, and the rule that picks the checkpoint to keep.

A checkpoint is judged on n = prompts x seeds images. With n around 32 and rates near 0 or 1 (a
base model that never passes, a LoRA that nearly always does) the textbook normal interval
p +- 1.96 sqrt(p(1-p)/n) collapses to zero width at 0/n and n/n and can leave [0, 1]; Clopper-Pearson
never undercovers but is wide enough to call most checkpoints tied. The Wilson score interval keeps
close to its nominal 95 % coverage at small n and stays inside [0, 1] (Brown, Cai & DasGupta 2001,
"Interval Estimation for a Binomial Proportion", recommend it for n < 40), so it is the one used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054  # two-sided 95 % standard normal quantile


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def overlaps(self, other: Interval) -> bool:
        return self.low <= other.high and other.low <= self.high


def wilson(successes: int, n: int, z: float = Z95) -> Interval:
    """Wilson score interval for ``successes`` out of ``n`` (n = 0: the whole [0, 1])."""
    if n <= 0:
        return Interval(0.0, 1.0)
    if not 0 <= successes <= n:
        raise ValueError(f"successes {successes} outside 0..{n}")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # at 0/n and n/n the formula's bound is exactly 0 or 1; rounding must not move it
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(low, high)


@dataclass(frozen=True)
class Candidate:
    """What the winner rule needs to know about one trained checkpoint."""

    key: str
    step: int
    passed: int
    images: int

    @property
    def rate(self) -> float:
        return self.passed / self.images if self.images else 0.0

    @property
    def interval(self) -> Interval:
        return wilson(self.passed, self.images)


@dataclass(frozen=True)
class Verdict:
    winner: str
    best: str  # highest pass rate (earlier step on equal rates)
    tied: tuple[str, ...]  # checkpoints whose interval overlaps the best one's, winner among them
    reason: str


def choose_winner(candidates: Sequence[Candidate]) -> Verdict | None:
    """The earliest checkpoint that the data cannot tell apart from the best one.

    The best is the highest pass rate. A checkpoint whose 95 % interval overlaps the best's is
    not shown to be worse at this many images, so it counts as a tie, and ties go to the earlier
    step: it saw the training set fewer times (less overfit, usually more general).
    """
    pool = [c for c in candidates if c.images > 0]
    if not pool:
        return None
    best = max(pool, key=lambda c: (c.rate, -c.step))
    tied = sorted((c for c in pool if c.interval.overlaps(best.interval)), key=lambda c: c.step)
    winner = tied[0]
    if len(pool) == 1:
        reason = "the only trained checkpoint drawn"
    elif winner is best:
        others = len(tied) - 1
        reason = "highest pass rate" + (
            f"; {others} later checkpoint(s) within its interval"
            if others
            else "; every other checkpoint's interval lies below it"
        )
    else:
        reason = (
            f"its interval overlaps that of the highest pass rate ({best.key}), "
            "so the two are tied at this sample size and the earlier step wins"
        )
    return Verdict(winner=winner.key, best=best.key, tied=tuple(c.key for c in tied), reason=reason)
