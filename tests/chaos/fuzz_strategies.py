"""Hypothesis strategies for the protocol fuzzer (``test_fuzz_protocols.py``).

Requests are drawn from botocore's service models: every member of an
operation's input shape gets a value that fits its shape (lengths, ranges,
enums, ARNs of resources that exist) or, now and then, one that does not
(the wrong JSON type, a hostile string, an ARN of another region or
account). Whole bodies can be hostile too: 100,000-deep JSON, ``NaN`` as a
literal, a 5,000-digit integer, invalid UTF-8, a lone surrogate in raw bytes.

State machine definitions are small ones that always end (Pass, Wait 0,
Succeed, Fail), so an execution the server accepted must reach a terminal
status: the fuzzer checks that it does.
"""

from __future__ import annotations

import functools
import json
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape
from hypothesis import strategies as st

from montemap.ecs.ecs_api import ACTIONS as ECS_ACTIONS

ACCOUNT = "123456789012"
REGION = "us-east-1"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/montemap-fuzz"

#: Strings that are valid JSON text (``"\ud800"`` escapes) but not valid Unicode.
LONE_SURROGATES = ("\ud800", "a\udfffb", "\udc00\ud800", "x" * 40 + "\udbff")

#: Strings that have broken parsers, path handling, templating and storage before.
HOSTILE_STRINGS = (
    "",
    " ",
    "\x00",
    "a\x00b",
    "\u2028\u2029",
    "\ufeff",
    "😀" * 50,
    "n" * 81,
    "n" * 10_000,
    "../../etc/passwd",
    "%s%n%x",
    "{% $states.input %}",
    "$.a[?(@.b)]",
    "States.Format('{}', $)",
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "9" * 5_000,
    "null",
    "'; DROP TABLE executions; --",
    "<script>alert(1)</script>",
)

#: ARNs that are well-formed elsewhere but name nothing here, and ARNs that are not ARNs.
BAD_ARNS = (
    "arn:aws:states:eu-west-1:123456789012:stateMachine:other-region",
    "arn:aws:states:us-east-1:999999999999:stateMachine:other-account",
    "arn:aws:states:us-east-1:123456789012:execution:nope:nope",
    "arn:aws:states:us-east-1:123456789012:activity:nope",
    "arn:aws:states:us-east-1:123456789012:stateMachine:nope:1",
    "arn:aws:states:us-east-1:123456789012:mapRun:nope/x:y",
    "arn:aws-cn:states:cn-north-1:123456789012:stateMachine:partition",
    "arn:aws:ecs:us-east-1:123456789012:cluster/nope",
    "arn:aws:ecs:eu-west-1:123456789012:service/default/nope",
    "arn:aws:ecs:us-east-1:123456789012:task-definition/nope:1",
    "arn:aws:states:us-east-1:123456789012:stateMachine:",
    "arn:aws:states:::stateMachine:x",
    "arn:aws:states",
    "arn:" + "a" * 3_000,
    "not-an-arn",
)


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


#: Whole JSON texts a parser or the storage layer has choked on.
HOSTILE_JSON_TEXTS = (
    _deep(100_000),
    '{"a":' * 2_000 + "1" + "}" * 2_000,
    "NaN",
    '{"a": NaN}',
    '{"a": Infinity}',
    "[-Infinity]",
    "9" * 5_000,
    '{"n": ' + "1" * 5_000 + "}",
    "1e400",
    '"\\ud800"',
    '{"\\udfff": 1}',
    "{",
    "[1,]",
    "",
    "nul",
    '{"a":1,"a":2}',
    '"' + "x" * 300_000 + '"',
)


def _invalid_utf8_bodies() -> list[bytes]:
    return [
        b'{"name": "\xff\xfe"}',
        '{"name": "\ud800"}'.encode("utf-8", "surrogatepass"),
        b"\xef\xbb\xbf{}",
        b"\x00" * 16,
    ]


#: Raw request bodies: not JSON objects, too deep, too big, not UTF-8.
HOSTILE_BODIES: tuple[bytes, ...] = (
    *(text.encode() for text in HOSTILE_JSON_TEXTS),
    *_invalid_utf8_bodies(),
    b"[]",
    b"null",
    b'"a string"',
    b"{}" + b" " * 10 + b"{}",
    b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b"x" * (1024 * 1024 + 1),
)


