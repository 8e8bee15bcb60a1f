"""``montemap workflows``: list the shipped workflows and export them as plain ASL JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from montemap.arns import DEFAULT_ACCOUNT, DEFAULT_REGION, ArnFactory
from montemap.workflows import bindings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "workflows", help="list or export the shipped state machines (ASL JSON)"
    )
    sub = p.add_subparsers(dest="workflows_command", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="the shipped workflows and their placeholders")
    ls.set_defaults(func=list_workflows)
    ex = sub.add_parser(
        "export",
        help="one workflow as ASL JSON, bound to a local server (default) or unbound",
    )
    ex.add_argument(
        "name",
        metavar="NAME",
        choices=sorted(bindings.WORKFLOWS),
        help=f"the workflow: {', '.join(sorted(bindings.WORKFLOWS))}",
    )
    ex.add_argument("--unbound", action="store_true", help="keep the ${Name} resource placeholders")
    ex.add_argument(
        "--region", default=DEFAULT_REGION, help="region of the bound ARNs (default %(default)s)"
    )
    ex.add_argument(
        "--account-id",
        default=DEFAULT_ACCOUNT,
        help="account of the bound ARNs (default %(default)s)",
    )
    ex.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override one binding (e.g. --set ActivityArn=arn:aws:states:...)",
    )
    ex.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")
    ex.set_defaults(func=export)


def list_workflows(args: argparse.Namespace) -> int:
    for name in sorted(bindings.WORKFLOWS):
        names = ", ".join(sorted(bindings.placeholders(bindings.template(name))))
        print(f"{name}  (local state machine {bindings.STATE_MACHINE_NAMES[name]})")
        print(f"    placeholders: {names}")
    return 0


def export(args: argparse.Namespace) -> int:
    text = bindings.template(args.name)
    if not args.unbound:
        values = bindings.local_bindings(ArnFactory(region=args.region, account=args.account_id))
        for item in args.set:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise bindings.BindingError(f"--set {item!r} must be NAME=VALUE")
            values[key] = value
        text = bindings.bind(text, values)
    pretty = json.dumps(json.loads(text), indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(pretty)
    else:
        sys.stdout.write(pretty)
    return 0
