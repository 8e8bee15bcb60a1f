"""A test harness for code that runs against montemap.

- :class:`MontemapServer`: a real ``montemap server`` subprocess (start, kill, restart);
- :func:`eventually` / :func:`eventually_async`: poll a condition with a deadline;
- :func:`wait_for_execution`: an execution's description once it has ended;
- :func:`call_json10`: one AWS JSON 1.0 request straight into an ASGI app (no socket),
  with a hook at the moment its response leaves (:func:`json10_scope` builds the scope);
- :mod:`montemap.testing.fixtures`: pytest fixtures built on them;
- :func:`montemap.worker.testing.run_handler`: run an activity handler without a server.

Needs boto3 (a dependency of montemap); the fixtures module needs pytest.
"""

from montemap.testing.asgi import AsgiResponse, call_json10, json10_scope
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
    "AsgiResponse",
    "MontemapServer",
    "NotYet",
    "ServerError",
    "call_json10",
    "eventually",
    "eventually_async",
    "free_port",
    "json10_scope",
    "wait_for_execution",
]
