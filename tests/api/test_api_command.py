"""``montemap server``: options, loopback policy, graceful shutdown, restarts, the AWS CLI."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from montemap.api.cli import ServerConfigError, add_arguments, check_options, is_loopback
from montemap.cli import main
from montemap.testing import DUMMY_AWS_ENV, eventually

from .helpers import PASS_DEFINITION, ROLE_ARN


def options(**overrides: Any) -> argparse.Namespace:
    """The server command's options as its own parser gives them, with ``overrides``."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    values = vars(parser.parse_args([]))
    values.update(overrides)
    return argparse.Namespace(**values)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.168.1.4", False),
        ("::", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


def test_remote_bind_needs_allow_remote() -> None:
    with pytest.raises(ServerConfigError, match="--allow-remote"):
        check_options(options(host="0.0.0.0"))
    check_options(options(host="0.0.0.0", allow_remote=True))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"port": 70000}, "--port"),
        ({"region": "moon"}, "--region"),
        ({"account_id": "12345"}, "--account-id"),
        ({"shutdown_timeout": -1}, "--shutdown-timeout"),
    ],
)
def test_bad_options(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ServerConfigError, match=message):
        check_options(options(**overrides))


def test_data_dir_must_be_a_directory(tmp_path: Path) -> None:
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(ServerConfigError, match="not a directory"):
        check_options(options(data_dir=str(afile)))


def test_cli_refuses_remote_bind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["server", "--host", "0.0.0.0", "--data-dir", str(tmp_path / "d")])
    assert code == 1
    assert "not a loopback address" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_sigterm_and_sigint_shut_down_gracefully(
    server_factory: Callable[..., Any],
) -> None:
    server = server_factory()
    assert server.stop(signal.SIGTERM) == 0
    assert (server.data_dir / "montemap.db").is_file()
    assert (server.data_dir / "buckets").is_dir()
    server.start()
    assert server.stop(signal.SIGINT) == 0


def _connections(port: int) -> int:
    """Established TCP connections to a local port (Linux /proc/net/tcp)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":  # 01: ESTABLISHED
                count += 1
    return count


@pytest.mark.skipif(not Path("/proc/net/tcp").is_file(), reason="needs Linux /proc")
def test_shutdown_does_not_wait_for_long_polls(server_factory: Callable[..., Any]) -> None:
    server = server_factory(extra_args=["--shutdown-timeout", "1"])
    setup = server.client()
    activity = setup.create_activity(name="idle")["activityArn"]
    setup.close()
    eventually(lambda: _connections(server.port) == 0, what="no connection to the server")
    poller_client = server.client()
    outcome: list[object] = []

    def poll() -> None:
        try:
            outcome.append(poller_client.get_activity_task(activityArn=activity))
        except (BotoCoreError, ClientError) as exc:  # the server goes away mid-poll
            outcome.append(exc)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        eventually(lambda: _connections(server.port) > 0, what="the long poll in flight")
        started = time.monotonic()
        assert server.stop(signal.SIGTERM) == 0
        assert time.monotonic() - started < 10
        poller.join(timeout=10)
        assert not poller.is_alive()
        assert len(outcome) == 1  # an empty answer or a dropped connection, never a task
        assert not isinstance(outcome[0], dict) or "taskToken" not in outcome[0]
    finally:
        poller.join(timeout=10)
        poller_client.close()


def test_restart_keeps_data_and_port(server_factory: Callable[..., Any]) -> None:
    server = server_factory()
    port = server.port
    client = server.client()
    try:
        arn = client.create_state_machine(
            name="kept", definition=PASS_DEFINITION, roleArn=ROLE_ARN
        )["stateMachineArn"]
        server.restart()
        assert server.port == port
        assert client.describe_state_machine(stateMachineArn=arn)["name"] == "kept"
    finally:
        client.close()


def test_region_and_account_shape_arns(server_factory: Callable[..., Any]) -> None:
    server = server_factory(extra_args=["--region", "eu-west-2", "--account-id", "111122223333"])
    client = server.client()
    try:
        arn = client.create_activity(name="a")["activityArn"]
        assert arn == "arn:aws:states:eu-west-2:111122223333:activity:a"
    finally:
        client.close()


def test_aws_cli_lists_state_machines(montemap_server: Any) -> None:
    client = montemap_server.client()
    try:
        client.create_state_machine(name="from-boto3", definition=PASS_DEFINITION, roleArn=ROLE_ARN)
    finally:
        client.close()
    aws = Path(sys.executable).with_name("aws")
    env = {**os.environ, **DUMMY_AWS_ENV}
    result = subprocess.run(
        [str(aws), "stepfunctions", "list-state-machines", "--endpoint-url", montemap_server.url],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)["stateMachines"]
    assert [m["name"] for m in listed] == ["from-boto3"]
