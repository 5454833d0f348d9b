"""Validation loss per step: sd-scripts' logged running mean turned back into each validation's own mean.

The oracle is a re-reading of the pinned sd-scripts: ``LossRecorder.add`` appends during epoch 0
and overwrites ``loss_list[step]`` afterwards; train_network.py adds every loss of a validation with
``step`` counting 0.. within that validation and logs ``moving_average`` once it is done.
"""

from __future__ import annotations

import json
import random

import pytest

from ascii_lora.validation_loss import (
    VALIDATION_FILE,
    launch_offset,
    loss_at,
    losses_json,
    per_validation,
    read_losses,
    run_losses,
)


class Recorder:
    """sd-scripts' LossRecorder at the pin, as specified there."""

    def __init__(self):
        self.loss_list: list[float] = []
        self.loss_total = 0.0

    def add(self, *, epoch: int, step: int, loss: float) -> None:
        if epoch == 0:
            self.loss_list.append(loss)
        else:
            while len(self.loss_list) <= step:
                self.loss_list.append(0.0)
            self.loss_total -= self.loss_list[step]
            self.loss_list[step] = loss
        self.loss_total += loss

    @property
    def moving_average(self) -> float:
        return self.loss_total / len(self.loss_list) if self.loss_list else 0


def logged(steps_per_epoch: int, every: int, total: int, per_validation_losses: int, seed: int):
    """What the trainer logs at each validation, and each validation's true mean."""
    rng = random.Random(seed)
    recorder, points, truth = Recorder(), [], []
    for step in range(1, total + 1):
        if step % every:
            continue
        epoch = (step - 1) // steps_per_epoch
        losses = [rng.uniform(0.1, 1.0) for _ in range(per_validation_losses)]
        for i, loss in enumerate(losses):
            recorder.add(epoch=epoch, step=i, loss=loss)
        points.append((step, recorder.moving_average))
        truth.append((step, sum(losses) / len(losses)))
    return points, truth


@pytest.mark.parametrize(
    "steps_per_epoch,every,total,batches",
    [
        (126, 250, 3000, 7),  # the default run: one validation per epoch at most, never in the first
        (10, 2, 40, 3),  # five validations in the first epoch, then one every other step
        (4, 4, 20, 1),  # one validation at the first epoch's last step
        (3, 1, 12, 2),  # every step validated
        (1000, 50, 400, 5),  # the whole launch inside its first epoch
    ],
)
def test_each_validation_gets_its_own_mean_back(steps_per_epoch, every, total, batches):
    points, truth = logged(steps_per_epoch, every, total, batches * 4, seed=every)
    first_end = steps_per_epoch if total > steps_per_epoch else None  # None: the first epoch never ended
    got = per_validation(points, first_end)
    assert [s for s, _ in got] == [s for s, _ in truth]
    assert [m for _, m in got] == pytest.approx([m for _, m in truth], rel=1e-9)


def test_the_logged_value_itself_would_mix_validations():
    # why per_validation exists: in the first epoch the second logged value is the mean of two validations
    points, truth = logged(10, 2, 10, 4, seed=1)
    assert points[1][1] == pytest.approx((truth[0][1] + truth[1][1]) / 2)
    assert points[1][1] != pytest.approx(truth[1][1])


def test_launch_folders_carry_their_offset_and_time():
    assert launch_offset("20261206101500") == (0, "20261206101500")
    assert launch_offset("resume-from-step00000500-20261206121500") == (500, "20261206121500")
    assert launch_offset("network_train") is None


def test_a_run_is_its_newest_fresh_launch_and_the_resumes_after_it():
    launches = [
        {
            "name": "20261201000000",
            "points": [[2, 9.0, 0], [8, 9.0, 0]],
            "first_epoch_steps": 1,
        },  # an old attempt
        {"name": "resume-from-step00000004-20261201010000", "points": [[2, 9.0, 0]], "first_epoch_steps": 1},
        {"name": "20261206100000", "points": [[2, 0.5, 0], [4, 0.3, 0]], "first_epoch_steps": 1},
        {"name": "resume-from-step00000004-20261206110000", "points": [[2, 0.2, 0]], "first_epoch_steps": 1},
        {"name": "notes", "points": [[2, 7.0, 0]]},
    ]
    assert run_losses(launches) == {2: 0.5, 4: 0.3, 6: 0.2}


def test_the_file_round_trips_and_a_missing_or_broken_one_reads_as_nothing(tmp_path):
    assert read_losses(tmp_path) == {}
    (tmp_path / VALIDATION_FILE).write_text(losses_json({500: 0.41234567, 250: 0.5}, []))
    assert read_losses(tmp_path) == {250: 0.5, 500: 0.412346}
    assert [r["step"] for r in json.loads((tmp_path / VALIDATION_FILE).read_text())["losses"]] == [250, 500]
    (tmp_path / VALIDATION_FILE).write_text("{not json")
    assert read_losses(tmp_path) == {}
    assert (loss_at({500: 0.412346}, 500), loss_at({500: 0.4}, 750), loss_at({}, None)) == (
        "0.4123",
        "-",
        "-",
    )
