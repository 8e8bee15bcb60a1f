"""A generated stack, its definitions as AWS will run them, and a mapping back to local."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from montemap.aws import Resolver, TemplateOptions, build_template
from montemap.aws.cfn import Template
from montemap.aws.cli import register

ACCOUNT = "111122223333"
REGION = "eu-west-1"
PREFIX = "mm"

#: What a user writes to run the stack's definitions on a default local server.
MAPPING_YAML = f"""\
# the stack's activity -> the credit activity of this server
arn:aws:states:{REGION}:{ACCOUNT}:activity:{PREFIX}-credit: arn:aws:states:us-east-1:123456789012:activity:montemap-credit
# every function of the stack -> the local function of the same name
"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{PREFIX}-*": "*"
{PREFIX}-source-{ACCOUNT}-{REGION}: montemap-source
{PREFIX}-results-{ACCOUNT}-{REGION}: montemap-results
{PREFIX}: default            # the ECS cluster
{PREFIX}-workers: montemap-workers
"""


def stack_template(**options: Any) -> Template:
    return build_template(TemplateOptions(prefix=PREFIX, **options))


def resolver(template: Template | None = None) -> Resolver:
    return Resolver(
        template or stack_template(),
        account=ACCOUNT,
        region=REGION,
        parameters={"ImageTag": "v1"},
    )


def run_aws(*argv: str) -> int:
    """``montemap aws ARGV`` in this process (the lead wires it into ``montemap``)."""
    parser = argparse.ArgumentParser(prog="montemap")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["aws", *argv])
    return int(args.func(args))


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
