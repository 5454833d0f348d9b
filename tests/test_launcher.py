"""The launcher streams, logs, records, returns the trainer's code and forwards Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from ascii_lora.train.launcher import launch


def test_streams_logs_and_returns_the_exit_code(tmp_path):
    lines: list[str] = []
    script = "import sys; print('step 1'); print('step 2', file=sys.stderr); sys.exit(3)"
    code = launch([sys.executable, "-c", script], tmp_path, tmp_path / "run" / "train.log", echo=lines.append)
    assert code == 3
    assert lines == ["step 1", "step 2"] or sorted(lines) == ["step 1", "step 2"]
    log = (tmp_path / "run" / "train.log").read_text()
    assert "step 1" in log and "step 2" in log
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["exit_code"] == 3 and record["argv"][0] == sys.executable


TRAINER = """
import signal, sys, time
print('ready', flush=True)
try:
    time.sleep(60)
except KeyboardInterrupt:
    print('trainer saw Ctrl-C, saving state', flush=True)
    sys.exit(0)
"""

RUNNER = """
import sys
from pathlib import Path
from ascii_lora.train.launcher import launch
sys.exit(launch([sys.executable, "-c", sys.argv[1]], Path(sys.argv[2]), Path(sys.argv[2]) / "train.log"))
"""


def test_ctrl_c_reaches_the_trainer_and_is_recorded(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, TRAINER, str(tmp_path)], start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = tmp_path / "train.log"
    deadline = time.time() + 30
    while time.time() < deadline and not (log.exists() and "ready" in log.read_text().splitlines()):  # the header holds the source
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C: the whole foreground group
    proc.wait(timeout=30)
    assert proc.returncode == 130
    assert "saving state" in log.read_text()
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["interrupted"] is True
