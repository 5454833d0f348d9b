"""User mistakes travel as UserError: the CLI prints the one line and exits non-zero, no traceback."""


class UserError(Exception):
    """A mistake the user can fix; ``str(error)`` names the file/field and what would be right."""

    exit_code = 2


def write_trace(error: BaseException) -> str:
    """Write ``error``'s full traceback to a new file of its own and return where (or why it could not be).

    An unexpected exception is our bug, not the user's input: the user sees one line, and the file
    holds what a bug report needs. Created exclusively in the temp folder ($TMPDIR), never over a file.
    """
    import tempfile
    import traceback

    text = "".join(traceback.format_exception(error))
    try:
        fd, path = tempfile.mkstemp(prefix="ascii-lora-trace-", suffix=".txt")
        with open(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.write(text)
    except OSError as e:
        return f"nowhere: the temp folder is not writable ({e.strerror})"
    return path
