"""The mapping file's host sections: container commands, layers' packages, runtime stand-ins."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from montemap.aws.mapping import ResourceMapping
from montemap.aws.options import AwsError
from montemap.testing import MontemapServer, eventually

LAYER = "arn:aws:lambda:us-east-1:123456789012:layer"

MAPPING = f"""
containers:
  "app-*/worker":
    image: example/worker:1
    command: ["${{python}}", "${{mapping_dir}}/worker.py", "${{task_id}}"]
    environment: {{HOME_DIR: "${{mapping_dir}}"}}
  "app-*/*":
    command: ["/bin/true"]
layers:
  "{LAYER}:stdlib-json:*": [json]
  "{LAYER}:missing:*": [json, montemap_no_such_package_x]
runtimes:
  java21: {{handler: standin.handler, code: standins}}
"""

STANDIN = """
def handler(event, context):
    return {"stood_in": event["n"] * 2, "function": context.function_name}
"""

TEMPLATE = f"""
Resources:
  WithLayer:
    Type: AWS::Lambda::Function
    Properties:
      FunctionName: with-layer
      Runtime: python3.12
      Handler: index.handler
      Role: arn:aws:iam::123456789012:role/any
      Layers: ["{LAYER}:stdlib-json:3"]
      Code:
        ZipFile: |
          import json
          def handler(event, context):
              return json.loads(json.dumps({{"ok": event["n"]}}))
  Java:
    Type: AWS::Lambda::Function
    Properties:
      FunctionName: java-calc
      Runtime: java21
      Handler: example.Calc::handleRequest
      Role: arn:aws:iam::123456789012:role/any
      Code: {{ZipFile: "class Calc {{}}"}}
"""

BAD_LAYER = f"""
Resources:
  Broken:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Role: arn:aws:iam::123456789012:role/any
      Layers: ["{LAYER}:missing:1"]
      Code: {{ZipFile: "def handler(e, c): return 1"}}
"""


def _mapping(tmp_path: Path) -> Path:
    (tmp_path / "standins").mkdir()
    (tmp_path / "standins" / "standin.py").write_text(STANDIN)
    path = tmp_path / "mapping.yaml"
    path.write_text(MAPPING)
    return path


def test_sections_parse_and_match(tmp_path: Path) -> None:
    host = ResourceMapping.load(_mapping(tmp_path)).host
    rule = host.container("app-small", "worker", "example/worker:1")
    assert rule is not None
    assert rule.command == ("${python}", f"{tmp_path}/worker.py", "${task_id}")
    assert rule.environment == {"HOME_DIR": str(tmp_path)}
    other = host.container("app-small", "worker", "example/other:2")  # the image differs
    assert other is not None and other.command == ("/bin/true",)
    assert host.container("db-small", "worker", "example/worker:1") is None
    assert host.layer_packages(f"{LAYER}:stdlib-json:7") == ("json",)
    assert host.layer_packages(f"{LAYER}:unknown:1") is None
    assert host.layer_problems([f"{LAYER}:stdlib-json:1", f"{LAYER}:unknown:1"]) == []
    [problem] = host.layer_problems([f"{LAYER}:missing:1"])
    assert "montemap_no_such_package_x cannot be imported" in problem
    stand_in = host.stand_in("any-function", "java21")
    assert stand_in is not None and stand_in.code == (tmp_path / "standins").resolve()
    assert host.stand_in("any-function", "go1.x") is None


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"containers": {"no-slash": {"command": ["x"]}}}, "family/container"),
        ({"containers": {"a/b": {"command": []}}}, "needs 'command'"),
        ({"containers": {"a/b": {"command": ["x"], "cpu": 1}}}, "not cpu"),
        ({"layers": {"not-an-arn": ["x"]}}, "a layer ARN"),
        ({"runtimes": {"java21": {"handler": "a.b", "runtime": "nodejs20.x"}}}, "in Python"),
        ({"runtimes": {"java21": {"handler": "a.b", "code": "nowhere"}}}, "does not exist"),
        ({"runtimes": {"java21": {"code": "x"}}}, "needs 'handler'"),
    ],
)
def test_bad_sections_are_refused(tmp_path: Path, document: Any, message: str) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps(document))
    with pytest.raises(AwsError, match=message):
        ResourceMapping.load(path)


def test_rules_and_sections_together(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text('old-bucket: new-bucket\nlayers: {"arn:aws:lambda:*:layer:x:*": [json]}\n')
    mapping = ResourceMapping.load(path)
    assert mapping.rules == {"old-bucket": "new-bucket"}
    bound = mapping.apply('{"Bucket": "old-bucket"}')
    assert json.loads(bound.definition) == {"Bucket": "new-bucket"}
    only = tmp_path / "only.yaml"
    only.write_text('layers: {"arn:aws:lambda:*:layer:x:*": [json]}\n')
    assert ResourceMapping.load(only).apply('{"a": "b"}').matches == {}


def _stack(cfn: Any, name: str, body: str) -> dict[str, Any]:
    cfn.create_stack(StackName=name, TemplateBody=body)

    def done() -> dict[str, Any] | None:
        stack: dict[str, Any] = cfn.describe_stacks(StackName=name)["Stacks"][0]
        return None if stack["StackStatus"].endswith("IN_PROGRESS") else stack

    result: dict[str, Any] = eventually(done, timeout=90)
    return result


def _reasons(cfn: Any, name: str) -> list[str]:
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    return [e.get("ResourceStatusReason", "") for e in events]


def _zip(code: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", code)
    return buffer.getvalue()


def test_layers_and_stand_ins_on_a_server(
    server_factory: Callable[..., MontemapServer], tmp_path: Path
) -> None:
    server = server_factory(extra_args=["--mapping", str(_mapping(tmp_path))])
    cfn, lam = server.client("cloudformation"), server.client("lambda")
    assert _stack(cfn, "mapped", TEMPLATE)["StackStatus"] == "CREATE_COMPLETE"
    reasons = " | ".join(_reasons(cfn, "mapped"))
    assert "stands them in with the host's json" in reasons
    assert "runtime java21 cannot run here" in reasons and "standin.handler" in reasons
    out = json.loads(lam.invoke(FunctionName="with-layer", Payload=b'{"n": 4}')["Payload"].read())
    assert out == {"ok": 4}
    answer = lam.invoke(FunctionName="java-calc", Payload=b'{"n": 21}')
    assert "FunctionError" not in answer
    assert json.loads(answer["Payload"].read()) == {"stood_in": 42, "function": "java-calc"}
    # a layer whose packages the host lacks fails the function, and the stack rolls back
    assert _stack(cfn, "broken", BAD_LAYER)["StackStatus"] == "ROLLBACK_COMPLETE"
    assert any("montemap_no_such_package_x" in r for r in _reasons(cfn, "broken"))
    with pytest.raises(ClientError) as caught:
        lam.create_function(
            FunctionName="direct",
            Runtime="python3.12",
            Handler="index.handler",
            Role="arn:aws:iam::123456789012:role/any",
            Code={"ZipFile": _zip("def handler(e, c): return 1")},
            Layers=[f"{LAYER}:missing:2"],
        )
    assert caught.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "montemap_no_such_package_x cannot be imported" in str(caught.value)
