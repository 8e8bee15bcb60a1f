"""Function configurations: checked from requests, kept in the API's shape.

A stored configuration is the ``FunctionConfiguration`` document Lambda
returns, plus ``_CodeDir``-style private keys (leading underscore) that
:func:`public` strips before it is sent.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import botocore.loaders

from montemap.lambda_api.errors import constraint, invalid

if TYPE_CHECKING:
    from montemap.aws.mapping import HostMapping

#: What a role, a handler and a description may be (Lambda's API model).
_ROLE_RE = re.compile(r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+")
_HANDLER_RE = re.compile(r"[^\s]+")
_MAX_HANDLER, _MAX_DESCRIPTION = 128, 256
#: A layer version's ARN, how many layers a function may use, its architectures (API model).
_LAYER_RE = re.compile(
    r"(arn:(aws[a-zA-Z-]*)?:lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}"
    r":layer:[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+)"
)
MAX_LAYERS = 5
_ARCHITECTURES = ("x86_64", "arm64")
#: Variables Lambda sets itself; a function may not set them (AWS refuses them too).
RESERVED_VARIABLES = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)
#: What an environment variable's name must be (Lambda's API model).
_VARIABLE_NAME = re.compile(r"[a-zA-Z]([a-zA-Z0-9_])+")
#: The most bytes all of a function's variables may take (as compact JSON, as Lambda measures).
ENVIRONMENT_LIMIT = 4096
DEFAULT_TIMEOUT = 3
DEFAULT_MEMORY = 128
#: Fields UpdateFunctionConfiguration may change (the rest are recorded as given).
_SETTABLE = ("Role", "Handler", "Description", "Timeout", "MemorySize", "Runtime", "Environment")
_RECORDED = ("VpcConfig", "DeadLetterConfig", "TracingConfig", "LoggingConfig", "EphemeralStorage")


def now_text() -> str:
    """Lambda's ``LastModified`` format: ``2024-05-01T12:00:00.000+0000``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def new_revision() -> str:
    return str(uuid.uuid4())


def public(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if not k.startswith("_")}


@functools.cache
def known_runtimes() -> tuple[str, ...]:
    """The runtimes Lambda knows (botocore's model); only python3.* and nodejs* run here."""
    model = botocore.loaders.create_loader().load_service_model("lambda", "service-2")
    return tuple(model["shapes"]["Runtime"]["enum"])


def check_runtime(runtime: object) -> str:
    if not isinstance(runtime, str) or runtime not in known_runtimes():
        raise constraint(
            f"Value '{runtime}' at 'runtime' failed to satisfy constraint: Member must satisfy "
            f"enum value set: [{', '.join(known_runtimes())}]"
        )
    return runtime


def check_description(description: object) -> str:
    """A version's or an alias's ``Description`` ("" when not given)."""
    if description is None:
        return ""
    _check_text({"Description": description})
    return str(description)


def _check_text(params: dict[str, Any]) -> None:
    """Role, Handler and Description against the API model's patterns and lengths."""
    for field in ("Handler", "Role", "Description"):
        if field in params and not isinstance(params[field], str):
            raise invalid(f"'{field}' must be a string")
    role, handler = params.get("Role"), params.get("Handler")
    if role is not None and not _ROLE_RE.fullmatch(role):
        raise constraint(
            f"Value '{role}' at 'role' failed to satisfy constraint: Member must satisfy "
            f"regular expression pattern: {_ROLE_RE.pattern}"
        )
    if handler is not None and len(handler) > _MAX_HANDLER:
        raise constraint(
            f"Value '{handler}' at 'handler' failed to satisfy constraint: Member must have "
            f"length less than or equal to {_MAX_HANDLER}"
        )
    if handler is not None and not _HANDLER_RE.fullmatch(handler):
        raise constraint(
            f"Value '{handler}' at 'handler' failed to satisfy constraint: Member must satisfy "
            f"regular expression pattern: {_HANDLER_RE.pattern}"
        )
    description = params.get("Description")
    if description is not None and len(description) > _MAX_DESCRIPTION:
        raise constraint(
            f"Value '{description}' at 'description' failed to satisfy constraint: Member "
            f"must have length less than or equal to {_MAX_DESCRIPTION}"
        )


