"""User mistakes travel as UserError: the CLI prints the one line and exits non-zero, no traceback."""


class UserError(Exception):
    """A mistake the user can fix; ``str(error)`` names the file/field and what would be right."""

    exit_code = 2
