"""What the API needs of the engine, as a structural type.

``montemap.engine.engine.Engine`` satisfies it; tests may pass any object
that does. Refusals are the engine's own errors (:mod:`montemap.engine.errors`),
which :mod:`montemap.api.errors` maps to AWS's codes.
"""

from __future__ import annotations

from typing import Any, Protocol

from montemap.engine.records import ActivityRecord, ExecutionRecord, StateMachineRef


class EngineApi(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    # activities
    def create_activity(self, name: str) -> ActivityRecord: ...

    def describe_activity(self, arn: str) -> ActivityRecord: ...

    def delete_activity(self, arn: str) -> None: ...

    def list_activities(self) -> list[ActivityRecord]: ...

    async def get_activity_task(
        self, activity_arn: str, worker_name: str | None, *, wait_seconds: float = 60.0
    ) -> tuple[str, str] | None: ...

    async def send_task_success(self, token: str, output: str) -> None: ...

    async def send_task_failure(self, token: str, error: str | None, cause: str | None) -> None: ...

    async def send_task_heartbeat(self, token: str) -> None: ...

    # executions
    async def start_execution(
        self,
        state_machine: StateMachineRef,
        *,
        name: str | None,
        input: str | None,
        trace_header: str | None = None,
        express_id: str | None = None,
        started_details: dict[str, str] | None = None,
    ) -> ExecutionRecord: ...

    async def wait_for(
        self, execution_arn: str, timeout: float | None = None, *, ours: bool = False
    ) -> ExecutionRecord: ...

    async def run_in_memory(
        self,
        *,
        definition: str,
        input_text: str,
        variables: dict[str, Any],
        role_arn: str,
        mock: dict[str, Any] | None = None,
    ) -> dict[str, Any]: ...

    def describe_execution(self, arn: str) -> ExecutionRecord: ...

    def describe_execution_definition(self, arn: str) -> StateMachineRef: ...

    async def stop_execution(
        self, arn: str, *, error: str | None, cause: str | None
    ) -> ExecutionRecord: ...

    def list_executions(
        self,
        *,
        state_machine_arn: str | None,
        map_run_arn: str | None,
        status: str | None,
        max_results: int,
        next_token: str | None,
        qualified_of: str | None = None,
    ) -> tuple[list[ExecutionRecord], str | None]: ...

    def get_execution_history(
        self,
        arn: str,
        *,
        reverse: bool,
        max_results: int,
        next_token: str | None,
        include_data: bool,
    ) -> tuple[list[dict[str, Any]], str | None]: ...
