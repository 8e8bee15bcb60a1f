"""``montemap deploy TEMPLATE``: deploy a CloudFormation template, as ``aws cloudformation deploy``.

Talks to a running server (``--endpoint-url``), or starts an embedded one on
``--data-dir`` for the time of the deployment, as ``montemap run`` does.
Creates a change set, executes it, waits, and prints the stack's outputs;
a failed deployment prints the events that say why and exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from montemap.errors import MontemapError

#: The largest template CloudFormation takes inline; a larger one goes through S3.
MAX_BODY_BYTES = 51_200
#: How long to wait for a stack operation.
WAIT_SECONDS = 3600.0
_POLL = 0.5
#: What CloudFormation accepts as a stack's name.
_STACK_NAME = re.compile(r"[a-zA-Z][-a-zA-Z0-9]{0,127}")


class DeployError(MontemapError):
    """The deployment did not succeed."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "deploy",
        help="deploy a CloudFormation template (YAML or JSON) to a montemap server",
        description=__doc__,
    )
    p.add_argument("template", type=Path, help="the template file")
    p.add_argument("--stack-name", help="default: the template's file name without extension")
    p.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="K=V",
        help="a template parameter value (repeatable)",
    )
    p.add_argument("--endpoint-url", help="a running montemap server (default: start one)")
    p.add_argument(
        "--s3-bucket",
        help="a bucket on the server to upload the template to, as `aws cloudformation deploy` "
        f"needs for a template over {MAX_BODY_BYTES:,} bytes",
    )
    p.add_argument(
        "--data-dir",
        default="montemap-data",
        help="data directory of the embedded server (default: %(default)s)",
    )
    p.set_defaults(func=run)


def parse_parameters(items: list[str]) -> list[dict[str, str]]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise DeployError(f"--parameter {item!r} must be KEY=VALUE")
        out.append({"ParameterKey": key, "ParameterValue": value})
    return out


@contextlib.contextmanager
def _endpoint(args: argparse.Namespace) -> Iterator[str]:
    if args.endpoint_url:
        yield str(args.endpoint_url)
        return
    from montemap.workflows.embedded import EmbeddedServer

    server = EmbeddedServer(Path(args.data_dir))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def _client(endpoint: str, service: str = "cloudformation", *, own_server: bool = False) -> Any:
    """A client of ``endpoint`` signing as the AWS CLI would; ``own_server``: an embedded
    server's, with the built-in pair (:mod:`montemap.workflows.signing`)."""
    from botocore.config import Config

    from montemap.workflows import signing

    return signing.session(own_server=own_server).client(
        service, endpoint_url=endpoint, config=Config(retries={"max_attempts": 2})
    )


