"""The CLI's last line of defence and its flags' limits: an unexpected exception is one line plus a trace
file, and every count a flag takes is capped as its config key is."""

from __future__ import annotations

import tempfile

import pytest

from ascii_lora.cli import app


def _crash(args):
    raise ZeroDivisionError("a bug \x1b[2J deep inside\nsecond line")


def test_an_unexpected_exception_is_one_line_and_the_trace_goes_to_a_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(app, "cmd_validate", _crash)
    code = app.main(["validate", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 70
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert (
        "internal error" in err and "ZeroDivisionError: a bug ?[2J deep inside" in err and "\x1b" not in err
    )
    traces = list(tmp_path.glob("ascii-lora-trace-*.txt"))
    assert len(traces) == 1 and str(traces[0]) in " ".join(err.split())
    text = traces[0].read_text()
    assert text.startswith("Traceback") and "_crash" in text and "second line" in text


def test_a_trace_that_cannot_be_written_still_leaves_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    monkeypatch.setattr(app, "cmd_validate", _crash)
    assert app.main(["validate", str(tmp_path)]) == 70
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "not writable" in err


def test_a_deleted_working_folder_is_named_as_such(tmp_path):
    from .test_bad_inputs import cli

    (tmp_path / "gone").mkdir()
    r = cli(
        "plan",
        "--run-dir",
        "run",
        cwd=tmp_path,
        prefix=["sh", "-c", 'cd gone && rmdir ../gone && exec "$@"', "sh"],
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "current folder no longer exists" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


@pytest.mark.skipif(not __import__("os").path.exists("/dev/full"), reason="needs /dev/full")
def test_stdout_on_a_full_device_is_blamed_on_stdout(tmp_path):
    import os
    import subprocess
    import sys

    from .test_bad_inputs import ROOT, lora

    (tmp_path / "l.safetensors").write_bytes(lora())
    env = {**os.environ, "HOME": str(tmp_path), "NO_COLOR": "1", "PYTHONPATH": str(ROOT / "src")}
    with open("/dev/full", "w") as full:
        r = subprocess.run(
            [sys.executable, "-m", "ascii_lora", "inspect", "l.safetensors"],
            cwd=tmp_path,
            env=env,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "error: standard output could not be written (no space left on the device); nothing else failed"
    ], r.stderr


def test_failed_preflight_counts_only_what_failed(capsys):
    from ascii_lora.cli.verify import _refuse
    from ascii_lora.train.preflight import Check

    assert _refuse([Check("a", False, "x"), Check("b", False, "y")]) == 1
    err = capsys.readouterr().err
    assert "2 pre-flight checks failed" in err and " of " not in err
