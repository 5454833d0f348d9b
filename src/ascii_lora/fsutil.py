"""Atomic file writes: a reader (or an interrupted run) never sees half a file."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

TMP_PREFIX = ".ascii-lora-tmp-"


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write to a temp file beside ``path``, then rename over it (atomic on POSIX)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str | None:
    try:
        return sha256_bytes(Path(path).read_bytes())
    except (FileNotFoundError, IsADirectoryError):
        return None


def remove_stale_temps(directory: Path) -> int:
    """Temp files left by a killed run; safe to delete because finished files are renamed."""
    n = 0
    for p in Path(directory).glob(TMP_PREFIX + "*"):
        p.unlink(missing_ok=True)
        n += 1
    return n
