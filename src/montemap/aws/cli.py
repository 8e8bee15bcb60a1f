"""``montemap aws``: deploy the same workflows to AWS, or run AWS definitions here.

montemap aws template [--prefix P] [--bucket-source B --bucket-results B]
                      [--subnets ID.. --security-groups ID.. [--assign-public-ip]]
                      [--output FILE]
montemap aws definition TEMPLATE WORKFLOW --account-id A --region R [--output FILE]
montemap aws mapping TEMPLATE --account-id A --region R [--output FILE]
montemap aws bind DEFINITION --mapping FILE [--output FILE] [--strict]
                  [--create NAME --endpoint URL]
montemap aws collect EXECUTION_ARN [--prefix P | --cluster C --service S]
                     [--data-dir DIR] [--endpoint URL]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from montemap import option_types
from montemap.arns import DEFAULT_ACCOUNT, DEFAULT_REGION, Arn, ArnFactory
from montemap.asl.definition import validate_definition
from montemap.asl.validate_base import ERROR
from montemap.aws.cfn import dump_yaml, load_yaml
from montemap.aws.mapping import Bound, ResourceMapping, stack_mapping
from montemap.aws.options import DEFAULT_PREFIX, AwsError, TemplateOptions, split_ids
from montemap.aws.resolve import Resolver, aws_definitions, aws_values
from montemap.aws.template import build_template
from montemap.workflows import bindings, pricing
from montemap.workflows.data_dir_default import DATA_DIR_HELP, default_data_dir


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "aws",
        help="deploy the workflows to AWS (CloudFormation), or bind AWS definitions to this machine",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    sub = p.add_subparsers(dest="aws_command", metavar="ACTION", required=True)

    t = sub.add_parser("template", help="write the CloudFormation template (YAML)")
    t.add_argument(
        "--prefix", default=DEFAULT_PREFIX, help="start of every name (default: %(default)s)"
    )
    t.add_argument("--bucket-source", metavar="BUCKET", help="use this existing source bucket")
    t.add_argument("--bucket-results", metavar="BUCKET", help="use this existing results bucket")
    t.add_argument("--subnets", nargs="+", metavar="ID", help="run workers in these subnets")
    t.add_argument("--security-groups", nargs="+", metavar="ID", help="with these groups")
    t.add_argument(
        "--assign-public-ip",
        action="store_true",
        help="give workers public IPs (subnets routed to an internet gateway, no NAT)",
    )
    t.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")
    t.set_defaults(func=template_command)

    for name, helptext in (
        ("definition", "one workflow's definition exactly as the stack will run it"),
        ("mapping", "a mapping file that binds the stack's definitions to a local server"),
    ):
        d = sub.add_parser(name, help=helptext)
        d.add_argument(
            "template", metavar="TEMPLATE", help="file written by 'montemap aws template'"
        )
        if name == "definition":
            d.add_argument("workflow", metavar="WORKFLOW", choices=sorted(bindings.WORKFLOWS))
        d.add_argument("--account-id", required=True, help="the AWS account (12 digits)")
        d.add_argument("--region", required=True, help="the AWS region, e.g. eu-west-1")
        if name == "mapping":
            d.add_argument("--local-region", default=DEFAULT_REGION)
            d.add_argument("--local-account-id", default=DEFAULT_ACCOUNT)
        d.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")
        d.set_defaults(func=definition_command if name == "definition" else mapping_command)

    b = sub.add_parser("bind", help="rewrite an AWS definition's ARNs and names to local ones")
    b.add_argument("definition", metavar="DEFINITION", help="ASL JSON file written for AWS")
    b.add_argument(
        "--mapping", required=True, metavar="FILE", help="YAML/JSON: AWS name: local name"
    )
    b.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")
    b.add_argument("--region", default=DEFAULT_REGION, help="the local server's region")
    b.add_argument("--account-id", default=DEFAULT_ACCOUNT, help="the local server's account")
    b.add_argument(
        "--strict", action="store_true", help="fail when AWS resources are left unmapped"
    )
    b.add_argument(
        "--create", metavar="NAME", help="create or update state machine NAME on a server"
    )
    b.add_argument("--endpoint", metavar="URL", help="the montemap server for --create")
    b.set_defaults(func=bind_command)

    c = sub.add_parser(
        "collect", help="record a finished execution's time and cost for 'montemap compare'"
    )
    c.add_argument("execution_arn", metavar="EXECUTION_ARN")
    c.add_argument(
        "--prefix",
        default=DEFAULT_PREFIX,
        help="the stack's prefix: workers are service PREFIX-workers in cluster PREFIX "
        "(default: %(default)s)",
    )
    c.add_argument("--cluster", help="ECS cluster of the workers (default: PREFIX)")
    c.add_argument("--service", help="ECS service of the workers (default: PREFIX-workers)")
    c.add_argument("--data-dir", default=default_data_dir(), help=DATA_DIR_HELP)
    c.add_argument("--endpoint", metavar="URL", help="a montemap server instead of AWS")
    c.add_argument("--price-vcpu-hour", type=option_types.number, default=pricing.SPOT_VCPU_HOUR)
    c.add_argument("--price-gb-hour", type=option_types.number, default=pricing.SPOT_GB_HOUR)
    c.set_defaults(func=collect_command)


def _write(text: str, output: str | None) -> None:
    if not output:
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text)
    except OSError as exc:
        raise AwsError(f"cannot write {output}: {exc.strerror}")


def _read(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise AwsError(f"cannot read {what} {path}: {exc.strerror}")
    except UnicodeDecodeError as exc:
        raise AwsError(f"{what} {path} is not UTF-8 text: byte {exc.start} cannot be decoded")


def template_command(args: argparse.Namespace) -> int:
    options = TemplateOptions(
        prefix=args.prefix,
        source_bucket=args.bucket_source,
        results_bucket=args.bucket_results,
        subnets=split_ids(args.subnets),
        security_groups=split_ids(args.security_groups),
        assign_public_ip=args.assign_public_ip,
    )
    _write(dump_yaml(build_template(options)), args.output)
    return 0


def _resolver(args: argparse.Namespace) -> Resolver:
    try:
        template = load_yaml(_read(args.template, "template"))
    except ValueError as exc:
        raise AwsError(f"template {args.template}: {exc}")
    # the image is not part of any definition; any valid tag will do
    return Resolver(
        template, account=args.account_id, region=args.region, parameters={"ImageTag": "any"}
    )


def definition_command(args: argparse.Namespace) -> int:
    text = aws_definitions(_resolver(args))[args.workflow]
    errors = [d for d in validate_definition(json.loads(text)) if d.severity == ERROR]
    if errors:
        raise AwsError(
            "the definition does not validate: "
            + "; ".join(f"{d.code} at {d.location}: {d.message}" for d in errors)
        )
    _write(text + "\n", args.output)
    return 0


def mapping_command(args: argparse.Namespace) -> int:
    aws = aws_values(_resolver(args))
    local = bindings.local_bindings(
        ArnFactory(region=args.local_region, account=args.local_account_id)
    )
    rules = stack_mapping(aws, local)
    header = (
        f"# montemap aws mapping: stack {args.template} in {args.account_id}/{args.region}"
        f" -> a local server ({args.local_account_id}/{args.local_region})\n"
    )
    _write(header + json.dumps(rules, indent=2) + "\n", args.output)
    return 0


def bind_command(args: argparse.Namespace) -> int:
    if bool(args.create) != bool(args.endpoint):
        raise AwsError("--create and --endpoint go together")
    mapping = ResourceMapping.load(args.mapping)
    bound = mapping.apply(
        _read(args.definition, "definition"), region=args.region, account=args.account_id
    )
    for key in bound.unused:
        print(f"montemap aws bind: warning: {key!r} matched nothing", file=sys.stderr)
    if bound.unmapped:
        message = "AWS resources left unmapped: " + ", ".join(bound.unmapped)
        if args.strict:
            raise AwsError(message)
        print(f"montemap aws bind: warning: {message}", file=sys.stderr)
    if args.create:
        arn = create_state_machine(bound, args.create, args.endpoint)
        print(arn)
        if args.output:
            _write(bound.definition, args.output)
        return 0
    _write(bound.definition, args.output)
    return 0


def create_state_machine(bound: Bound, name: str, endpoint: str) -> str:
    """Create (or update) ``name`` on a montemap server with the bound definition.

    The activities the definition names are created too (CreateActivity is
    idempotent); one that would get another ARN on this server is an error.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from montemap.workflows.client import ROLE_ARN, Clients

    sfn = Clients.for_endpoint(endpoint).sfn
    try:
        for activity in _activities(bound.definition):
            parsed = Arn.parse(activity)
            assert parsed is not None
            created = sfn.create_activity(name=parsed.parts[0])["activityArn"]
            if created != activity:
                raise AwsError(
                    f"activity {activity} cannot exist on {endpoint} (it would be {created})"
                )
        machines = sfn.list_state_machines()["stateMachines"]
        existing = [m["stateMachineArn"] for m in machines if m["name"] == name]
        if existing:
            sfn.update_state_machine(stateMachineArn=existing[0], definition=bound.definition)
            return str(existing[0])
        response = sfn.create_state_machine(
            name=name, definition=bound.definition, roleArn=ROLE_ARN
        )
        return str(response["stateMachineArn"])
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise AwsError(f"{endpoint}: {error.get('Code')}: {error.get('Message')}")
    except BotoCoreError as exc:
        raise AwsError(f"{endpoint}: {exc}")
    finally:
        sfn.close()


