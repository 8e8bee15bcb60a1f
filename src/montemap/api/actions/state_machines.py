"""State machine actions: create, describe, update, delete, list, validate."""

from __future__ import annotations

import re
from typing import Any

from montemap.api import paging, shapes
from montemap.api.actions.base import (
    Context,
    Params,
    Result,
    action,
    check_encryption,
    check_name,
    check_tag_count,
    parse_local_arn,
    tags_from,
)
from montemap.api.protocol import (
    JsonRefused,
    check_value,
    strict_loads,
    validation_error,
)
from montemap.api.registry import (
    DEFAULT_LOGGING,
    DEFAULT_TRACING,
    NewStateMachine,
    StateMachine,
    StateMachineVersion,
)
from montemap.asl.definition import (
    format_invalid_definition,
    load_definition,
    validate_definition,
)
from montemap.asl.validate_base import ERROR, INVALID_JSON_DESCRIPTION
from montemap.asl.validate_express import express_diagnostics
from montemap.errors import ApiError, DefinitionError, Diagnostic

_ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")

#: ValidateStateMachineDefinition's page of diagnostics (default and maximum).
MAX_DIAGNOSTICS = 100


def does_not_exist(arn: str) -> ApiError:
    return ApiError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'")


def check_role_arn(role_arn: str) -> None:
    if not role_arn.startswith("arn:"):
        raise ApiError("InvalidArn", f"Invalid Arn: 'Invalid ARN prefix: {role_arn}'")
    if not _ROLE_ARN_RE.match(role_arn):
        raise ApiError("InvalidArn", f"Invalid Arn: 'Invalid role ARN: {role_arn}'")


def check_definition_text(definition: str, state_machine_type: str = "STANDARD") -> None:
    """``InvalidDefinition`` with AWS's message for a definition that does not validate
    (as a state machine of ``state_machine_type``)."""
    found = _diagnostics(definition, state_machine_type)
    diagnostics = [d for d in found if d.severity == ERROR]
    if diagnostics:
        raise ApiError("InvalidDefinition", format_invalid_definition(diagnostics))


def _load(definition: str) -> dict[str, Any]:
    """The definition parsed, refused (``DefinitionError``) where montemap could not
    store or run it: text that is not JSON (the API takes Amazon States Language as
    JSON, as AWS's does: a YAML definition is refused, not stored to fail every start),
    and what :func:`montemap.api.protocol.strict_loads` refuses in JSON."""
    try:
        if definition.strip():
            strict_loads(definition)
        loaded = load_definition(definition)
        check_value(loaded)
    except JsonRefused as exc:
        raise _json_error(str(exc)) from None
    return loaded


def _json_error(message: str) -> DefinitionError:
    return DefinitionError([Diagnostic(INVALID_JSON_DESCRIPTION, message, "", ERROR)])


def logging_configuration(params: Params) -> dict[str, Any] | None:
    """The request's loggingConfiguration with AWS's defaults filled in, if given."""
    given = params.get("loggingConfiguration")
    if given is None:
        return None
    config: dict[str, Any] = {**DEFAULT_LOGGING, **given}
    destinations = config.get("destinations") or []
    if config["level"] != "OFF" and len(destinations) != 1:
        raise ApiError(
            "InvalidLoggingConfiguration",
            "Invalid Logging Configuration: Must specify exactly one Log Destination "
            "if logging level is not OFF.",
        )
    if not destinations:
        config.pop("destinations", None)
    return config


def tracing_configuration(params: Params) -> dict[str, Any] | None:
    given = params.get("tracingConfiguration")
    return None if given is None else {**DEFAULT_TRACING, **given}


def refuse_map_state_arn(ctx: Context, arn_text: str) -> None:
    """A Distributed Map state's ARN (``stateMachine:<machine>/<label>``) where a state
    machine, version or alias is expected: ``ValidationException``, as AWS documents."""
    owner, slash, label = arn_text.partition("/")
    if slash and label and ":" not in label and ":stateMachine:" in owner:
        parse_local_arn(ctx, owner, "stateMachine")  # InvalidArn if the rest is malformed
        raise validation_error(
            f"'{arn_text}' refers to a Distributed Map state, not a state machine, "
            "a version or an alias"
        )


def resolve(ctx: Context, arn_text: str) -> StateMachine | StateMachineVersion:
    """The state machine or published version an ARN names, else StateMachineDoesNotExist
    (a Distributed Map state's ARN: see :func:`refuse_map_state_arn`)."""
    refuse_map_state_arn(ctx, arn_text)
    arn = parse_local_arn(ctx, arn_text, "stateMachine")
    found: StateMachine | StateMachineVersion | None = None
    if len(arn.parts) == 1:
        found = ctx.registry.get_state_machine(arn_text)
    elif arn.parts[1].isdigit():
        found = ctx.registry.get_version(arn_text)
    if found is None:
        raise does_not_exist(arn_text)
    return found


