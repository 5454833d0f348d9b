"""Command line: argument parsing and printing only."""

from .app import main

__all__ = ["main"]
