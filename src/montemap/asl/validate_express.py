"""What an EXPRESS workflow may not use: the ``.sync`` and ``.waitForTaskToken``
integration patterns (AWS: Express Workflows support Request Response
integrations only). Activities are not refused: AWS documents no rule for them.

The rule covers an EXPRESS state machine and the item processor of a
Distributed Map whose child executions are EXPRESS (in a STANDARD machine too).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from montemap.asl.validate_base import ERROR, SCHEMA_VALIDATION_FAILED, pointer
from montemap.errors import Diagnostic

__all__ = ["express_diagnostics"]


def express_diagnostics(definition: Any, state_machine_type: str) -> list[Diagnostic]:
    """The diagnostics of Task states an EXPRESS scope of ``definition`` cannot run."""
    if not isinstance(definition, Mapping):
        return []
    express = state_machine_type == "EXPRESS"
    return [
        Diagnostic(SCHEMA_VALIDATION_FAILED, message, location, ERROR)
        for location, message in _walk(definition, "/", express)
    ]


def _walk(machine: Mapping[str, Any], base: str, express: bool) -> Iterator[tuple[str, str]]:
    states = machine.get("States")
    if not isinstance(states, Mapping):
        return
    for name, state in states.items():
        if not isinstance(state, Mapping):
            continue
        at = pointer(base, "States", name)
        kind = state.get("Type")
        if kind == "Task" and express:
            problem = _unsupported(state.get("Resource"))
            if problem is not None:
                yield pointer(at, "Resource"), problem
        elif kind == "Parallel":
            for index, branch in enumerate(state.get("Branches") or []):
                if isinstance(branch, Mapping):
                    yield from _walk(branch, pointer(at, "Branches", index), express)
        elif kind == "Map":
            field = "ItemProcessor" if "ItemProcessor" in state else "Iterator"
            processor = state.get(field)
            if isinstance(processor, Mapping):
                config = processor.get("ProcessorConfig")
                config = config if isinstance(config, Mapping) else {}
                inner = express
                if config.get("Mode") == "DISTRIBUTED":
                    inner = config.get("ExecutionType") == "EXPRESS"
                yield from _walk(processor, pointer(at, field), inner)


def _unsupported(resource: Any) -> str | None:
    if not isinstance(resource, str):
        return None
    if resource.endswith(".waitForTaskToken"):
        return "Express state machine does not support '.waitForTaskToken' service integration"
    if resource.endswith((".sync", ".sync:2")):
        return "Express state machine does not support '.sync' service integration"
    return None
