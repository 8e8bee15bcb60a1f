"""The ``montemap`` command.

Every package that has subcommands exposes one module, ``<package>/cli.py``,
with ``register(subparsers)``: it adds its parsers and sets ``func`` on each
(taking the parsed namespace, returning an exit code). :data:`COMMAND_PACKAGES`
lists those packages; a missing or broken ``cli`` module is an error, never a
silently dropped command.

A command line naming a command imports only the ``cli`` module of the package
that registers it (:data:`COMMANDS`): ``montemap worker``, which every ECS task
runs, does not pay for the server's, the engine's and the credit workload's
imports before it can poll (``tests/workflows/test_command_imports.py`` pins
both the import set and that :data:`COMMANDS` matches what the packages register).

This is the one place where errors become exit codes: a ``MontemapError`` (or
an operating-system error such as a missing file) is one line on stderr and
exit 1; anything else is a bug, reported in one line that names the file
holding its traceback.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import re
import select
import sys
import tempfile
import time
import traceback
from collections.abc import MutableMapping, Sequence
from pathlib import Path

from montemap import __version__
from montemap.errors import MontemapError

#: Packages with a ``cli`` module, in the order ``--help`` lists their commands.
COMMAND_PACKAGES = [
    "workflows",  # run, compare, workflows
    "api",  # server
    "worker",  # worker
    "credit",  # generate, import, report, simulate
    "aws",  # aws
    "cloudformation",  # deploy
]
#: Each command and the package whose ``cli`` module registers it.
COMMANDS = {
    "run": "workflows",
    "compare": "workflows",
    "workflows": "workflows",
    "server": "api",
    "worker": "worker",
    "generate": "credit",
    "import": "credit",
    "report": "credit",
    "simulate": "credit",
    "aws": "aws",
    "deploy": "cloudformation",
}


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command (``montemap --help`` lists them all)."""
    return _parser(COMMAND_PACKAGES)


