"""The workflows package's commands: ``run``, ``compare`` and ``workflows``."""

from __future__ import annotations

import argparse

from montemap.workflows import compare, run_command, workflows_command


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the workflow commands (in the order ``montemap --help`` lists them)."""
    run_command.register(subparsers)
    compare.register(subparsers)
    workflows_command.register(subparsers)