def resolve_machine(ctx: Context, arn_text: str) -> StateMachine:
    """A state machine itself (not a version), else StateMachineDoesNotExist."""
    found = resolve(ctx, arn_text)
    if not isinstance(found, StateMachine):
        raise validation_error(
            f"'{arn_text}' is a state machine version; this action needs the state machine ARN"
        )
    return found


def _same_request(existing: StateMachine, new: NewStateMachine) -> bool:
    """AWS's idempotency check: roleArn and tags do not count."""
    return (
        existing.definition == new.definition
        and existing.type == new.type
        and existing.logging_configuration == new.logging_configuration
        and existing.tracing_configuration == new.tracing_configuration
        and existing.encryption_configuration == new.encryption_configuration
        and existing.publish == new.publish
        and existing.version_description == new.version_description
    )


def _created(machine: StateMachine, version: StateMachineVersion | None) -> Result:
    result: Result = {"stateMachineArn": machine.arn, "creationDate": machine.creation_date}
    if version is not None:
        result["stateMachineVersionArn"] = version.arn
    return result


def _check_version_description(params: Params) -> None:
    if params.get("versionDescription") is not None and not params.get("publish"):
        raise validation_error("Version description can only be set when publish is true")


@action("CreateStateMachine")
async def create_state_machine(ctx: Context, params: Params) -> Result:
    name: str = params["name"]
    check_name(name)
    check_role_arn(params["roleArn"])
    _check_version_description(params)
    check_encryption(params.get("encryptionConfiguration"))
    new = NewStateMachine(
        name=name,
        definition=ctx.bind_definition(params["definition"]),
        role_arn=params["roleArn"],
        type=params.get("type", "STANDARD"),
        logging_configuration=logging_configuration(params) or dict(DEFAULT_LOGGING),
        tracing_configuration=tracing_configuration(params) or dict(DEFAULT_TRACING),
        encryption_configuration=params.get("encryptionConfiguration"),
        publish=bool(params.get("publish", False)),
        version_description=params.get("versionDescription"),
    )
    check_definition_text(new.definition, new.type)
    existing = ctx.registry.get_state_machine_by_name(name)
    if existing is not None:
        if not _same_request(existing, new):
            raise ApiError(
                "StateMachineAlreadyExists", f"State Machine Already Exists: '{existing.arn}'"
            )
        version = ctx.registry.latest_version(existing.arn) if existing.publish else None
        return _created(existing, version)
    tags = tags_from(params)
    check_tag_count(ctx.arns.state_machine(name), len(tags))
    machine, version = ctx.registry.insert_state_machine(new, tags=tags)
    return _created(machine, version)


@action("DescribeStateMachine")
async def describe_state_machine(ctx: Context, params: Params) -> Result:
    include_definition = params.get("includedData", "ALL_DATA") == "ALL_DATA"
    found = resolve(ctx, params["stateMachineArn"])
    if isinstance(found, StateMachineVersion):
        machine = ctx.registry.get_state_machine(found.state_machine_arn)
        assert machine is not None  # versions are deleted with their state machine
        return shapes.state_machine_version(found, machine, include_definition=include_definition)
    return shapes.state_machine(found, include_definition=include_definition)


@action("UpdateStateMachine")
async def update_state_machine(ctx: Context, params: Params) -> Result:
    arn = params["stateMachineArn"]
    machine = resolve_machine(ctx, arn)
    changes = ("definition", "roleArn", "loggingConfiguration", "tracingConfiguration")
    if all(params.get(member) is None for member in changes):
        raise ApiError(
            "MissingRequiredParameter",
            "Either the definition, the role ARN, the LoggingConfiguration, "
            "or the TracingConfiguration must be specified",
        )
    _check_version_description(params)
    check_encryption(params.get("encryptionConfiguration"))
    definition = params.get("definition")
    if definition is not None:
        definition = ctx.bind_definition(definition)
        check_definition_text(definition, machine.type)
    role_arn = params.get("roleArn")
    if role_arn is not None:
        check_role_arn(role_arn)
    updated = ctx.registry.update_state_machine(
        machine.arn,
        definition=definition,
        role_arn=role_arn,
        logging_configuration=logging_configuration(params),
        tracing_configuration=tracing_configuration(params),
        encryption_configuration=params.get("encryptionConfiguration"),
    )
    result: Result = {"updateDate": updated.update_date, "revisionId": updated.revision_id}
    if params.get("publish"):
        version = ctx.registry.publish(updated, params.get("versionDescription"))
        result["stateMachineVersionArn"] = version.arn
    return result


