"""AWS SDK integrations for the services this server answers besides S3 and ECS.

``arn:aws:states:::aws-sdk:sfn:startExecution``, ``aws-sdk:lambda:invoke``,
``aws-sdk:cloudformation:describeStacks``, ``aws-sdk:iam:getRole``,
``aws-sdk:sts:getCallerIdentity``... are called as Step Functions calls them on AWS:
through the service's own API, here the server's own endpoint (botocore, on threads of
their own, so a long call never holds the event loop), with the request members in
PascalCase and the response returned in PascalCase (:mod:`montemap.api.sdk_shapes`).
A service's refusal fails the state with ``<Service>.<Code>Exception`` (``Sfn.``,
``Lambda.``, ``CloudFormation.``, ``Iam.``, ``Sts.``) and a cause that ends with
``(Service: ..., Status Code: ..., Request ID: ...)``. Request-response and
``.waitForTaskToken`` (the engine then waits for the callback); ``.sync`` is not an
SDK integration pattern. An action the service's model does not have is refused before
the task is scheduled. As on AWS, ``aws-sdk:lambda:invoke`` returns the function's
``Payload`` as text and a function's error as ``FunctionError`` without failing the
state (``arn:aws:states:::lambda:invoke`` is the optimized integration that parses it).

``aws-sdk:s3`` and ``aws-sdk:ecs`` have integrations of their own (longest prefix wins).
"""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import botocore.session
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.model import OperationModel, ServiceModel

from montemap.api.sdk_shapes import error_name, pascal, to_request, to_result
from montemap.api.start_execution_integration import child_name
from montemap.errors import RUNTIME, StatesError

if TYPE_CHECKING:
    from montemap.engine.run import ExecutionRun
    from montemap.engine.store import FrameRow
    from montemap.engine.tasks import TaskCall

__all__ = ["SDK_PREFIX", "SERVICES", "SdkIntegration", "SdkService"]

SDK_PREFIX = "arn:aws:states:::aws-sdk:"
_WAIT = ".waitForTaskToken"
#: Longest a call may take on the wire (a Task's TimeoutSeconds ends the state sooner).
_READ_TIMEOUT = 900


@dataclass(frozen=True)
class SdkService:
    """One service as ASL names it: the ARN's service name, botocore's, the error prefix."""

    arn_name: str
    botocore_name: str
    error_prefix: str

    @property
    def prefix(self) -> str:
        return f"{SDK_PREFIX}{self.arn_name}:"


#: The services served through the endpoint (S3 and ECS have integrations of their own).
SERVICES = (
    SdkService("sfn", "stepfunctions", "Sfn"),
    SdkService("lambda", "lambda", "Lambda"),
    SdkService("cloudformation", "cloudformation", "CloudFormation"),
    SdkService("iam", "iam", "Iam"),
    SdkService("sts", "sts", "Sts"),
)


def _isolated_session() -> botocore.session.Session:
    """A botocore session that reads none of the user's AWS configuration: the calls go
    to this server with its keys, whatever ``AWS_PROFILE`` or ``~/.aws`` say."""
    return botocore.session.Session(
        session_vars={
            "profile": (None, None, None, None),  # not AWS_PROFILE
            "config_file": (None, None, os.devnull, None),  # not AWS_CONFIG_FILE
            "credentials_file": (None, None, os.devnull, None),
        }
    )


class SdkIntegration:
    """The engine integration for one :class:`SdkService` on the server at ``endpoint``;
    register it with ``engine.integrations`` under ``service.prefix``."""

    def __init__(
        self,
        service: SdkService,
        *,
        endpoint: str,
        region: str,
        access_key: str,
        secret_key: str,
        executor: ThreadPoolExecutor,
    ) -> None:
        self.service = service
        self._endpoint = endpoint
        self._region = region
        self._keys = (access_key, secret_key)
        self._executor = executor
        self._session = _isolated_session()
        self.model: ServiceModel = self._session.get_service_model(service.botocore_name)
        self._client: Any = None
        self._lock = threading.Lock()

    def refusal(self, resource: str) -> str | None:
        """Why ``resource`` is not served, or None (the engine asks before scheduling)."""
        action, pattern = self._split(resource)
        if pattern not in ("", _WAIT):
            return (
                f"The resource '{resource}' uses the integration pattern '{pattern}', which"
                f" AWS SDK integrations do not have (request-response, or {_WAIT})."
            )
        if self._operation(action) is None:
            return (
                f"The resource '{resource}' names no {self.service.arn_name} action"
                f" ('{action}' is not in the service's API)."
            )
        return None

    async def __call__(self, run: ExecutionRun, frame: FrameRow, call: TaskCall) -> Any:
        action, _ = self._split(call.resource)
        operation = self._operation(action)
        if operation is None:  # checked before scheduling; a JSONata Resource may differ
            raise StatesError(RUNTIME, self.refusal(call.resource) or call.resource)
        arguments = {} if call.arguments is None else call.arguments
        if not isinstance(arguments, dict):
            raise StatesError(
                RUNTIME,
                f"The parameters of '{call.resource}' must be a JSON object, got"
                f" {type(arguments).__name__}.",
            )
        if (self.service.arn_name, action) == ("sfn", "startExecution") and "Name" not in arguments:
            # run again after a restart, the state finds the child it started (idempotent)
            arguments = {**arguments, "Name": child_name(run, frame)}
        shape = operation.input_shape
        params = to_request(shape, arguments, "") if shape is not None else {}
        loop = asyncio.get_running_loop()
        response = await loop.run_in_executor(self._executor, self._send, operation, params)
        response.pop("ResponseMetadata", None)
        return to_result(operation.output_shape, response)

    def _split(self, resource: str) -> tuple[str, str]:
        rest = resource[len(self.service.prefix) :]
        action, dot, pattern = rest.partition(".")
        return action, dot + pattern

    def _operation(self, action: str) -> OperationModel | None:
        name = pascal(action)
        if not action[:1].islower() or name not in self.model.operation_names:
            return None
        return self.model.operation_model(name)

    def _send(self, operation: OperationModel, params: dict[str, Any]) -> dict[str, Any]:
        client = self._get_client()
        method = getattr(client, xform_name(operation.name))
        try:
            result: dict[str, Any] = method(**params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            meta = exc.response.get("ResponseMetadata", {})
            raise StatesError(
                error_name(self.service.error_prefix, str(error.get("Code") or "Unknown")),
                f"{error.get('Message') or ''} (Service: {self.service.error_prefix}, Status"
                f" Code: {meta.get('HTTPStatusCode')}, Request ID: {meta.get('RequestId')})",
            ) from None
        except (BotoCoreError, TypeError, ValueError) as exc:  # a value botocore cannot send
            raise StatesError(RUNTIME, f"{operation.name}: {exc}") from None
        return result

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._session.create_client(
                    self.service.botocore_name,
                    region_name=self._region,
                    endpoint_url=self._endpoint,
                    aws_access_key_id=self._keys[0],
                    aws_secret_access_key=self._keys[1],
                    config=Config(
                        retries={"total_max_attempts": 1},
                        parameter_validation=False,
                        read_timeout=_READ_TIMEOUT,
                        connect_timeout=10,
                        max_pool_connections=16,
                    ),
                )
            return self._client
