"""A test harness for code that runs against montemap.

- :class:`MontemapServer`: a real ``montemap server`` subprocess (start, kill, restart);
- :func:`eventually` / :func:`eventually_async`: poll a condition with a deadline;
- :func:`wait_for_execution`: an execution's description once it has ended;
- :mod:`montemap.testing.fixtures`: pytest fixtures built on them;
- :func:`montemap.worker.testing.run_handler`: run an activity handler without a server.

Needs boto3 (a dependency of montemap); the fixtures module needs pytest.
"""

from montemap.testing.server import (
    DUMMY_AWS_ENV,
    DUMMY_CREDENTIALS,
    REGION,
    MontemapServer,
    ServerError,
    free_port,
)
from montemap.testing.waiting import NotYet, eventually, eventually_async, wait_for_execution

__all__ = [
    "DUMMY_AWS_ENV",
    "DUMMY_CREDENTIALS",
    "REGION",
    "MontemapServer",
    "NotYet",
    "ServerError",
    "eventually",
    "eventually_async",
    "free_port",
    "wait_for_execution",
]