def _check_int(params: dict[str, Any], field: str, low: int, high: int) -> None:
    value = params.get(field)
    if value is None:
        return
    where = field[0].lower() + field[1:]
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid(f"Value {value!r} at '{where}' must be an integer")
    if value < low:
        raise constraint(
            f"Value '{value}' at '{where}' failed to satisfy constraint: "
            f"Member must have value greater than or equal to {low}"
        )
    if value > high:
        raise constraint(
            f"Value '{value}' at '{where}' failed to satisfy constraint: "
            f"Member must have value less than or equal to {high}"
        )


def check_environment(environment: object) -> dict[str, Any]:
    if environment is None:
        return {"Variables": {}}
    variables = environment.get("Variables", {}) if isinstance(environment, dict) else None
    if not isinstance(variables, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in variables.items()
    ):
        raise invalid("Environment.Variables must map names to string values")
    if not all(_VARIABLE_NAME.fullmatch(k) for k in variables):
        raise constraint(
            "Value at 'environment.variables' failed to satisfy constraint: Map keys must "
            "satisfy constraint: [Member must satisfy regular expression pattern: "
            f"{_VARIABLE_NAME.pattern}]"
        )
    reserved = sorted(set(variables) & RESERVED_VARIABLES)
    if reserved:
        raise invalid(
            "Lambda was unable to configure your environment variables because the environment "
            "variables you have provided contains reserved keys that are currently not "
            f"supported for modification. Reserved keys used in this request: {', '.join(reserved)}"
        )
    measured = json.dumps(variables, separators=(",", ":"))
    if len(measured.encode("utf-8")) > ENVIRONMENT_LIMIT:
        raise invalid(
            "Lambda was unable to configure your environment variables because the environment "
            f"variables you have provided exceeded the 4KB limit. String measured: {measured}"
        )
    return {"Variables": dict(variables)}


def check_settings(params: dict[str, Any]) -> None:
    """Check the fields CreateFunction and UpdateFunctionConfiguration share."""
    _check_int(params, "Timeout", 1, 900)
    _check_int(params, "MemorySize", 128, 10240)
    if "Runtime" in params:
        check_runtime(params["Runtime"])
    if "Environment" in params:
        check_environment(params["Environment"])
    _check_text(params)
    _check_lists(params)
    if params.get("DurableConfig") is not None:
        raise invalid(
            "DurableConfig is not supported here: durable functions (checkpointed, replayed "
            "executions) are not served; use a Step Functions state machine, or a plain function"
        )


def _check_lists(params: dict[str, Any]) -> None:
    """Layers and Architectures as the API model and Lambda's quota allow them."""
    layers = params.get("Layers")
    if layers is not None:
        if not isinstance(layers, list) or not all(isinstance(arn, str) for arn in layers):
            raise invalid("Layers must be a list of layer version ARNs")
        bad = [arn for arn in layers if not _LAYER_RE.fullmatch(arn)]
        if bad:
            raise constraint(
                f"Value '{bad}' at 'layers' failed to satisfy constraint: Member must satisfy "
                f"constraint: [Member must satisfy regular expression pattern: {_LAYER_RE.pattern}]"
            )
        if len(layers) > MAX_LAYERS:
            raise invalid(f"Cannot reference more than {MAX_LAYERS} layers.")
    architectures = params.get("Architectures")
    if architectures is not None and (
        not isinstance(architectures, list)
        or len(architectures) != 1
        or architectures[0] not in _ARCHITECTURES
    ):
        raise constraint(
            f"Value '{architectures}' at 'architectures' failed to satisfy constraint: Member "
            "must have length less than or equal to 1, and each member must satisfy enum value "
            f"set: [{', '.join(_ARCHITECTURES)}]"
        )


