"""The credit package's commands: ``generate``, ``import``, ``report`` and ``simulate``."""

from __future__ import annotations

import argparse

from montemap.credit import commands, gen_commands


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the credit commands (in the order ``montemap --help`` lists them)."""
    gen_commands.register(subparsers)
    commands.register(subparsers)
