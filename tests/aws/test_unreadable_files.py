"""``montemap aws`` given a template or definition it cannot read: one line, exit 1.

A template that is not YAML, one written with CloudFormation's short forms (``!Ref``),
and a file that is not UTF-8 text used to end in "internal error (ParserError ...);
this is a bug" (exit 70).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from montemap.aws import AwsError
from montemap.testing.commands import run_montemap
from tests.aws.helpers import MAPPING_YAML, run_aws, write

WHERE = ("--account-id", "111122223333", "--region", "eu-west-1")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "Resources: [1,2\n",
            "not valid YAML or JSON at line 2 column 1: expected ',' or ']', but got "
            "'<stream end>'",
        ),
        (
            "Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Properties:\n"
            "      BucketName: !Ref Name\n",
            "not valid YAML or JSON at line 5 column 19: could not determine a constructor "
            "for the tag '!Ref' (short forms such as !Ref are not read: write Ref: or Fn::Sub:)",
        ),
    ],
    ids=["broken", "short-form-tag"],
)
def test_a_template_that_does_not_parse(tmp_path: Path, text: str, message: str) -> None:
    stack = write(tmp_path / "stack.yaml", text)
    for command in (("mapping", str(stack)), ("definition", str(stack), "data-processing")):
        with pytest.raises(AwsError) as refused:
            run_aws(*command, *WHERE)
        assert str(refused.value) == f"template {stack}: {message}"


def test_files_that_are_not_utf8(tmp_path: Path) -> None:
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00{")
    mapping = write(tmp_path / "mapping.yaml", MAPPING_YAML)
    with pytest.raises(AwsError, match=r"definition .* is not UTF-8 text: byte 0 cannot be"):
        run_aws("bind", str(binary), "--mapping", str(mapping))
    with pytest.raises(AwsError, match=r"template .* is not UTF-8 text"):
        run_aws("mapping", str(binary), *WHERE)


def test_the_command_exits_1_with_one_line(tmp_path: Path) -> None:
    stack = write(tmp_path / "stack.yaml", "Resources: [1,2\n")
    done = run_montemap("aws", "mapping", str(stack), *WHERE)
    assert done.returncode == 1
    assert done.stderr == (
        f"montemap: error: template {stack}: not valid YAML or JSON at line 2 column 1: "
        "expected ',' or ']', but got '<stream end>'\n"
    )
