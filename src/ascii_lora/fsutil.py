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
import re
import stat
import tempfile
from pathlib import Path

from .errors import UserError

TMP_PREFIX = ".ascii-lora-tmp-"
# mkstemp/mkdtemp add 8 characters of this alphabet to the prefix: a name that does not end so is not ours
_OUR_TEMP = re.compile(re.escape(TMP_PREFIX) + r"[a-z0-9_]{8}")


def is_our_temp(path: Path) -> bool:
    """Whether ``path`` is named exactly like a temp file or folder of ours (a symlink never is).

    A user's own ``.ascii-lora-tmp-notes.txt`` starts with the prefix but is not ours to delete.
    """
    return bool(_OUR_TEMP.fullmatch(Path(path).name)) and not Path(path).is_symlink()


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
        if (
            error.errno == errno.ENOENT and Path(path).parent.is_dir()
        ):  # /proc, /sys: the folder is there, creating is not
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
    if (
        why not in (None, "not found") and not path.is_symlink()
    ):  # rename would replace a device node or a FIFO
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


def parse_error_words(error: Exception) -> str:
    """What a parser's failure means to a user: nesting past Python's stack and integers past its
    4300-digit conversion limit are said plainly (their own texts advise settings the user cannot reach)."""
    if isinstance(error, RecursionError):
        return "nesting too deep to read"
    if "integer string conversion" in str(error):
        return "an integer with thousands of digits"
    return str(error)


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
    """Temp files left by a killed run; safe to delete because finished files are renamed.

    Only regular files named exactly as ``mkstemp`` names ours: a user's file that merely starts
    with the prefix, a link, or a folder stays.
    """
    n = 0
    for p in Path(directory).glob(TMP_PREFIX + "*"):
        if is_our_temp(p) and p.is_file():
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
    kind = (
        "a FIFO"
        if stat.S_ISFIFO(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "a socket"
    )
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
            raise UserError(
                f"{path}: {st.st_size / 2**20:.1f} MiB is larger than the {limit / 2**20:g} MiB this file may have"
            )
        try:
            data = f.read(limit + 1)
        except OSError as e:
            raise UserError(f"{path}: cannot be read ({describe(e)})") from None
    if len(data) > limit:
        raise UserError(f"{path}: larger than the {limit / 2**20:g} MiB this file may have")
    return data


_LOCK_TEXT = re.compile(rb"[^\n]{1,120} \(pid [0-9]{1,10}\)\n?")  # what __enter__ writes, and nothing else


class FolderLock:
    """An exclusive lock on a folder, held through a lock file that names its holder.

    ``flock`` dies with the process, so a killed run never leaves the folder locked; the file it
    leaves behind is reused by the next run and removed when that run finishes. The file is never
    followed through a symlink, and a file of that name that is not one of our lock files is the
    user's: it is refused, never truncated or deleted.
    """

    def __init__(self, folder: Path, name: str, what: str) -> None:
        self.path = Path(folder) / name
        self.what = what
        self._fd: int | None = None
        self._ours = False

    def _open(self) -> tuple[int, bool]:
        """(descriptor, created by us): created exclusively, or an existing regular file opened without
        following links."""
        flags = os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
        try:
            return os.open(self.path, flags | os.O_CREAT | os.O_EXCL, FILE_MODE), True
        except FileExistsError:
            pass
        except OSError as e:
            raise WriteError(self.path, e) from None
        try:
            fd = os.open(self.path, flags)
        except FileNotFoundError:
            return -1, False  # the previous holder removed it between our two opens: try again
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise UserError(
                    f"{self.path}: is a symbolic link where the lock file goes; lock files are "
                    "never followed: remove the link, then re-run"
                ) from None
            raise WriteError(self.path, e) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            why = not_regular(self.path) or "not a regular file"
            raise UserError(
                f"{self.path}: {why}; it sits where the lock file goes: move it away, then re-run"
            )
        return fd, False

    def _is_ours(self, fd: int) -> bool:
        """Whether a pre-existing file is a lock file a killed run of ours left (refused when it holds
        anything else).

        An empty one is used but, since we cannot tell who made it, not deleted afterwards.
        """
        text = os.pread(fd, 200, 0)
        if text and not _LOCK_TEXT.fullmatch(text):
            os.close(fd)
            raise UserError(
                f"{self.path}: a file that is not an ascii-lora lock file has the lock's name; "
                "it is never overwritten: move it away, then re-run"
            )
        return bool(text)

    def __enter__(self) -> FolderLock:
        for _ in range(10):  # the previous holder may unlink the file between our open and flock
            fd, created = self._open()
            if fd < 0:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "another process"
                os.close(fd)
                raise UserError(
                    f"{self.path.parent}: in use by {holder}; wait for it to finish or stop it, then re-run"
                ) from None
            try:
                same = os.fstat(fd).st_ino == os.lstat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            self._ours = created or self._is_ours(fd)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{self.what} (pid {os.getpid()})\n".encode(), 0)
            self._fd = fd
            return self
        raise UserError(f"{self.path}: could not take the lock (it keeps changing); re-run")

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            try:  # remove only the file we hold: never one a user put at the path meanwhile
                if self._ours and os.fstat(self._fd).st_ino == os.lstat(self.path).st_ino:
                    self.path.unlink()
            except FileNotFoundError:
                pass
            os.close(self._fd)
            self._fd = None