def new_config(
    params: dict[str, Any], *, name: str, arn: str, code_size: int, code_sha256: str
) -> dict[str, Any]:
    """The ``$LATEST`` configuration of a function CreateFunction makes."""
    check_settings(params)
    if params.get("PackageType", "Zip") != "Zip":
        raise invalid(
            "PackageType Image is not supported here: container images cannot be fetched; "
            "deploy the function as a zip"
        )
    for field in ("Runtime", "Handler", "Role"):
        if not params.get(field):
            raise invalid(f"{field} is required for a function with a .zip deployment package")
    config: dict[str, Any] = {
        "FunctionName": name,
        "FunctionArn": arn,
        "Runtime": params["Runtime"],
        "Role": params["Role"],
        "Handler": params["Handler"],
        "CodeSize": code_size,
        "Description": params.get("Description", ""),
        "Timeout": params.get("Timeout", DEFAULT_TIMEOUT),
        "MemorySize": params.get("MemorySize", DEFAULT_MEMORY),
        "LastModified": now_text(),
        "CodeSha256": code_sha256,
        "Version": "$LATEST",
        "Environment": check_environment(params.get("Environment")),
        "TracingConfig": {"Mode": "PassThrough"},
        "RevisionId": new_revision(),
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": params.get("Architectures") or ["x86_64"],
        "EphemeralStorage": {"Size": 512},
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"},
    }
    for field in _RECORDED:
        if field in params:
            config[field] = params[field]
    if "LoggingConfig" in params:  # what Lambda fills in of a partial one
        config["LoggingConfig"] = {
            "LogFormat": "Text",
            "LogGroup": f"/aws/lambda/{name}",
            **(params["LoggingConfig"] or {}),
        }
    if params.get("Layers"):
        config["Layers"] = [{"Arn": arn, "CodeSize": 0} for arn in params["Layers"]]
    return config


def updated_config(config: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """``config`` with UpdateFunctionConfiguration's changes applied."""
    check_settings(params)
    out = dict(config)
    for field in _SETTABLE + _RECORDED:
        if field in params:
            out[field] = params[field]
    if "Environment" in params:
        out["Environment"] = check_environment(params["Environment"])
    if "Layers" in params:
        out["Layers"] = [{"Arn": arn, "CodeSize": 0} for arn in params["Layers"] or []]
    out["LastModified"] = now_text()
    out["RevisionId"] = new_revision()
    return out


def unmapped_layers(config: dict[str, Any], mapping: HostMapping | None) -> tuple[str, ...]:
    """The function's layers the server's mapping file names no host packages for (their
    contents are not fetched, so nothing stands for them)."""
    arns = [str(layer.get("Arn")) for layer in config.get("Layers") or []]
    if mapping is None:
        return tuple(arns)
    return tuple(arn for arn in arns if mapping.layer_packages(arn) is None)


def builtin_config(name: str, target: str, arn: str) -> dict[str, Any]:
    """What the API shows of a function the server's configuration defines (read-only)."""
    module, _, func = target.partition(":")
    return {
        "FunctionName": name,
        "FunctionArn": arn,
        "Runtime": "python3.11",
        "Role": "",
        "Handler": f"{module}.{func}",
        "CodeSize": 0,
        "Description": f"builtin function {target} (defined by the server's configuration)",
        "Timeout": 900,
        "MemorySize": DEFAULT_MEMORY,
        "LastModified": "1970-01-01T00:00:00.000+0000",
        "CodeSha256": "",
        "Version": "$LATEST",
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
    }


def same_settings(published: dict[str, Any], latest: dict[str, Any]) -> bool:
    """Whether ``latest`` has nothing ``published`` lacks (PublishVersion publishes none)."""
    ignored = {"Version", "FunctionArn", "RevisionId", "LastModified", "Description"}
    return {k: v for k, v in published.items() if k not in ignored} == {
        k: v for k, v in latest.items() if k not in ignored
    }


def custom_log_group(config: dict[str, Any]) -> str:
    """The function's ``LoggingConfig.LogGroup`` if it is not the default one, else ""."""
    group = str((config.get("LoggingConfig") or {}).get("LogGroup") or "")
    return "" if group == f"/aws/lambda/{config['FunctionName']}" else group
