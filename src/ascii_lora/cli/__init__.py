"""Command line: argument parsing and printing only, one module per command group.

Enters: argv. Leaves: what the library decided, printed, and an exit code. The only package
that prints; nothing imports it but ``__main__`` and the console script.
"""

from .app import main

__all__ = ["main"]
