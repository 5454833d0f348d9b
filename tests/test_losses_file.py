"""validation_loss.json from the event-file reader's output: the core side, without tensorboard.

The reader (tb_events.py, train environment) is stood in for by an executable that writes what the
real one writes; test_tb_events.py tests the real one where tensorboard is installed.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from ascii_lora.train.losses_file import losses_line, update_losses
from ascii_lora.validation_loss import VALIDATION_FILE, read_losses


def reader(tmp_path: Path, output: dict | None) -> str:
    """An interpreter stand-in: called as ``PY -m ascii_lora.train.tb_events LOGS OUT``, writes ``output`` to OUT."""
    script = tmp_path / "fake_python"
    body = "" if output is None else f"open(sys.argv[-1], 'w').write({json.dumps(json.dumps(output))})\n"
    script.write_text(f"#!{sys.executable}\nimport sys\n{body}")
    os.chmod(script, 0o755)
    return str(script)


def test_the_reader_output_becomes_per_validation_losses_in_cumulative_steps(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    launches = [
        {"name": "20261206100000", "points": [[2, 0.5, 1.0], [4, 0.45, 2.0]], "first_epoch_steps": None},
        {
            "name": "resume-from-step00000004-20261206110000",
            "points": [[2, 0.3, 3.0]],
            "first_epoch_steps": None,
        },
    ]
    losses, why = update_losses(run, reader(tmp_path, {"launches": launches}))
    # the first launch's second value is the mean of both of its validations: 2 x 0.45 - 0.5
    assert why is None and losses == {2: 0.5, 4: 0.4, 6: 0.3}
    assert read_losses(run) == {2: 0.5, 4: 0.4, 6: 0.3}
    assert json.loads((run / VALIDATION_FILE).read_text())["launches"] == launches
    assert (
        losses_line(losses)
        == "validation loss (from the run's event files): step 2 0.5000, step 4 0.4000, step 6 0.3000"
    )


def test_a_failed_reading_says_why_and_keeps_the_last_good_file(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / VALIDATION_FILE).write_text(json.dumps({"losses": [{"step": 2, "loss": 0.5}]}))
    losses, why = update_losses(
        run, reader(tmp_path, {"error": "ModuleNotFoundError: No module named 'tensorboard'"})
    )
    assert (losses, why) == (
        {},
        "validation loss not read: ModuleNotFoundError: No module named 'tensorboard'",
    )
    losses, why = update_losses(run, reader(tmp_path, None))
    assert why == (
        "validation loss not read: the event-file reader wrote nothing "
        "(is tensorboard installed in the train environment?)"
    )
    losses, why = update_losses(run, str(tmp_path / "no-such-python"))
    assert why == "validation loss not read: the event-file reader did not run (FileNotFoundError)"
    assert read_losses(run) == {2: 0.5}
    assert losses_line({}) == "validation loss: none logged yet"
