"""The ``MONTEMAP_*`` variables a server and its worker tasks read, checked at once.

A server reads some of its settings from its environment (the commit delay, the start-up
check's budget, JSONata's limits, warm task starts, the custom resource timeout) and its
worker tasks inherit that environment (the worker's poll-ahead). Each was refused only where it was first read:
some after the database file had been created, the worker's only by every task it
started, which exited at once and was replaced, while ``montemap run`` waited. The
server (:class:`montemap.assembly.Montemap`) and ``montemap run`` (before it generates a
portfolio) now call :func:`check_environment` first: every bad value is named in one
error, before anything is created or started. Numbers are plain ASCII numbers only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping

from montemap.asl.jsonata_limits import limits_from_env
from montemap.ecs.warm_tasks import switch_problem
from montemap.engine.dbcheck import check_budget
from montemap.engine.group_delay import group_delay
from montemap.errors import MontemapError
from montemap.worker.poll_ahead import poll_ahead_setting

__all__ = ["SettingsError", "check_environment"]


class SettingsError(MontemapError):
    """One or more ``MONTEMAP_*`` variables hold values montemap cannot use."""


def _custom_resource_timeout(env: Mapping[str, str]) -> float:
    # imported here: the CloudFormation service (and Starlette) only when a server starts
    from montemap.cloudformation.wiring import custom_resource_timeout

    return custom_resource_timeout(env)


#: The readers that raise a :class:`MontemapError` naming their variable. Each takes
#: plain ASCII numbers only (``float`` and ``int`` also read ``1_0``, ``١٠٠``, ``nan``).
_READERS: tuple[Callable[[Mapping[str, str]], object], ...] = (
    group_delay,
    check_budget,
    limits_from_env,
    poll_ahead_setting,
    _custom_resource_timeout,
)


def _problems(env: Mapping[str, str]) -> Iterator[str]:
    for read in _READERS:
        try:
            read(env)
        except MontemapError as exc:
            yield str(exc)
    warm = switch_problem(env)
    if warm is not None:
        yield warm


def check_environment(env: Mapping[str, str] | None = None) -> None:
    """Refuse bad ``MONTEMAP_*`` settings of a server and its workers, all named at once.

    ``env`` is the process environment by default.
    """
    problems = list(_problems(os.environ if env is None else env))
    if problems:
        raise SettingsError("; ".join(problems))
