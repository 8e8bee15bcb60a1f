"""The API's actions. Importing this package fills :data:`ACTIONS`."""

from montemap.api.actions import (
    activities,
    aliases,
    executions,
    map_runs,
    state_machines,
    tagging,
    test_state,
)
from montemap.api.actions.base import ACTIONS, Context, Handler

__all__ = [
    "ACTIONS",
    "Context",
    "Handler",
    "activities",
    "aliases",
    "executions",
    "map_runs",
    "state_machines",
    "tagging",
    "test_state",
]