def parser_for(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser for ``argv``: only its command's package when it names one, else all."""
    package = COMMANDS.get(argv[0]) if argv else None
    return build_parser() if package is None else _parser([package])


def _parser(packages: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="montemap",
        description="Step Functions-compatible engine and credit Monte Carlo, on one machine.",
    )
    parser.add_argument("--version", action="version", version=f"montemap {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for package in packages:
        importlib.import_module(f"montemap.{package}.cli").register(sub)
    _plain_text(parser)
    return parser


def _plain_text(parser: argparse.ArgumentParser) -> None:
    """Descriptions taken from docstrings lose their reStructuredText literal marks
    (double backquotes): ``--help`` is read in a terminal, not rendered."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                if command.description:
                    command.description = command.description.replace("``", "")
                _plain_text(command)


#: OpenBLAS's thread count in a command's process and every process it starts, unless
#: the environment sets it (:func:`one_blas_thread`).
BLAS_THREADS_VARIABLE = "OPENBLAS_NUM_THREADS"


def one_blas_thread(environ: MutableMapping[str, str] = os.environ) -> None:
    """One OpenBLAS thread unless ``environ`` already says how many.

    Every matrix product montemap makes is small (a batch's 0/1 sums, the reduction's
    slices of loans x 48 bins): a second thread does not make one faster, and OpenBLAS's
    extra threads spin for a while after they start and after every call they share.
    Over a 500,000-loan run that spinning took 1-2% of the machine's CPU in every
    process that imported NumPy (the workers, the pool, the reduction). One thread gives
    the same bits (each output element is one dot product made by the same kernel).
    Set before NumPy is imported, it also reaches the processes the command starts."""
    environ.setdefault(BLAS_THREADS_VARIABLE, "1")


def main(argv: list[str] | None = None) -> int:
    """Run the command ``argv`` names (default: this program's arguments); its exit code."""
    if argv is not None:
        return _main(argv)
    one_blas_thread()
    if sys.stdout is None:  # started with standard output closed (``>&-``): discard it
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (open until the process ends)
    code = _main(sys.argv[1:])
    # The process ends next: keep the cyclic collector's last pass at exit off the
    # objects this run made (after ``montemap run`` it took 0.3-0.7 s to visit them).
    gc.freeze()
    return code


#: Options whose value is a list of numbers that may start with a minus sign (a rate cut:
#: ``--shocks -100,0,100``). argparse takes ``-100,0,100`` for an option and answered
#: "expected one argument"; such a value is joined to its option (``--shocks=-100,...``).
NUMBER_LIST_OPTIONS = frozenset({"--shocks"})
_NEGATIVE_NUMBER_LIST = re.compile(r"-\d[\d.]*(,\s*[-+]?\d[\d.]*)*,?")


def join_negative_lists(argv: list[str]) -> list[str]:
    """``argv`` with each of :data:`NUMBER_LIST_OPTIONS` followed by a value such as
    ``-100,0`` written as ``--shocks=-100,0`` (nothing after ``--`` is touched)."""
    joined: list[str] = []
    rest = iter(argv)
    for arg in rest:
        if arg == "--":
            return [*joined, arg, *rest]
        if arg in NUMBER_LIST_OPTIONS:
            value = next(rest, None)
            if value is not None and _NEGATIVE_NUMBER_LIST.fullmatch(value):
                joined.append(f"{arg}={value}")
                continue
            joined += [arg] if value is None else [arg, value]
            continue
        joined.append(arg)
    return joined


def refuse_dashes_as_value(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """Refuse ``--option=--`` (usage error, exit 2): argparse drops the ``--`` and hands
    the command an empty list, bypassing the option's type (``--paths=--`` was an
    internal error, comparing a list with a number)."""
    for arg in argv:
        if arg == "--":
            return
        option, equals, value = arg.partition("=")
        if equals and value == "--" and option.startswith("-"):
            parser.error(f"argument {option}: expected one argument ('--' is not a value)")


def _main(argv: list[str]) -> int:
    argv = join_negative_lists(argv)
    try:
        parser = parser_for(argv)
        refuse_dashes_as_value(parser, argv)
        args = parser.parse_args(argv)
    except KeyboardInterrupt:
        print("\nmontemap: interrupted", file=sys.stderr)
        return 130
    except SystemExit:  # --help, --version or a usage error (exit 2, on stderr)
        if not _flushed_stdout():
            return 1
        raise
    if not getattr(args, "func", None):
        parser.print_help()
        return 2 if _flushed_stdout() else 1
    try:
        code = int(args.func(args) or 0)
        return code if _flushed_stdout() else 1
    except MontemapError as exc:
        print(f"montemap: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nmontemap: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        if isinstance(exc, BrokenPipeError) and stdout_closed():
            return _quiet_after_closed_stdout()
        print(f"montemap: error: {_os_error(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:
        log = _write_bug_report(args)
        print(
            f"montemap: internal error ({type(exc).__name__}: {exc}); this is a bug: "
            f"please report it with {log}",
            file=sys.stderr,
        )
        return 70  # EX_SOFTWARE


def _flushed_stdout() -> bool:
    """Flush standard output now, so that a reader gone away shows here rather than as
    a traceback at the interpreter's exit; False (quietly) when it has gone."""
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except BrokenPipeError:
        if not stdout_closed():
            raise
        _quiet_after_closed_stdout()
        return False
    return True


def stdout_closed() -> bool:
    """Whether standard output is a pipe whose reader has gone (``montemap ... | head``).

    Polling a pipe's write end reports an error once its read end is closed; any other
    stream (a terminal, a file, pytest's capture) is never "closed" here."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):
        return False
    poller = select.poll()
    poller.register(fd, 0)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def _quiet_after_closed_stdout() -> int:
    """The reader of standard output has gone: end quietly, as Python's docs advise.

    What is still buffered goes to ``/dev/null`` (the interpreter flushes standard
    output at exit, which would raise again), and nothing is printed: ``head`` closing
    the pipe early is what the user asked for. Exit 1, as Python does on EPIPE."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 1


def _os_error(exc: OSError) -> str:
    """An operating-system error as one line: what failed, and on which file."""
    reason = exc.strerror or str(exc)
    names = [str(name) for name in (exc.filename, exc.filename2) if name is not None]
    return f"{reason}: {' -> '.join(names)}" if names else reason


def _write_bug_report(args: argparse.Namespace) -> Path:
    """Write the current exception's traceback to a file; its path."""
    folder = Path(os.environ.get("MONTEMAP_LOG_DIR") or tempfile.gettempdir())
    path = folder / f"montemap-crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(f"montemap command: {vars(args)!r}\n\n{traceback.format_exc()}")
    except OSError:
        traceback.print_exc()
        return Path("(traceback printed above: the log could not be written)")
    return path


if __name__ == "__main__":
    sys.exit(main())
