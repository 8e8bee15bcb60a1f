"""The CloudFormation package's command: ``deploy``."""

from __future__ import annotations

import argparse

from montemap.cloudformation import deploy_command


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``deploy``."""
    deploy_command.register(subparsers)