@dataclass
class Pool:
    """Names and ARNs that exist on the server, by kind; grows as the fuzzer creates things."""

    arns: dict[str, list[str]] = field(default_factory=dict)
    tokens: list[str] = field(default_factory=list)

    def add(self, kind: str, value: str) -> None:
        values = self.arns.setdefault(kind, [])
        if value not in values:
            values.append(value)

    def get(self, kind: str) -> list[str]:
        return self.arns.get(kind, [])

    def without(self, kind: str) -> Pool:
        """This pool less one kind (GetActivityTask on a real, idle activity waits 60 s)."""
        return Pool({k: v for k, v in self.arns.items() if k != kind}, self.tokens)


# --- JSON values ----------------------------------------------------------------------------

_SAFE_FLOATS = st.floats(allow_nan=False, allow_infinity=False, width=64)


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """JSON documents Python's ``json`` writes as standard JSON (no NaN, ints within a double)."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**53), max_value=2**53)
        | _SAFE_FLOATS
        | st.text(max_size=30)
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=10), children, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def hostile_strings() -> st.SearchStrategy[str]:
    return pick(HOSTILE_STRINGS + LONE_SURROGATES) | st.text(
        alphabet=st.characters(codec=None), max_size=20
    )


def hostile_values() -> st.SearchStrategy[Any]:
    """A value of the wrong type or size for almost any member."""
    return st.one_of(
        hostile_strings(),
        pick(LONE_SURROGATES),
        st.integers(min_value=-(2**70), max_value=2**70),
        pick([int("9" * 4_000)]),
        st.floats(allow_nan=False, allow_infinity=False),
        st.booleans(),
        st.none(),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
        pick([_nested(300)]),
    )


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def json_texts() -> st.SearchStrategy[str]:
    """Execution inputs and task outputs: mostly valid JSON, sometimes hostile text."""
    valid = json_values().map(json.dumps)
    with_surrogate = pick(LONE_SURROGATES).map(lambda s: json.dumps({"s": s}))
    return st.one_of(valid, valid, valid, with_surrogate, pick(HOSTILE_JSON_TEXTS))


# --- small state machines that always end ---------------------------------------------------

_STATE_NAME = st.text(
    alphabet=string.ascii_letters + string.digits + "-_ ", min_size=1, max_size=20
)


@st.composite
def small_definitions(draw: st.DrawFn) -> dict[str, Any]:
    """An ASL definition of 1-5 Pass / Wait 0 states ending in Succeed, Fail or an End."""
    count = draw(st.integers(min_value=0, max_value=4))
    names = draw(st.lists(_STATE_NAME, min_size=count + 1, max_size=count + 1, unique=True))
    states: dict[str, Any] = {}
    for index, name in enumerate(names[:-1]):
        step: dict[str, Any] = draw(
            st.sampled_from(
                [
                    {"Type": "Pass"},
                    {"Type": "Wait", "Seconds": 0},
                    {"Type": "Pass", "ResultPath": "$.r"},
                ]
            )
        )
        if step["Type"] == "Pass" and draw(st.booleans()):
            step["Result"] = draw(json_values(max_leaves=4))
        states[name] = {**step, "Next": names[index + 1]}
    last = names[-1]
    states[last] = draw(
        st.sampled_from(
            [
                {"Type": "Succeed"},
                {"Type": "Pass", "End": True},
                {"Type": "Wait", "Seconds": 0, "End": True},
                {"Type": "Fail", "Error": "Fuzz.Failed", "Cause": "a cause"},
                {"Type": "Fail"},
            ]
        )
    )
    return {"StartAt": names[0], "States": states}


def activity_definition(activity_arn: str) -> dict[str, Any]:
    """One activity Task whose result is the execution's output."""
    return {
        "StartAt": "Work",
        "States": {
            "Work": {
                "Type": "Task",
                "Resource": activity_arn,
                "HeartbeatSeconds": 3600,
                "End": True,
            }
        },
    }


def _machine(state: dict[str, Any], name: str = "S") -> str:
    return json.dumps({"StartAt": name, "States": {name: state}})


#: Definitions AWS refuses: numbers past their limits, strings that are not Unicode.
HOSTILE_DEFINITIONS = (
    _machine({"Type": "Wait", "Seconds": 1e30, "End": True}),
    _machine({"Type": "Wait", "Seconds": 10**20, "End": True}),
    _machine({"Type": "Wait", "Seconds": -1, "End": True}),
    _machine({"Type": "Wait", "Timestamp": "+999999-01-01T00:00:00Z", "End": True}),
    _machine({"Type": "Pass", "End": True}, name="\ud800"),
    _machine({"Type": "Fail", "Error": "E", "Cause": "\udfff"}),
    _machine({"Type": "Pass", "Result": {"a": "\ud800"}, "End": True}),
    _machine({"Type": "Pass", "End": True}, name="n" * 81),
    _machine(
        {
            "Type": "Task",
            "Resource": "arn:aws:states:us-east-1:123456789012:activity:nope",
            "TimeoutSeconds": 10**12,
            "End": True,
        }
    ),
    _machine({"Type": "Pass", "Result": _nested(200), "End": True}),
    '{"StartAt": "S", "States": {"S": {"Type": "Wait", "Seconds": NaN, "End": true}}}',
    '{"StartAt": "S", "States": {"S": {"Type": "Wait", "Seconds": '
    + "9" * 5_000
    + ', "End": true}}}',
)


