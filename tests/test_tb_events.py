"""Reading sd-scripts' TensorBoard event files (train environment only: tensorboard is not a core dependency).

The event files are written here with tensorboard's own writer, the way accelerate's tracker
writes them (one ``simple_value`` scalar per tag and step, flushed after each log); the rehearsal
reads the real trainer's files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

tb = pytest.importorskip("tensorboard")  # in the train environment (sd-scripts' requirements), not in .venv

from tensorboard.compat.proto import event_pb2, summary_pb2  # noqa: E402
from tensorboard.summary.writer.event_file_writer import EventFileWriter  # noqa: E402

from ascii_lora.train import tb_events  # noqa: E402
from ascii_lora.validation_loss import TAG, run_losses  # noqa: E402


def write_events(folder: Path, scalars: list[tuple[str, int, float, float]]) -> None:
    """(tag, step, value, wall time) into one event file under ``folder``."""
    writer = EventFileWriter(str(folder))
    for tag, step, value, wall in scalars:
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
        writer.add_event(event_pb2.Event(wall_time=wall, step=step, summary=summary))
    writer.close()


def test_validation_points_and_the_first_epochs_end_come_out_of_each_launch_folder(tmp_path):
    logs = tmp_path / "logs"
    # 3 steps per epoch; validations at steps 2 (first epoch) and 4 (second); the epoch ends after step 3
    scalars = [("loss/current", s, 1.0, float(s)) for s in range(1, 7)]
    scalars += [(TAG, 2, 0.5, 2.5), ("loss/epoch_average", 1, 0.9, 3.5), (TAG, 4, 0.4, 4.5)]
    write_events(logs / "20261206100000" / "network_train", scalars)
    write_events(
        logs / "resume-from-step00000006-20261206110000" / "network_train",
        [("loss/current", 1, 1.0, 10.0), (TAG, 2, 0.3, 12.0), ("loss/current", 2, 1.0, 11.0)],
    )
    (logs / "not-a-launch").mkdir()
    out = tmp_path / "events.json"
    assert tb_events.main([str(logs), str(out)]) == 0
    data = json.loads(out.read_text())
    assert [
        (run["name"], run["first_epoch_steps"], [p[:2] for p in run["points"]]) for run in data["launches"]
    ] == [
        ("20261206100000", 3, [[2, 0.5], [4, pytest.approx(0.4)]]),
        ("resume-from-step00000006-20261206110000", None, [[2, pytest.approx(0.3)]]),
    ]
    assert run_losses(data["launches"]) == {2: 0.5, 4: pytest.approx(0.4), 8: pytest.approx(0.3)}


def test_no_logs_yet_is_no_launch_and_a_failure_is_written_not_raised(tmp_path, monkeypatch):
    out = tmp_path / "events.json"
    assert tb_events.main([str(tmp_path / "logs"), str(out)]) == 0
    assert json.loads(out.read_text()) == {"launches": []}

    def broken(logs):
        raise OSError("disk gone")

    monkeypatch.setattr(tb_events, "read_logs", broken)
    assert tb_events.main([str(tmp_path / "logs"), str(out)]) == 1
    assert json.loads(out.read_text()) == {"error": "OSError: disk gone"}
