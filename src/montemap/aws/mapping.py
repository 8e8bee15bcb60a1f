"""Run a definition written for AWS here: rewrite its AWS names to local ones.

A mapping file (YAML or JSON) is one object of ``AWS value: local value``::

    # activity ARN -> this server's activity
    arn:aws:states:eu-west-1:111122223333:activity:mm-credit: arn:aws:states:us-east-1:123456789012:activity:montemap-credit
    # every function of the stack -> the local function of the same name
    arn:aws:lambda:eu-west-1:111122223333:function:mm-*: "*"
    mm-source-111122223333-eu-west-1: montemap-source     # a bucket

Keys match whole ARNs or names wherever they occur in a string of the
definition (a Resource, a FunctionName, a bucket inside a JSONata
expression): the characters around a match must not be letters, digits or
any of ``_.:/@+=-``. A key ending in ``*`` matches any rest of such a token,
and a ``*`` in its value stands for that rest. The longest key wins.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from montemap.arns import DEFAULT_ACCOUNT, DEFAULT_REGION
from montemap.aws.options import AwsError

_TOKEN = r"A-Za-z0-9_.:/@+=\-"
#: ARNs of resources that live in one account and region (service integrations have neither).
_RESOURCE_ARN = re.compile(
    r"arn:aws[a-z-]*:(?P<service>[a-z0-9-]+):(?P<region>[a-z0-9-]*):(?P<account>\d{12}):"
    rf"[{_TOKEN}]+"
)


@dataclass(frozen=True)
class Bound:
    """A rewritten definition and what the rewriting found."""

    definition: str
    #: How often each mapping key matched.
    matches: dict[str, int]
    #: Keys that matched nothing.
    unused: list[str]
    #: AWS resource ARNs left in the result that this server does not serve.
    unmapped: list[str] = field(default_factory=list)


class ResourceMapping:
    """The rules of one mapping file."""

    def __init__(self, rules: Mapping[str, str], *, where: str = "mapping") -> None:
        self.rules: dict[str, str] = {}
        problems = []
        for key, value in rules.items():
            if not isinstance(key, str) or not key or not isinstance(value, str) or not value:
                problems.append(f"{key!r}: keys and values must be non-empty strings")
                continue
            if "*" in key[:-1] or (key == "*"):
                problems.append(f"{key!r}: '*' may only end a key, after at least one character")
                continue
            if "*" in value and not key.endswith("*"):
                problems.append(f"{key!r}: its value has '*' but the key has none to fill it")
                continue
            if value.count("*") > 1:
                problems.append(f"{key!r}: its value may hold at most one '*'")
                continue
            if re.search(rf"[^{_TOKEN}*]", key):
                problems.append(f"{key!r}: a key is one ARN or name, without spaces or quotes")
                continue
            self.rules[key] = value
        if problems:
            raise AwsError(f"{where}: " + "; ".join(problems))
        if not self.rules:
            raise AwsError(f"{where}: no mappings")
        ordered = sorted(self.rules, key=lambda k: len(k.rstrip("*")), reverse=True)
        self._keys = ordered
        parts = []
        for index, key in enumerate(ordered):
            literal = re.escape(key.rstrip("*"))
            rest = f"(?P<r{index}>[{_TOKEN}]*)" if key.endswith("*") else ""
            parts.append(f"(?P<k{index}>{literal}{rest})")
        self._pattern = re.compile(rf"(?<![{_TOKEN}])(?:{'|'.join(parts)})(?![{_TOKEN}])")

    @classmethod
    def load(cls, path: str | Path) -> ResourceMapping:
        """Read a mapping file (YAML, or JSON, which is YAML too)."""
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as exc:
            raise AwsError(f"cannot read mapping file {p}: {exc.strerror}")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise AwsError(f"mapping file {p} is not valid YAML or JSON: {exc}")
        if not isinstance(data, dict):
            raise AwsError(f"mapping file {p} must hold one object of 'AWS name: local name'")
        return cls(data, where=f"mapping file {p}")

    def rewrite(self, text: str, counts: Counter[str]) -> str:
        """One string with every match replaced (``counts`` tallies the keys)."""

        def replace(m: re.Match[str]) -> str:
            for index, key in enumerate(self._keys):
                if m.group(f"k{index}") is not None:
                    counts[key] += 1
                    value = self.rules[key]
                    if key.endswith("*"):
                        return value.replace("*", m.group(f"r{index}"))
                    return value
            raise AssertionError("a match without a key")  # pragma: no cover

        return self._pattern.sub(replace, text)

    def apply(
        self, definition: str, *, region: str = DEFAULT_REGION, account: str = DEFAULT_ACCOUNT
    ) -> Bound:
        """Rewrite every string value of a JSON definition.

        ``region``/``account`` are the local server's: ARNs of other accounts
        or regions left afterwards are reported in ``unmapped``.
        """
        try:
            data = json.loads(definition)
        except ValueError as exc:
            raise AwsError(f"the definition is not JSON: {exc}")
        counts: Counter[str] = Counter()
        rewritten = self._walk(data, counts)
        leftovers: list[str] = []
        _collect_foreign(rewritten, region, account, leftovers)
        return Bound(
            definition=json.dumps(rewritten, indent=2) + "\n",
            matches={k: counts[k] for k in self.rules},
            unused=[k for k in self.rules if not counts[k]],
            unmapped=sorted(set(leftovers)),
        )

    def _walk(self, node: Any, counts: Counter[str]) -> Any:
        if isinstance(node, str):
            return self.rewrite(node, counts)
        if isinstance(node, list):
            return [self._walk(item, counts) for item in node]
        if isinstance(node, dict):
            return {key: self._walk(value, counts) for key, value in node.items()}
        return node


def _collect_foreign(node: Any, region: str, account: str, out: list[str]) -> None:
    if isinstance(node, str):
        for m in _RESOURCE_ARN.finditer(node):
            if m["service"] != "s3" and (m["region"], m["account"]) != (region, account):
                out.append(m.group(0))
    elif isinstance(node, list):
        for item in node:
            _collect_foreign(item, region, account, out)
    elif isinstance(node, dict):
        for value in node.values():
            _collect_foreign(value, region, account, out)


def stack_mapping(aws: Mapping[str, str], local: Mapping[str, str]) -> dict[str, str]:
    """The mapping from a stack's values to a local server's, binding name by binding name."""
    missing = sorted(set(aws) - set(local))
    if missing:
        raise AwsError(f"no local value for {', '.join(missing)}")
    return {aws[name]: local[name] for name in sorted(aws) if aws[name] != local[name]}
