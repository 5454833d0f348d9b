"""Time and cost before launch, and time left during a run.

The expected seconds are worked out here by hand from the measured table (docs/measurements and
README's drawing table), not by calling the estimate's own helpers.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from ascii_lora.train.estimate import RunShape, duration, estimate
from ascii_lora.train.measured import PROFILE_SPEEDS
from ascii_lora.train.progress import StepClock

ROOT = Path(__file__).resolve().parents[1]

DEFAULT = RunShape(
    profile="24gb",
    profile_batch=2,
    batch=2,
    resolution=1024,
    steps_done=0,
    max_train_steps=3000,
    sample_every=250,
    sample_at_first=False,
    prompts=4,
    sample_steps=20,
    sample_pixels=1024 * 1024,
    swaps_blocks=False,
)


def test_the_speed_table_is_the_measured_one():
    rows = json.loads((ROOT / "docs/measurements/h100_profiles.json").read_text())
    assert {
        r["profile"]: (r["seconds_per_step"], r["seconds_total"], r["peak_reserved_gib"]) for r in rows
    } == {p: (s.seconds_per_step, s.seconds_total, s.peak_reserved_gib) for p, s in PROFILE_SPEEDS.items()}


def test_the_default_run_is_its_steps_its_pictures_and_its_start():
    e = estimate(DEFAULT)
    # 3000 steps x 2.0 s; 12 samplings x 4 prompts x 6.0 s; start: 105.8 s for 6 steps of 2.0 s
    assert e.parts == [
        ("3000 steps x 2.00 s", 6000.0),
        ("sampling 48 pictures x 6.0 s", 288.0),
        ("loading, caching and the final save", 93.8),
    ]
    assert e.seconds == pytest.approx(6381.8)
    assert e.cost is None
    assert e.summary() == (
        "expected duration 1 h 46 min (measured on one NVIDIA H100 80GB HBM3; slower cards take longer)"
    )


def test_a_price_gives_the_cost_of_the_whole_duration():
    e = estimate(DEFAULT, price_per_hour=2.5)
    assert e.cost == pytest.approx(6381.8 / 3600 * 2.5)
    assert e.summary().startswith(
        "expected duration 1 h 46 min, cost 4.43 at 2.5 per hour (measured on one NVIDIA H100"
    )


def test_validation_costs_a_third_of_a_step_per_forward_pass():
    e = estimate(replace(DEFAULT, validate_every=250, validation_batches=7))
    # 12 validations x 7 batches x 4 timesteps = 336 forwards of 2.0 / 3 s
    assert ("validation 12 x 7 batches x 4 timesteps", pytest.approx(224.0)) in e.parts


def test_a_resumed_run_estimates_only_what_is_left_and_draws_no_baseline():
    e = estimate(replace(DEFAULT, steps_done=1500, sample_at_first=True))
    assert e.parts[:2] == [("1500 steps x 2.00 s", 3000.0), ("sampling 24 pictures x 6.0 s", 144.0)]
    fresh = estimate(replace(DEFAULT, sample_at_first=True))
    assert fresh.parts[1] == (
        "sampling 52 pictures x 6.0 s",
        312.0,
    )  # 13 samplings with the baseline at step 0


def test_bigger_batches_larger_pictures_and_offloading_scale_the_measurement():
    e = estimate(replace(DEFAULT, batch=4, sample_steps=40, sample_pixels=512 * 512))
    assert e.seconds_per_step == 4.0
    assert e.parts[1] == ("sampling 48 pictures x 3.0 s", 144.0)  # twice the steps, a quarter of the pixels
    swapped = estimate(replace(DEFAULT, profile="12gb", profile_batch=1, batch=1, swaps_blocks=True))
    assert swapped.parts[0] == ("3000 steps x 1.25 s", 3750.0)
    assert swapped.parts[1] == ("sampling 48 pictures x 21.9 s", pytest.approx(48 * 21.9))


@pytest.mark.parametrize(
    "seconds,text",
    [(0, "0 s"), (59.4, "59 s"), (61, "1 min 1 s"), (3600, "1 h 0 min"), (6381.8, "1 h 46 min"), (-5, "0 s")],
)
def test_durations_read_like_a_person_says_them(seconds, text):
    assert duration(seconds) == text


def test_the_clock_measures_from_the_first_step_line_in_cumulative_steps():
    clock = StepClock(total=1000, offset=500, every_s=60)
    assert clock.update(100.0, 0) is False  # one point: no rate yet
    assert clock.record() == {"step": 500, "seconds_per_step": None, "eta_s": None}
    assert clock.update(120.0, 10) is True
    assert clock.seconds_per_step == 2.0
    assert clock.record() == {"step": 510, "seconds_per_step": 2.0, "eta_s": 980}
    assert clock.line() == "progress: step 510/1000, 2.00 s/step measured, about 16 min 20 s left"


def test_the_clock_speaks_at_most_once_a_minute_and_only_on_a_new_step():
    clock = StepClock(total=100)
    clock.update(0.0, 0)
    assert clock.update(10.0, 1) is True
    assert clock.update(20.0, 1) is False  # the same step again (tqdm refreshes)
    assert clock.update(30.0, 2) is False  # too soon
    assert clock.update(71.0, 3) is True
    assert clock.step == 3 and clock.eta_s == pytest.approx(97 * 71 / 3)