def definition_texts() -> st.SearchStrategy[str]:
    """``definition`` members: small machines that end, or definitions AWS refuses."""
    valid = small_definitions().map(json.dumps)
    return st.one_of(valid, valid, valid, pick(HOSTILE_JSON_TEXTS), pick(HOSTILE_DEFINITIONS))


def resource_names() -> st.SearchStrategy[str]:
    return st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=80)


# --- requests from botocore's models --------------------------------------------------------


@functools.cache
def sfn_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("stepfunctions")


@functools.cache
def ecs_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("ecs")


def sfn_operations() -> list[str]:
    return list(sfn_model().operation_names)


def ecs_operations() -> list[str]:
    return list(ECS_ACTIONS)


#: Step Functions members named like this take an ARN of this kind from the pool.
SFN_ARN_KINDS: Mapping[str, tuple[str, ...]] = {
    "stateMachineArn": ("state_machine", "version", "alias"),
    "stateMachineVersionArn": ("version",),
    "stateMachineAliasArn": ("alias",),
    "executionArn": ("execution",),
    "activityArn": ("activity",),
    "mapRunArn": ("map_run",),
    "resourceArn": ("state_machine", "activity", "execution", "alias", "version"),
}

#: ECS members naming a resource, by the pool kind that holds its names and ARNs.
ECS_NAME_KINDS: Mapping[str, str] = {
    "cluster": "cluster",
    "clusters": "cluster",
    "taskDefinition": "task_definition",
    "service": "service",
    "services": "service",
    "task": "task",
    "tasks": "task",
    "familyPrefix": "family",
    "resourceArn": "cluster",
}

#: ECS desired counts: none that starts a process, some past every quota.
DESIRED_COUNTS = (0, -1, 5_001, 1_000_000, 2**31 - 1, 2**31, 2**63)

#: What a fuzzed container runs if a task ever starts: nothing.
HARMLESS_COMMAND = ("true",)
#: ECS members that never get a drawn hostile value: one could start processes.
_NEVER_HOSTILE = frozenset({"command", "entryPoint", "desiredCount", "count"})