@contextlib.contextmanager
def _answers_of(endpoint: str) -> Iterator[None]:
    """A server that cannot be reached, or refuses a call (these keys, a stack name...):
    one line naming the server and the call, not a bug report."""
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

    from montemap.workflows import signing

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "?")
        message = str(error.get("Message") or "").strip()
        if message.startswith("<") or not message:
            message = "not a CloudFormation answer: is this a montemap server?"
        raise DeployError(
            f"the server at {endpoint} refused {exc.operation_name} ({code}): "
            + (signing.refusal(code) or message.splitlines()[0][:300])
        ) from None
    except EndpointConnectionError as exc:
        raise DeployError(f"cannot reach the montemap server at {endpoint}: {exc}") from None
    except BotoCoreError as exc:
        raise DeployError(f"lost the montemap server at {endpoint}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    try:
        text = args.template.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DeployError(f"template {args.template} is not UTF-8 text (YAML or JSON)") from None
    name = args.stack_name or args.template.stem
    if not args.stack_name and not _STACK_NAME.fullmatch(name):
        raise DeployError(
            f"the template's file name {name!r} is not a stack name (a letter, then letters, "
            "digits and hyphens, at most 128): give one with --stack-name"
        )
    from montemap.workflows import signing

    if args.endpoint_url and not signing.is_server_url(args.endpoint_url):
        raise DeployError(
            f"--endpoint-url {args.endpoint_url!r} must be the server's http:// or https:// "
            "URL, e.g. http://127.0.0.1:8083"
        )
    params = parse_parameters(args.parameter)
    large = len(text.encode("utf-8")) > MAX_BODY_BYTES
    if large and not args.s3_bucket:
        raise DeployError(
            f"Templates with a size greater than {MAX_BODY_BYTES:,} bytes must be deployed via "
            "an S3 Bucket. Please add the --s3-bucket parameter to your command."
        )
    own_server = not args.endpoint_url
    with _endpoint(args) as endpoint, _answers_of(endpoint):
        source = {"TemplateBody": text}
        if large:
            source = {"TemplateURL": _upload(endpoint, str(args.s3_bucket), name, text, own_server)}
        return deploy(_client(endpoint, own_server=own_server), name, source, params)


def _upload(endpoint: str, bucket: str, name: str, text: str, own_server: bool) -> str:
    """Put the template in ``bucket`` on the server; its URL for TemplateURL."""
    import hashlib

    from botocore.exceptions import ClientError

    from montemap.workflows import signing

    key = f"montemap-deploy/{name}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]}.template"
    try:
        _client(endpoint, "s3", own_server=own_server).put_object(
            Bucket=bucket, Key=key, Body=text.encode("utf-8")
        )
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise DeployError(
            f"the template could not be uploaded to s3://{bucket}/{key}: "
            + (signing.refusal(str(error.get("Code"))) or str(error.get("Message", exc)))
        ) from None
    return f"s3://{bucket}/{key}"


def _exists(cfn: Any, name: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return False
        raise
    return bool(stack["StackStatus"] != "REVIEW_IN_PROGRESS")


def deploy(cfn: Any, name: str, source: dict[str, str], params: list[dict[str, str]]) -> int:
    """Create and execute a change set for stack ``name`` from ``source`` (``TemplateBody`` or
    ``TemplateURL``); 0 when it deployed (or had no changes)."""
    from botocore.exceptions import ClientError

    change_type = "UPDATE" if _exists(cfn, name) else "CREATE"
    try:
        change_set = cfn.create_change_set(
            StackName=name,
            **source,
            Parameters=params,
            ChangeSetName=f"montemap-deploy-{uuid.uuid4().hex[:12]}",
            ChangeSetType=change_type,
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
    except ClientError as exc:  # bad parameters, a stack that is busy...: refused at once
        message = str(exc.response.get("Error", {}).get("Message", exc))
        if "ROLLBACK_COMPLETE state" in message:  # a failed creation: only deleted
            message += (
                " A stack whose creation failed can only be deleted: delete it "
                f"(aws cloudformation delete-stack --stack-name {name}), then deploy again."
            )
        raise DeployError(f"the change set for stack {name} was refused: {message}") from None
    described = cfn.describe_change_set(ChangeSetName=change_set["Id"], StackName=name)
    if described["Status"] == "FAILED":
        reason = described.get("StatusReason", "")
        if "didn't contain changes" in reason:
            print(f"No changes to deploy. Stack {name} is up to date")
            return 0
        raise DeployError(f"the change set for stack {name} failed: {reason}")
    cfn.execute_change_set(ChangeSetName=change_set["Id"], StackName=name)
    stack = _wait(cfn, name)
    if stack["StackStatus"] not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        reasons = _failure_reasons(cfn.describe_stack_events(StackName=name)["StackEvents"])
        raise DeployError(
            f"stack {name} ended {stack['StackStatus']}:\n"
            + "\n".join(reasons or ["  (no reason)"])
        )
    print(f"Successfully created/updated stack - {name}")
    for output in stack.get("Outputs", []):
        print(f"{output['OutputKey']}\t{output['OutputValue']}")
    return 0


def _failure_reasons(newest_first: list[dict[str, Any]]) -> list[str]:
    """Why the last operation failed, oldest first: its resources' ``*_FAILED`` reasons,
    else the reason the stack itself gave for rolling back (an output that did not
    resolve, an export in use...)."""
    operation: list[dict[str, Any]] = []
    for event in newest_first:  # back to the event that began the last operation
        operation.append(event)
        if (
            event.get("ResourceType") == "AWS::CloudFormation::Stack"
            and event.get("ResourceStatusReason") == "User Initiated"
            and event.get("PhysicalResourceId") == event.get("StackId")
        ):
            break
    operation.reverse()

    def shown(event: dict[str, Any]) -> str:
        return (
            f"  {event['LogicalResourceId']}: {event['ResourceStatus']}: "
            f"{event['ResourceStatusReason']}"
        )

    failed = [
        e
        for e in operation
        if e.get("ResourceStatusReason") and e["ResourceStatus"].endswith("FAILED")
    ]
    if failed:
        return [shown(e) for e in failed]
    return [
        shown(e)
        for e in operation
        if e.get("ResourceStatusReason") and "ROLLBACK_IN_PROGRESS" in e["ResourceStatus"]
    ]


def _wait(cfn: Any, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        stack: dict[str, Any] = cfn.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("IN_PROGRESS"):
            return stack
        if time.monotonic() > deadline:
            raise DeployError(f"stack {name} is still {stack['StackStatus']}")
        time.sleep(_POLL)
