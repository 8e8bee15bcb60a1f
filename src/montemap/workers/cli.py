"""The workers package's command: ``worker``."""

from __future__ import annotations

import argparse

from montemap.workers import command


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``worker``."""
    command.register(subparsers)
