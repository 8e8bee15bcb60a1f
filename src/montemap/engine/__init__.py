"""The engine: durable executions of Amazon States Language state machines.

Build one with a :class:`Database` and start it inside an event loop; the API
layer (``montemap.api``) and ``montemap.assembly`` do this for the server.
"""

from montemap.engine.clock import Clock, ManualClock, SystemClock
from montemap.engine.db import Database
from montemap.engine.engine import Engine
from montemap.engine.records import ActivityRecord, ExecutionRecord, StateMachineRef

__all__ = [
    "ActivityRecord",
    "Clock",
    "Database",
    "Engine",
    "ExecutionRecord",
    "ManualClock",
    "StateMachineRef",
    "SystemClock",
]
