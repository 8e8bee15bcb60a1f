"""Mapping files: rewriting an AWS definition's names to local ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from montemap.arns import ArnFactory
from montemap.aws import AwsError, ResourceMapping, aws_definitions, aws_values, stack_mapping
from montemap.workflows import bindings
from tests.aws.helpers import MAPPING_YAML, resolver, write

ACTIVITY = "arn:aws:states:eu-west-1:111122223333:activity:work"
LOCAL_ACTIVITY = "arn:aws:states:us-east-1:123456789012:activity:work"


def _definition(resource: str, **parameters: str) -> str:
    task = {"Type": "Task", "Resource": resource, "End": True}
    if parameters:
        task["Parameters"] = parameters
    return json.dumps({"StartAt": "T", "States": {"T": task}})


def test_exact_keys_replace_whole_tokens_only() -> None:
    mapping = ResourceMapping({ACTIVITY: LOCAL_ACTIVITY, "bucket": "local-bucket"})
    text = json.dumps(
        {
            "StartAt": "T",
            "States": {
                "T": {
                    "Type": "Task",
                    "Resource": ACTIVITY,
                    "Parameters": {
                        "a": "bucket",
                        "b": "my-bucket",  # a longer name: untouched
                        "c": "{% 'bucket' & $x %}",  # inside an expression: replaced
                        "bucket": "key stays",
                    },
                    "End": True,
                }
            },
        }
    )
    bound = mapping.apply(text)
    params = json.loads(bound.definition)["States"]["T"]["Parameters"]
    assert json.loads(bound.definition)["States"]["T"]["Resource"] == LOCAL_ACTIVITY
    assert params == {
        "a": "local-bucket",
        "b": "my-bucket",
        "c": "{% 'local-bucket' & $x %}",
        "bucket": "key stays",
    }
    assert bound.matches == {ACTIVITY: 1, "bucket": 2}
    assert bound.unused == [] and bound.unmapped == []


def test_a_wildcard_carries_the_rest_and_the_longest_key_wins() -> None:
    prefix = "arn:aws:lambda:eu-west-1:111122223333:function:"
    mapping = ResourceMapping({f"{prefix}mm-*": "*", f"{prefix}mm-Special": "Other"})
    one = mapping.apply(
        _definition("arn:aws:states:::lambda:invoke", FunctionName=f"{prefix}mm-Reduce")
    )
    two = mapping.apply(
        _definition("arn:aws:states:::lambda:invoke", FunctionName=f"{prefix}mm-Special")
    )
    assert json.loads(one.definition)["States"]["T"]["Parameters"]["FunctionName"] == "Reduce"
    assert json.loads(two.definition)["States"]["T"]["Parameters"]["FunctionName"] == "Other"


def test_unused_keys_and_foreign_arns_are_reported() -> None:
    mapping = ResourceMapping({"nothing-here": "x"})
    bound = mapping.apply(_definition(ACTIVITY))
    assert bound.unused == ["nothing-here"]
    assert bound.unmapped == [ACTIVITY]
    local = mapping.apply(_definition(LOCAL_ACTIVITY))
    assert local.unmapped == []  # this server's own ARN
    integration = mapping.apply(_definition("arn:aws:states:::lambda:invoke", FunctionName="F"))
    assert integration.unmapped == []


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({}, "no mappings"),
        ({"a*b": "x"}, "'\\*' may only end a key"),
        ({"*": "x"}, "may only end a key"),
        ({"abc": "x*"}, "has '\\*' but the key has none"),
        ({"abc*": "**"}, "at most one '\\*'"),
        ({"has space": "x"}, "one ARN or name"),
        ({"abc": ""}, "non-empty strings"),
        ({"abc": 3}, "non-empty strings"),
    ],
)
def test_bad_rules_are_refused_by_name(rules: dict[str, object], message: str) -> None:
    with pytest.raises(AwsError, match=message):
        ResourceMapping(rules)


def test_mapping_files_are_read_and_checked(tmp_path: Path) -> None:
    good = ResourceMapping.load(write(tmp_path / "m.yaml", MAPPING_YAML))
    assert good.rules["mm"] == "default"
    with pytest.raises(AwsError, match="cannot read mapping file"):
        ResourceMapping.load(tmp_path / "missing.yaml")
    with pytest.raises(AwsError, match="not valid YAML"):
        ResourceMapping.load(write(tmp_path / "bad.yaml", "a: [\n"))
    with pytest.raises(AwsError, match="must hold one object"):
        ResourceMapping.load(write(tmp_path / "list.yaml", "- a\n"))
    with pytest.raises(AwsError, match="the definition is not JSON"):
        good.apply("{nope")


def test_the_users_mapping_turns_aws_definitions_into_the_local_ones(tmp_path: Path) -> None:
    mapping = ResourceMapping.load(write(tmp_path / "m.yaml", MAPPING_YAML))
    local = bindings.local_bindings(ArnFactory())
    for workflow, text in aws_definitions(resolver()).items():
        bound = mapping.apply(text)
        assert bound.unmapped == []
        assert json.loads(bound.definition) == json.loads(bindings.definition(workflow, local))


def test_stack_mapping_is_what_the_user_would_write(tmp_path: Path) -> None:
    generated = stack_mapping(aws_values(resolver()), bindings.local_bindings(ArnFactory()))
    mapping = ResourceMapping(generated)
    local = bindings.local_bindings(ArnFactory())
    for workflow, text in aws_definitions(resolver()).items():
        assert json.loads(mapping.apply(text).definition) == json.loads(
            bindings.definition(workflow, local)
        )
    with pytest.raises(AwsError, match="no local value for Extra"):
        stack_mapping({"Extra": "x"}, {})