def _activities(definition: str) -> list[str]:
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            resource = node.get("Resource")
            if node.get("Type") == "Task" and isinstance(resource, str):
                parsed = Arn.parse(resource)
                if parsed is not None and parsed.kind == "activity" and resource not in found:
                    found.append(resource)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(json.loads(definition))
    return found


def collect_command(args: argparse.Namespace) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from montemap.aws.collect import collect_run, write_run
    from montemap.storage import open_store
    from montemap.workflows.client import Clients

    parsed = Arn.parse(args.execution_arn)
    if parsed is None or parsed.kind != "execution":
        raise AwsError(f"{args.execution_arn!r} is not an execution ARN")
    if args.price_vcpu_hour < 0 or args.price_gb_hour < 0:
        raise AwsError("--price-vcpu-hour and --price-gb-hour must not be negative")
    if args.endpoint:
        clients = Clients.for_endpoint(args.endpoint)
        sfn, ecs = clients.sfn, clients.ecs
    else:
        session = boto3.session.Session(region_name=parsed.region)
        sfn, ecs = session.client("stepfunctions"), session.client("ecs")
    try:
        record = collect_run(
            sfn,
            ecs,
            args.execution_arn,
            cluster=args.cluster or args.prefix,
            service=args.service or f"{args.prefix}-workers",
            open_s3=lambda: open_store(f"s3://?region={parsed.region}"),
            vcpu_hour=args.price_vcpu_hour,
            gb_hour=args.price_gb_hour,
            server=args.endpoint or f"aws {parsed.region}",
        )
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise AwsError(f"{error.get('Code')}: {error.get('Message')}")
    except BotoCoreError as exc:
        raise AwsError(str(exc))
    finally:
        sfn.close()
        ecs.close()
    path = write_run(record, Path(args.data_dir))
    cost = record["cost"]
    print(
        f"{record['name']}: {record['status']} in {record['duration_seconds']:.1f} s, "
        f"{record['workers']} worker task(s), ${cost['usd']:.4f} on Fargate Spot -> {path}"
    )
    return 0
