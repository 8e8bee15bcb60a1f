"""One state run in memory for the TestState action: nothing is stored.

:func:`run_in_memory` runs a (rewritten) definition as an
:class:`~montemap.engine.express.ExpressRun`: the same interpreter as every
execution, with no history rows, checkpoints or execution row.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import TYPE_CHECKING, Any

from montemap.engine.express import ExpressRun

if TYPE_CHECKING:
    from montemap.engine.engine import Engine

#: The name of the state machine TestState's runs belong to (in their ARNs only).
TEST_STATE_MACHINE = "TestState"
#: How long a tested state may run (AWS's TestState answers within 5 minutes).
MAX_SECONDS = 300.0


def _ignore(run: ExpressRun) -> None:
    """An in-memory run's end needs no bookkeeping."""


async def run_in_memory(
    engine: Engine,
    *,
    definition: str,
    input_text: str,
    variables: dict[str, Any],
    role_arn: str,
    mock: dict[str, Any] | None = None,
    timeout: float = MAX_SECONDS,
) -> dict[str, Any]:
    """Run ``definition`` on ``input_text`` with ``variables`` set; its end:
    ``status``, ``output`` (JSON text), ``error``, ``cause``. ``mock``: what the
    top-level Task's call answers instead of being made (``result`` JSON text, or
    ``errorOutput`` with ``error`` and ``cause``)."""
    name = str(uuid.uuid4())
    row = {
        "arn": engine.arns.express_execution(TEST_STATE_MACHINE, name),
        "state_machine_arn": engine.arns.state_machine(TEST_STATE_MACHINE),
        "state_machine_name": TEST_STATE_MACHINE,
        "name": name,
        "type": "EXPRESS",
        "definition": definition,
        "role_arn": role_arn,
        "revision_id": None,
        "status": "RUNNING",
        "input": input_text,
        "start_date": engine.clock.now().timestamp(),
        "map_run_arn": None,
        "parent_arn": None,
        "trace_header": None,
        "redrive_count": 0,
        "redrive_date": None,
    }
    run = ExpressRun(engine, row, _ignore)
    run.mock = mock  # read by the Task state (montemap.engine.tasks)
    value = json.loads(input_text)
    run.input_value = value
    run.start_new(value)
    run.frames[""].variables = dict(variables)  # before its task first runs
    try:
        await asyncio.wait_for(run.done.wait(), timeout)
    except TimeoutError:
        if run.main is not None:
            run.main.cancel()
            with contextlib.suppress(BaseException):
                await run.main
        return {
            "status": "FAILED",
            "error": "States.Timeout",
            "cause": f"The state did not end within {timeout:g} seconds.",
        }
    return dict(run.result)
