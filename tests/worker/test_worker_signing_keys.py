"""``montemap worker`` finds its signing keys as the AWS CLI does, and says in one line
what to set when they are refused or unreadable.

Keys: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, else ``AWS_PROFILE`` and the
shared files, else montemap's built-in pair (which a keyless loopback server
accepts, as it does for ``montemap run --server`` and ``deploy``). A key a keyed
server refuses stops the worker with one error line naming the key, where it
came from and what to set (no retry loop, no server's canonical request, no
traceback); an ``AWS_PROFILE`` naming no profile is one line before any poll.
Shown on real servers with the real command.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from montemap.signing_keys import WHAT_TO_SET
from montemap.testing.commands import run_montemap
from montemap.testing.server import REGION, MontemapServer

KEY = ("AKIDWORKERKEYS", "worker-keys-secret-0123456789")
#: Nothing of the user's AWS configuration: no files, no instance role.
BARE = {
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def _sfn(server: MontemapServer, key: tuple[str, str]) -> Any:
    session: Any = boto3.session.Session()
    return session.client(
        "stepfunctions",
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MontemapServer, str]]:
    """A server requiring :data:`KEY`, and an activity of it nobody serves."""
    root = tmp_path_factory.mktemp("keyed-worker")
    path = root / "keys.json"
    path.write_text(json.dumps([{"access_key_id": KEY[0], "secret_access_key": KEY[1]}]))
    path.chmod(0o600)
    server = MontemapServer(root / "data", extra_args=["--credentials", str(path), "--no-cgroups"])
    server.start()
    sfn = _sfn(server, KEY)
    arn = sfn.create_activity(name="keys")["activityArn"]
    sfn.close()
    yield server, arn
    server.close()


def _worker(url: str, arn: str, env: dict[str, str]) -> Any:
    """``montemap worker`` against ``url`` for ``arn``; it must stop by itself."""
    args = ["worker", "--endpoint", url, "--activity-arn", arn, "--handler", "json:dumps"]
    return run_montemap(*args, env={**BARE, **env}, timeout=60)


@pytest.mark.parametrize(
    ("env", "says"),
    [
        (
            {"AWS_ACCESS_KEY_ID": "AKIDNOTKNOWN", "AWS_SECRET_ACCESS_KEY": "x"},
            "does not accept the access key id 'AKIDNOTKNOWN' (from AWS_ACCESS_KEY_ID)",
        ),
        (
            {"AWS_ACCESS_KEY_ID": KEY[0], "AWS_SECRET_ACCESS_KEY": "a-wrong-secret"},
            f"the signature with the access key id '{KEY[0]}' (from AWS_ACCESS_KEY_ID) "
            "does not match (a wrong secret)",
        ),
        ({}, "does not accept montemap's built-in key 'montemap' (no AWS credentials are set)"),
    ],
    ids=["unknown key", "wrong secret", "no keys"],
)
def test_a_refused_key_is_one_line_saying_what_to_set(
    keyed: tuple[MontemapServer, str], env: dict[str, str], says: str
) -> None:
    server, arn = keyed
    done = _worker(server.url, arn, env)
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, done.stderr
    assert says in errors[0] and WHAT_TO_SET in errors[0]
    assert "Traceback" not in done.stderr and "retrying" not in done.stderr
    assert "Canonical" not in done.stderr  # the server's explanation stays on the server


def test_a_key_from_a_profile_signs(keyed: tuple[MontemapServer, str], tmp_path: Path) -> None:
    server, arn = keyed
    path = tmp_path / "credentials"
    path.write_text(
        f"[other]\naws_access_key_id = {KEY[0]}\naws_secret_access_key = {KEY[1]}-no\n"
        f"[good]\naws_access_key_id = {KEY[0]}\naws_secret_access_key = {KEY[1]}\n"
    )
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(path), "AWS_PROFILE": "other"}
    refused = _worker(server.url, arn, env)
    assert f"'{KEY[0]}' (from the profile other) does not match" in refused.stderr
    # Accepted: it polls, until the activity it serves is deleted under it.
    sfn = _sfn(server, KEY)
    served = sfn.create_activity(name="keys-profile")["activityArn"]
    sfn.delete_activity(activityArn=served)
    accepted = _worker(server.url, served, {**env, "AWS_PROFILE": "good"})
    assert "ActivityDoesNotExist" in accepted.stderr, accepted.stderr
    assert "Unrecognized" not in accepted.stderr and "signature" not in accepted.stderr
    sfn.close()


def test_no_keys_sign_with_the_builtin_pair_a_keyless_server_accepts(
    montemap_server: MontemapServer,
) -> None:
    missing = "arn:aws:states:us-east-1:123456789012:activity:none-here"
    done = _worker(montemap_server.url, missing, {})
    assert done.returncode == 1
    assert "ActivityDoesNotExist" in done.stderr, done.stderr  # signed, accepted, answered
    assert "NoCredentialsError" not in done.stderr


@pytest.mark.parametrize(
    ("env", "says"),
    [
        (
            {"AWS_PROFILE": "no-such-profile"},
            "The config profile (no-such-profile) could not be found",
        ),
        ({"AWS_ACCESS_KEY_ID": "AKIDHALF"}, "missing: AWS_SECRET_ACCESS_KEY"),
    ],
    ids=["missing profile", "half a key pair"],
)
def test_an_unreadable_configuration_is_one_line(env: dict[str, str], says: str) -> None:
    done = _worker("http://127.0.0.1:9", "arn:aws:states:us-east-1:123456789012:activity:a", env)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert says in lines[0] and "cannot read your AWS credentials" in lines[0]
    assert "internal error" not in lines[0]