@action("DeleteStateMachine")
async def delete_state_machine(ctx: Context, params: Params) -> Result:
    arn_text = params["stateMachineArn"]
    arn = parse_local_arn(ctx, arn_text, "stateMachine")
    if len(arn.parts) != 1:
        raise validation_error(
            f"'{arn_text}' is not a state machine ARN; state machine versions and aliases "
            "are not deleted with DeleteStateMachine"
        )
    ctx.registry.delete_state_machine(arn_text)
    return {}


@action("ListStateMachines")
async def list_state_machines(ctx: Context, params: Params) -> Result:
    page, token = paging.paginate(
        ctx.registry.list_state_machines(),
        lambda machine: machine.name,
        listing="ListStateMachines",
        max_results=params.get("maxResults"),
        next_token=params.get("nextToken"),
    )
    return paging.listed("stateMachines", [shapes.state_machine_item(m) for m in page], token)


def _diagnostics(definition: str, state_machine_type: str = "STANDARD") -> list[Diagnostic]:
    try:
        loaded = _load(definition)
    except DefinitionError as exc:
        return exc.diagnostics
    diagnostics = validate_definition(loaded)
    if not any(d.severity == ERROR for d in diagnostics):
        diagnostics += express_diagnostics(loaded, state_machine_type)
    return diagnostics


@action("ValidateStateMachineDefinition")
async def validate_state_machine_definition(ctx: Context, params: Params) -> Result:
    diagnostics = _diagnostics(params["definition"], params.get("type", "STANDARD"))
    if params.get("severity", "ERROR") == "ERROR":
        diagnostics = [d for d in diagnostics if d.severity == "ERROR"]
    limit = params.get("maxResults") or MAX_DIAGNOSTICS
    failed = any(d.severity == "ERROR" for d in diagnostics)
    shown = diagnostics[:limit]
    return {
        "result": "FAIL" if failed else "OK",
        "diagnostics": [
            {
                "severity": d.severity,
                "code": d.code,
                "message": d.message,
                **({"location": d.location} if d.location else {}),
            }
            for d in shown
        ],
        "truncated": len(diagnostics) > len(shown),
    }


#: The most versions a state machine may have (AWS's quota).
MAX_VERSIONS = 1000


@action("PublishStateMachineVersion")
async def publish_state_machine_version(ctx: Context, params: Params) -> Result:
    """Publish the current revision; idempotent: a revision already published
    answers with its version. ``revisionId`` (``INITIAL`` for a state machine never
    updated) must name the current revision, else ``ConflictException``."""
    machine = resolve_machine(ctx, params["stateMachineArn"])
    wanted = params.get("revisionId")
    if wanted is not None:
        current = machine.revision_id or "INITIAL"
        if wanted != current:
            raise ApiError(
                "ConflictException",
                f"Failed to publish the State Machine version for revision {wanted}. "
                f"The current State Machine revision is {current}.",
            )
    version = ctx.registry.version_of_revision(machine)
    if version is None:
        if len(ctx.registry.list_versions(machine.arn)) >= MAX_VERSIONS:
            raise ApiError(
                "ServiceQuotaExceededException",
                f"The maximum number of versions ({MAX_VERSIONS}) for state machine "
                f"'{machine.arn}' has been reached.",
            )
        version = ctx.registry.publish(machine, params.get("description"))
    return {"creationDate": version.creation_date, "stateMachineVersionArn": version.arn}


@action("ListStateMachineVersions")
async def list_state_machine_versions(ctx: Context, params: Params) -> Result:
    machine = resolve_machine(ctx, params["stateMachineArn"])
    page, token = paging.paginate(
        ctx.registry.list_versions(machine.arn),
        lambda version: f"{2**31 - version.version:010d}",  # newest first
        listing="ListStateMachineVersions",
        max_results=params.get("maxResults"),
        next_token=params.get("nextToken"),
    )
    return paging.listed(
        "stateMachineVersions",
        [{"stateMachineVersionArn": v.arn, "creationDate": v.creation_date} for v in page],
        token,
    )


@action("DeleteStateMachineVersion")
async def delete_state_machine_version(ctx: Context, params: Params) -> Result:
    """Delete one version (a version already gone is no error, as on AWS); running
    executions of it go on."""
    arn_text = params["stateMachineVersionArn"]
    arn = parse_local_arn(ctx, arn_text, "stateMachine")
    if len(arn.parts) != 2 or not arn.parts[1].isdigit():
        raise validation_error(f"'{arn_text}' is not a state machine version ARN")
    routed = ctx.registry.aliases_routing_to(arn_text)
    if routed:
        raise ApiError(
            "ConflictException",
            f"Version to be deleted must not be referenced by an alias. "
            f"Current list of aliases referencing this version: "
            f"[{', '.join(alias.name for alias in routed)}]",
        )
    ctx.registry.delete_version(arn_text)
    return {}
