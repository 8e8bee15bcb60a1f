"""The environment a task's process starts with: what Fargate gives a container.

Fargate sets ``HOSTNAME``, ``AWS_REGION``/``AWS_DEFAULT_REGION``, the task
role's credentials and ``AWS_EXECUTION_ENV``; montemap adds
``AWS_ENDPOINT_URL`` (the server), so that unmodified boto3 and AWS CLI code
in a task reaches montemap for every service. The host's own ``AWS_*``
variables (a profile, another endpoint, real credentials) are not passed on,
nor is the key the server's callers may sign with (``MONTEMAP_ACCESS_KEY_ID``/
``MONTEMAP_SECRET_ACCESS_KEY``: a task signs with the key the server hands it),
and the AWS config files are ``/dev/null`` (a container has none); the rest of
the host environment is (``PATH``, a virtual environment...).
The container definition's ``environment`` is applied last, so it overrides
or extends all of this, as on ECS.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

#: ``AWS_EXECUTION_ENV`` on Fargate.
EXECUTION_ENV = "AWS_ECS_FARGATE"
#: A key configured for the server's callers: not a task's business.
SERVER_ONLY = ("MONTEMAP_ACCESS_KEY_ID", "MONTEMAP_SECRET_ACCESS_KEY")


def task_environment(
    host: Mapping[str, str],
    *,
    task_id: str,
    region: str | None,
    endpoint: str | None,
    access_key_id: str | None,
    secret_access_key: str | None,
) -> dict[str, str]:
    """The environment of a task with id ``task_id`` (before its definition's own entries)."""
    env = {k: v for k, v in host.items() if not k.startswith("AWS_") and k not in SERVER_ONLY}
    env["HOSTNAME"] = task_id
    env["AWS_EXECUTION_ENV"] = EXECUTION_ENV
    # a container has no AWS config files and no instance metadata to probe
    env["AWS_CONFIG_FILE"] = os.devnull
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    if region:
        env["AWS_REGION"] = region
        env["AWS_DEFAULT_REGION"] = region
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    if access_key_id and secret_access_key:
        env["AWS_ACCESS_KEY_ID"] = access_key_id
        env["AWS_SECRET_ACCESS_KEY"] = secret_access_key
    return env
