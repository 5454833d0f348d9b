"""How long a run will take and what it will cost, before it starts, and how long is left while it runs.

The numbers are measurements (measured.py: seconds per step of each VRAM profile and seconds per
picture, on an H100), scaled by what this run does differently: its batch, its resolution, its
sampling steps and size. The card is always named, because a 24 GB consumer card is several times
slower than the card that was measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .measured import (
    CARD,
    PICTURE_PIXELS,
    PICTURE_S_OFFLOADED,
    PICTURE_S_RESIDENT,
    PICTURE_STEPS,
    PROFILE_SPEEDS,
)

# A validation batch is one forward pass without gradients; a training step is a forward and a
# backward pass (about two forwards), so a forward costs about a third of a step.
FORWARD_SHARE_OF_STEP = 1 / 3


@dataclass(frozen=True)
class RunShape:
    """What a run (or the rest of a resumed one) does, in the units the measurements have."""

    profile: str
    profile_batch: int  # the batch the profile was measured at
    batch: int  # images per step on one GPU: batch x gradient accumulation
    resolution: int
    steps_done: int  # cumulative steps before this launch (a resume), 0 for a fresh run
    max_train_steps: int
    sample_every: int
    sample_at_first: bool
    prompts: int
    sample_steps: int
    sample_pixels: int
    swaps_blocks: bool
    validate_every: int | None = None  # None: no validation
    validation_batches: int = 0  # held-out batches per validation (after max_batches)
    validation_timesteps: int = 4


def _events(every: int, done: int, total: int) -> int:
    """How often an every-N-steps event fires in the steps left: sd-scripts counts a resumed segment's
    steps from 0 again, so the events fall at multiples of N after the resume."""
    return (total - done) // every


@dataclass(frozen=True)
class Estimate:
    parts: list[tuple[str, float]] = field(default_factory=list)  # (what, seconds)
    seconds_per_step: float = 0.0
    card: str = CARD
    price_per_hour: float | None = None

    @property
    def seconds(self) -> float:
        return sum(s for _, s in self.parts)

    @property
    def cost(self) -> float | None:
        return None if self.price_per_hour is None else self.seconds / 3600 * self.price_per_hour

    def summary(self) -> str:
        """One line: the total, its cost with a price, and the card the numbers come from."""
        cost = "" if self.cost is None else f", cost {self.cost:.2f} at {self.price_per_hour:g} per hour"
        return f"expected duration {duration(self.seconds)}{cost} (measured on one {self.card}; slower cards take longer)"

    def details(self) -> list[str]:
        return [f"  {what}: {duration(s)}" for what, s in self.parts]


def estimate(shape: RunShape, price_per_hour: float | None = None) -> Estimate:
    """The run's expected wall time, part by part, from the measured profile of ``shape.profile``."""
    speed = PROFILE_SPEEDS[shape.profile]
    scale = shape.batch / shape.profile_batch * (shape.resolution / 1024) ** 2
    per_step = speed.seconds_per_step * scale
    steps = shape.max_train_steps - shape.steps_done
    parts = [(f"{steps} steps x {per_step:.2f} s", steps * per_step)]
    samples = _events(shape.sample_every, shape.steps_done, shape.max_train_steps)
    samples += 1 if shape.sample_at_first and shape.steps_done == 0 else 0
    picture = PICTURE_S_OFFLOADED if shape.swaps_blocks else PICTURE_S_RESIDENT
    picture *= shape.sample_steps / PICTURE_STEPS * shape.sample_pixels / PICTURE_PIXELS
    if samples:
        pictures = samples * shape.prompts
        parts.append((f"sampling {pictures} pictures x {picture:.1f} s", pictures * picture))
    if shape.validate_every and shape.validation_batches:
        runs = _events(shape.validate_every, shape.steps_done, shape.max_train_steps)
        forwards = runs * shape.validation_batches * shape.validation_timesteps
        parts.append(
            (
                f"validation {runs} x {shape.validation_batches} batches x {shape.validation_timesteps} timesteps",
                forwards * per_step * FORWARD_SHARE_OF_STEP,
            )
        )
    parts.append(("loading, caching and the final save", speed.overhead_s))
    return Estimate(parts=parts, seconds_per_step=per_step, price_per_hour=price_per_hour)


def duration(seconds: float) -> str:
    """1 h 42 min, 12 min 5 s, 40 s."""
    s = max(0, round(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    if h:
        return f"{h} h {m} min"
    return f"{m} min {sec} s" if m else f"{sec} s"
