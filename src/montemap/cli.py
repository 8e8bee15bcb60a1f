"""The ``montemap`` command. Each subcommand lives in its own module.

A command module exposes ``register(subparsers)``, which adds its parser and
sets ``func`` (taking the parsed namespace, returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from montemap import __version__
from montemap.errors import MontemapError

#: Modules that register subcommands, in the order ``--help`` lists them.
COMMAND_MODULES = [
    "montemap.workflows.run_command",  # run
    "montemap.workflows.compare",  # compare
    "montemap.workflows.workflows_command",  # workflows
    "montemap.api.command",  # server
    "montemap.workers.command",  # worker
    "montemap.credit.commands",  # simulate (+ generate, import, report)
    "montemap.aws.command",  # aws
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="montemap",
        description="Step Functions-compatible engine and credit Monte Carlo, on one machine.",
    )
    parser.add_argument("--version", action="version", version=f"montemap {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except MontemapError as exc:
        print(f"montemap: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
