"""File-system edges: atomic writes, safe reads of user files, folder locks.

Every OS error on a path the user named becomes a ``UserError`` that names the path and says
what is wrong in words; a reader (or an interrupted run) never sees half a file; nothing is
read from a FIFO, a device or an unbounded file.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import stat
import tempfile
from pathlib import Path

from .errors import UserError

TMP_PREFIX = ".ascii-lora-tmp-"


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# mkstemp creates 0600 files and rename keeps that mode: a trainer running as another user could
# not read the dataset. Finished files get what open() would have given them.
FILE_MODE = 0o666 & ~_read_umask()

_WHY: dict[int | None, str] = {  # keyed by OSError.errno, which may be None
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.ENAMETOOLONG: "a name is too long for the file system",
    errno.EISDIR: "is a directory, a file must go there",
    errno.ENOTDIR: "a file sits where a folder must be",
    errno.ENOENT: "its folder does not exist",
    errno.EEXIST: "exists and is not a directory",
}


def describe(error: OSError) -> str:
    """An OS error in words a user can act on."""
    return _WHY.get(error.errno, error.strerror or str(error))


class WriteError(UserError):
    """A path we were asked to write cannot be written."""

    def __init__(self, path: Path | str, error: OSError) -> None:
        why = describe(error)
        if error.errno == errno.ENOENT and Path(path).parent.is_dir():  # /proc, /sys: the folder is there, creating is not
            why = "this file system does not let files be created here"
        super().__init__(f"{path}: cannot write here ({why})")

    def __reduce__(self):  # raised in a dataset worker, it must cross back to the run as the same line
        return UserError, (str(self),)


def ensure_dir(path: Path | str) -> Path:
    """``mkdir -p`` whose failures name the folder and the reason."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UserError(f"{path}: exists and is not a directory") from None
    except OSError as e:
        raise WriteError(path, e) from None
    if not path.is_dir():
        raise UserError(f"{path}: exists and is not a directory")
    return path


def writable_file_target(path: Path | str) -> Path:
    """Refuse, before any work, an output file that could not be written: a folder or a device in its place, an unmakeable parent."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path}: is a directory, a file must go there")
    why = not_regular(path)
    if why not in (None, "not found") and not path.is_symlink():
        raise UserError(f"{path}: {why}; give a path for a new or regular file")
    ensure_dir(path.parent)
    return path


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write to a temp file beside ``path``, then rename over it (atomic on POSIX)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    path = Path(path)
    why = not_regular(path)
    if why not in (None, "not found") and not path.is_symlink():  # rename would replace a device node or a FIFO
        raise UserError(f"{path}: {why}; give a path for a new or regular file")
    try:
        fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=path.parent)
    except OSError as e:
        raise WriteError(path, e) from None
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), FILE_MODE)
            f.write(data)
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise WriteError(path, e) from None
        raise


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str | None:
    """Digest of a regular file; None for anything else (missing, a folder, a FIFO that would block)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        return sha256_bytes(Path(path).read_bytes())
    except OSError:
        return None


def remove_stale_temps(directory: Path) -> int:
    """Temp files left by a killed run; safe to delete because finished files are renamed."""
    n = 0
    for p in Path(directory).glob(TMP_PREFIX + "*"):
        p.unlink(missing_ok=True)
        n += 1
    return n


def not_regular(path: Path | str) -> str | None:
    """Why ``path`` is no regular file we could read (None when it is one)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "not found"
    except OSError as e:
        return f"cannot be read ({describe(e)})"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a directory, not a regular file"
    kind = "a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket"
    return f"is {kind}, not a regular file"


def read_regular(path: Path | str, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, or one ``UserError`` line saying why not.

    Opened non-blocking and checked on the open descriptor: a FIFO never hangs us and /dev/zero
    is never read until memory runs out.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise UserError(f"{path}: not found") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, not a regular file") from None
    except OSError as e:
        raise UserError(f"{path}: cannot be read ({describe(e)})") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise UserError(f"{path}: {not_regular(path) or 'not a regular file'}")
    with os.fdopen(fd, "rb") as f:
        if st.st_size > limit:
            raise UserError(f"{path}: {st.st_size / 2**20:.1f} MiB is larger than the {limit / 2**20:g} MiB this file may have")
        try:
            data = f.read(limit + 1)
        except OSError as e:
            raise UserError(f"{path}: cannot be read ({describe(e)})") from None
    if len(data) > limit:
        raise UserError(f"{path}: larger than the {limit / 2**20:g} MiB this file may have")
    return data


class FolderLock:
    """An exclusive lock on a folder, held through a lock file that names its holder.

    ``flock`` dies with the process, so a killed run never leaves the folder locked; the file it
    leaves behind is reused by the next run and removed when that run finishes.
    """

    def __init__(self, folder: Path, name: str, what: str) -> None:
        self.path = Path(folder) / name
        self.what = what
        self._fd: int | None = None

    def __enter__(self) -> FolderLock:
        for _ in range(10):  # the previous holder may unlink the file between our open and flock
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
            except OSError as e:
                raise WriteError(self.path, e) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "another process"
                os.close(fd)
                raise UserError(f"{self.path.parent}: in use by {holder}; wait for it to finish or stop it, then re-run") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.write(fd, f"{self.what} (pid {os.getpid()})\n".encode())
                self._fd = fd
                return self
            os.close(fd)
        raise UserError(f"{self.path}: could not take the lock (it keeps changing); re-run")

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None
