"""Writes that fail say which path and why in one line, leave no temp file, and never replace a device."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from ascii_lora.errors import UserError
from ascii_lora.fsutil import TMP_PREFIX, atomic_write, ensure_dir, read_regular


@pytest.mark.parametrize(
    "code,words",
    [
        (errno.ENOSPC, "no space left"),
        (errno.EDQUOT, "quota"),
        (errno.EROFS, "read-only"),
        (errno.ENAMETOOLONG, "too long"),
    ],
)
def test_a_failed_write_names_the_path_and_leaves_no_temp_file(tmp_path, monkeypatch, code, words):
    def full(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "replace", full)
    target = tmp_path / "out.json"
    with pytest.raises(UserError) as e:
        atomic_write(target, "{}")
    assert str(e.value).startswith(f"{target}: ") and words in str(e.value)
    assert not list(tmp_path.glob(TMP_PREFIX + "*")) and not target.exists()


def test_a_write_error_raised_in_a_worker_reaches_the_run_as_the_same_line(tmp_path):
    import pickle

    from ascii_lora.fsutil import WriteError

    e = WriteError(tmp_path / "x.png", OSError(errno.ENOSPC, "No space left on device"))
    back = pickle.loads(pickle.dumps(e))
    assert isinstance(back, UserError) and str(back) == str(e) and "no space left" in str(back)


def test_a_device_is_never_replaced_by_a_rename():
    with pytest.raises(UserError, match="a device, not a regular file"):
        atomic_write(Path("/dev/null"), "x")
    assert Path("/dev/null").is_char_device()


def test_a_file_where_a_folder_must_go(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(UserError, match="exists and is not a directory"):
        ensure_dir(tmp_path / "f")
    with pytest.raises(UserError, match="a file sits where a folder must be"):
        atomic_write(tmp_path / "f" / "x.txt", "x")


def test_reads_are_bounded_and_regular_only(tmp_path):
    (tmp_path / "big").write_bytes(b"x" * 2048)
    with pytest.raises(UserError, match="larger than"):
        read_regular(tmp_path / "big", 1024)
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(UserError, match="FIFO"):
        read_regular(tmp_path / "pipe", 1024)  # returns at once: a FIFO is never opened for a blocking read
    with pytest.raises(UserError, match="device"):
        read_regular("/dev/zero", 1024)
    assert read_regular(tmp_path / "big", 4096) == b"x" * 2048
