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

Three sections name what the host must run instead of what it cannot fetch
or run (:class:`HostMapping`; docs/bring-your-own.md)::

    containers:          # task-definition family/container (``*`` globs)
      sfn-dataproc-*/worker:
        image: public.ecr.aws/amazonlinux/amazonlinux:2023   # optional: only for this image
        command: ["${python}", "${mapping_dir}/fargate.py"]   # the whole process, or:
        # entryPoint: ["${python}"]   # replaces only the entry point: the container's command follows
        environment: {PYTHONUNBUFFERED: "1"}                   # optional
    layers:              # layer ARN (``*`` globs) -> the Python packages it stands for
      "arn:aws:lambda:*:layer:AWSSDKPandas-Python312:*": [pandas, numpy]
    runtimes:            # runtime or function name -> a Python stand-in
      java21: {handler: calc.handler, code: ./standins}
"""

from __future__ import annotations

import fnmatch
import importlib.util
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
from montemap.errors import yaml_error_line

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

    def __init__(
        self,
        rules: Mapping[str, Any],
        *,
        where: str = "mapping",
        base_dir: Path | None = None,
    ) -> None:
        self.rules: dict[str, str] = {}
        problems: list[str] = []
        sections = {k: rules[k] for k in HOST_SECTIONS if isinstance(rules.get(k), dict | list)}
        #: What the host runs instead of images, layers and runtimes it cannot have.
        self.host = HostMapping.parse(sections, where=where, base_dir=base_dir or Path.cwd())
        for key, value in rules.items():
            if key in sections:
                continue
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
        if not self.rules and self.host.empty:
            raise AwsError(f"{where}: no mappings")
        ordered = sorted(self.rules, key=lambda k: len(k.rstrip("*")), reverse=True)
        self._keys = ordered
        parts = []
        for index, key in enumerate(ordered):
            literal = re.escape(key.rstrip("*"))
            rest = f"(?P<r{index}>[{_TOKEN}]*)" if key.endswith("*") else ""
            parts.append(f"(?P<k{index}>{literal}{rest})")
        self._pattern: re.Pattern[str] | None = None
        if parts:
            self._pattern = re.compile(rf"(?<![{_TOKEN}])(?:{'|'.join(parts)})(?![{_TOKEN}])")

    @classmethod
    def load(cls, path: str | Path) -> ResourceMapping:
        """Read a mapping file (YAML, or JSON, which is YAML too)."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise AwsError(f"cannot read mapping file {p}: {exc.strerror}")
        except UnicodeDecodeError:
            raise AwsError(f"mapping file {p} is not UTF-8 text (YAML or JSON)") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise AwsError(
                f"mapping file {p} is not valid YAML or JSON: {yaml_error_line(exc)}"
            ) from None
        if not isinstance(data, dict):
            raise AwsError(f"mapping file {p} must hold one object of 'AWS name: local name'")
        return cls(data, where=f"mapping file {p}", base_dir=p.resolve().parent)

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

        if self._pattern is None:
            return text
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


#: The mapping file's sections about the host (the rest are ``AWS value: local value`` rules).
HOST_SECTIONS = ("containers", "layers", "runtimes")
#: Replaced, in a container command and environment, by the mapping file's directory.
MAPPING_DIR = "${mapping_dir}"


@dataclass(frozen=True)
class ContainerRule:
    """Run ``command`` for a container whose image cannot be fetched or run here."""

    pattern: str  # family/container, ``*`` globs
    #: The mapping's ``command`` (the whole process), or its ``entryPoint`` (``keeps_command``).
    command: tuple[str, ...]
    image: str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    #: An ``entryPoint`` rule: the container's own ``command`` follows it, as with
    #: ``docker run --entrypoint``; a ``command`` rule replaces entryPoint + command.
    keeps_command: bool = False

    def argv(self, container_command: list[str]) -> list[str]:
        """The process the mapping runs for a container whose own command is given."""
        return [*self.command, *(container_command if self.keeps_command else [])]

    def describe(self) -> str:
        if self.keeps_command:
            return (
                f"the mapping runs {' '.join(self.command)!r} as the entry point, followed by "
                "the container's command"
            )
        return (
            f"the mapping runs {' '.join(self.command)!r} instead of its image's command "
            "(and the container's entryPoint + command)"
        )


@dataclass(frozen=True)
class StandIn:
    """A Python handler that answers for a function whose runtime the host cannot run."""

    handler: str
    runtime: str = "python3.12"
    code: Path | None = None  # None: the function's own code directory

    def describe(self, runtime: str) -> str:
        where = f" in {self.code}" if self.code else ""
        return f"runtime {runtime} cannot run here: the mapping's stand-in {self.handler}{where} ({self.runtime}) answers"


