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
    assert "internal error" in err and "ZeroDivisionError: a bug ?[2J deep inside" in err and "\x1b" not in err
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