@dataclass(frozen=True)
class ModelWalk:
    """Builds the strategy of one operation's input from its shape, with the live pool."""

    service: str
    pool: Pool
    #: whether members may get values of the wrong type or size (else only fitting ones)
    hostile: bool = True
    #: only required members and the top-level ones that name resources (so more requests land)
    minimal: bool = False
    max_depth: int = 4

    def operation(self, name: str) -> st.SearchStrategy[dict[str, Any]]:
        model: OperationModel = (
            sfn_model() if self.service == "sfn" else ecs_model()
        ).operation_model(name)
        if model.input_shape is None:
            return st.just({})
        return self.structure(model.input_shape, 0)

    def structure(self, shape: Shape, depth: int) -> st.SearchStrategy[dict[str, Any]]:
        members: Mapping[str, Shape] = shape.members  # type: ignore[attr-defined]
        required = set(shape.metadata.get("required", ()))
        if depth >= self.max_depth or (self.minimal and depth > 0):
            members = {k: v for k, v in members.items() if k in required}
        elif self.minimal:
            members = {
                k: v for k, v in members.items() if k in required or self.special(k) is not None
            }
        needed = {k: self.member(k, v, depth) for k, v in members.items() if k in required}
        optional = {k: self.member(k, v, depth) for k, v in members.items() if k not in required}
        return st.fixed_dictionaries(needed, optional=optional)

    def member(self, name: str, shape: Shape, depth: int) -> st.SearchStrategy[Any]:
        fitting = self.fitting(name, shape, depth)
        if not self.hostile or (self.service == "ecs" and name in _NEVER_HOSTILE):
            return fitting
        return st.one_of(fitting, fitting, fitting, fitting, hostile_values())

    def fitting(self, name: str, shape: Shape, depth: int) -> st.SearchStrategy[Any]:
        if self.service == "ecs" and name in ("command", "entryPoint"):
            return st.just(list(HARMLESS_COMMAND))  # at any depth: nothing fuzzed ever runs
        if self.service == "ecs" and name in ("desiredCount", "count"):
            return st.sampled_from(DESIRED_COUNTS)
        special = self.special(name) if depth == 0 else None
        if special is not None:
            return special
        kind = shape.type_name
        if kind == "structure":
            return self.structure(shape, depth + 1)
        if kind == "list":
            member: Shape = shape.member  # type: ignore[attr-defined]
            inner = self.fitting(name, member, depth + 1)
            return st.lists(inner, max_size=3)
        if kind == "map":
            key: Shape = shape.key  # type: ignore[attr-defined]
            value: Shape = shape.value  # type: ignore[attr-defined]
            return st.dictionaries(
                self.fitting("", key, depth + 1), self.fitting("", value, depth + 1), max_size=3
            )
        return self.scalar(shape)

    def special(self, name: str) -> st.SearchStrategy[Any] | None:
        """Members whose meaning matters more than their shape (ARNs, definitions, inputs)."""
        pool = self.pool
        if self.service == "sfn":
            kinds = SFN_ARN_KINDS.get(name)
            if kinds is not None:
                return _from_pool(pool, kinds, BAD_ARNS)
            makers: dict[str, Callable[[], st.SearchStrategy[Any]]] = {
                "definition": definition_texts,
                "input": json_texts,
                "output": json_texts,
                "roleArn": lambda: st.sampled_from([ROLE_ARN, *BAD_ARNS[:3]]),
                "taskToken": lambda: _tokens(pool),
                "name": resource_names,
            }
            maker = makers.get(name)
            return maker() if maker is not None else None
        if name in ("family", "serviceName", "clusterName"):
            return resource_names().map(lambda text: text[:255])
        kind = ECS_NAME_KINDS.get(name)
        if kind is not None:
            one = _from_pool(pool, (kind,), BAD_ARNS[7:])
            return st.lists(one, min_size=1, max_size=3) if name.endswith("s") else one
        return None

    def scalar(self, shape: Shape) -> st.SearchStrategy[Any]:
        kind = shape.type_name
        meta = shape.metadata
        if kind == "string":
            if shape.enum:  # type: ignore[attr-defined]
                return st.sampled_from(list(shape.enum))  # type: ignore[attr-defined]
            low = int(meta.get("min", 0))
            high = max(low, min(int(meta.get("max", 64)), 64))
            return st.text(
                alphabet=string.ascii_letters + string.digits + "-_:/", min_size=low, max_size=high
            )
        if kind in ("integer", "long"):
            low = int(meta.get("min", -(2**31)))
            high = int(meta.get("max", 2**31 - 1))
            return st.integers(min_value=low, max_value=high)
        if kind == "boolean":
            return st.booleans()
        if kind in ("float", "double"):
            return st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6)
        if kind == "timestamp":
            return st.integers(min_value=0, max_value=2**32)
        return st.text(max_size=8)


def pick(values: Sequence[Any]) -> st.SearchStrategy[Any]:
    """One of ``values``, drawn by index (so that huge values stay out of reprs)."""
    items = tuple(values)
    return st.integers(min_value=0, max_value=len(items) - 1).map(items.__getitem__)


def _from_pool(pool: Pool, kinds: Sequence[str], bad: Sequence[str]) -> st.SearchStrategy[str]:
    """A known ARN of one of ``kinds`` (mostly) or a bad one.

    The draws do not depend on what the pool holds (an index, resolved against
    the pool when drawn), so Hypothesis can replay an example after the pool grew.
    """
    bad_arns = tuple(bad)

    def resolve(choice: tuple[int, int]) -> str:
        known = [arn for kind in kinds for arn in pool.get(kind)]
        which, index = choice
        if which == 0 or not known:
            return bad_arns[index % len(bad_arns)]
        return known[index % len(known)]

    return st.tuples(st.integers(0, 3), st.integers(0, 1_000)).map(resolve)


_MADE_UP_TOKENS = ("", "token", "A" * 2_000, "\ud800", "eyJ9", "AAAA" + "=" * 10)


def _tokens(pool: Pool) -> st.SearchStrategy[str]:
    def resolve(choice: tuple[int, int]) -> str:
        which, index = choice
        if which == 0 or not pool.tokens:
            return _MADE_UP_TOKENS[index % len(_MADE_UP_TOKENS)]
        return pool.tokens[index % len(pool.tokens)]

    return st.tuples(st.integers(0, 1), st.integers(0, 1_000)).map(resolve)


def encode(params: Any, raw_surrogates: bool) -> bytes:
    """A JSON body: ``\\ud800`` escapes, or (``raw_surrogates``) the surrogates' raw bytes."""
    if raw_surrogates:
        return json.dumps(params, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return json.dumps(params).encode()