@dataclass(frozen=True)
class HostMapping:
    """The mapping's ``containers``, ``layers`` and ``runtimes`` sections."""

    containers: tuple[ContainerRule, ...] = ()
    layers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    runtimes: dict[str, StandIn] = field(default_factory=dict)
    where: str = "mapping"

    @property
    def empty(self) -> bool:
        return not (self.containers or self.layers or self.runtimes)

    @classmethod
    def parse(cls, sections: Mapping[str, Any], *, where: str, base_dir: Path) -> HostMapping:
        problems: list[str] = []
        containers = _containers(sections.get("containers") or {}, base_dir, problems)
        layers = _layers(sections.get("layers") or {}, problems)
        runtimes = _runtimes(sections.get("runtimes") or {}, base_dir, problems)
        if problems:
            raise AwsError(f"{where}: " + "; ".join(problems))
        return cls(tuple(containers), layers, runtimes, where)

    def container(self, family: str, name: str, image: str | None) -> ContainerRule | None:
        """The rule for container ``name`` of task-definition ``family`` (the most specific)."""
        found = [
            rule
            for rule in self.containers
            if fnmatch.fnmatchcase(f"{family}/{name}", rule.pattern)
            and (rule.image is None or rule.image == image)
        ]
        found.sort(key=lambda rule: (rule.image is None, -len(rule.pattern.replace("*", ""))))
        return found[0] if found else None

    def layer_problems(self, arns: list[str]) -> list[str]:
        """Why the layers cannot be stood in for here (empty: all good, or not mapped)."""
        problems = []
        for arn in arns:
            packages = self.layer_packages(arn)
            if packages is None:
                continue
            missing = [p for p in packages if not _importable(p)]
            if missing:
                problems.append(
                    f"layer {arn} stands for {', '.join(packages)} ({self.where}), but "
                    f"{', '.join(missing)} cannot be imported on this host: install "
                    f"{'it' if len(missing) == 1 else 'them'} in the server's Python environment"
                )
        return problems

    def layer_packages(self, arn: str) -> tuple[str, ...] | None:
        matches = [k for k in self.layers if fnmatch.fnmatchcase(arn, k)]
        if not matches:
            return None
        return self.layers[max(matches, key=lambda k: len(k.replace("*", "")))]

    def stand_in(self, function: str, runtime: str) -> StandIn | None:
        """The stand-in for ``function`` (by name first, then by its runtime)."""
        for key, stand_in in self.runtimes.items():
            if fnmatch.fnmatchcase(function, key):
                return stand_in
        return self.runtimes.get(runtime)


def _importable(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def _strings(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)


def _containers(section: Any, base_dir: Path, problems: list[str]) -> list[ContainerRule]:
    if not isinstance(section, dict):
        problems.append("containers: must be an object of 'family/container: {command: [...]}'")
        return []
    rules = []
    for key, body in section.items():
        if not isinstance(key, str) or key.count("/") != 1:
            problems.append(f"containers: {key!r} must be 'task-definition family/container name'")
            continue
        given = [k for k in ("command", "entryPoint") if isinstance(body, dict) and k in body]
        if len(given) != 1 or not _strings(body[given[0]]):
            problems.append(
                f"containers: {key}: needs 'command' or else 'entryPoint' (not both), "
                "a list of strings"
            )
            continue
        unknown = sorted(set(body) - {"command", "entryPoint", "image", "environment"})
        env = body.get("environment") or {}
        if unknown or not isinstance(env, dict) or not isinstance(body.get("image", ""), str):
            problems.append(
                f"containers: {key}: only 'command' or 'entryPoint', 'image' (a string) and "
                "'environment' (an object) may be given"
                f"{'; not ' + ', '.join(unknown) if unknown else ''}"
            )
            continue
        here = str(base_dir)
        argv = tuple(arg.replace(MAPPING_DIR, here) for arg in body[given[0]])
        rules.append(
            ContainerRule(
                pattern=key,
                command=argv,
                image=body.get("image") or None,
                environment={str(k): str(v).replace(MAPPING_DIR, here) for k, v in env.items()},
                keeps_command=given[0] == "entryPoint",
            )
        )
    return rules


def _layers(section: Any, problems: list[str]) -> dict[str, tuple[str, ...]]:
    if not isinstance(section, dict):
        problems.append("layers: must be an object of 'layer ARN: [python packages]'")
        return {}
    layers = {}
    for key, packages in section.items():
        if isinstance(packages, str):
            packages = [packages]
        if not isinstance(key, str) or not key.startswith("arn:") or not _strings(packages):
            problems.append(f"layers: {key!r}: a layer ARN and a list of Python package names")
            continue
        layers[key] = tuple(packages)
    return layers


def _runtimes(section: Any, base_dir: Path, problems: list[str]) -> dict[str, StandIn]:
    if not isinstance(section, dict):
        problems.append("runtimes: must be an object of 'runtime or function: {handler: ...}'")
        return {}
    out = {}
    for key, body in section.items():
        if isinstance(body, str):
            body = {"handler": body}
        if not isinstance(body, dict) or not isinstance(body.get("handler"), str):
            problems.append(f"runtimes: {key}: needs 'handler' (module.function, in Python)")
            continue
        runtime = str(body.get("runtime") or "python3.12")
        if not runtime.startswith("python3."):
            problems.append(
                f"runtimes: {key}: a stand-in runs in Python (python3.x), not {runtime}"
            )
            continue
        code = body.get("code")
        folder = (base_dir / str(code)).resolve() if code else None
        if folder is not None and not folder.is_dir():
            problems.append(f"runtimes: {key}: code directory {folder} does not exist")
            continue
        out[str(key)] = StandIn(handler=body["handler"], runtime=runtime, code=folder)
    return out
