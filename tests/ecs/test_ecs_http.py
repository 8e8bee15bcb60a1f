"""The ECS JSON 1.1 endpoint, end to end with boto3's ``ecs`` client and the AWS CLI.

The application from :func:`create_ecs_app` runs under uvicorn on 127.0.0.1
in a thread; its lifespan starts and stops the service manager.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import uvicorn
from botocore.config import Config

from montemap.ecs.ecs_api import EcsApi
from montemap.ecs.ecs_http import create_ecs_app
from montemap.ecs.service import ServiceManager
from montemap.ecs.taskdefs import EcsStore
from montemap.engine.db import Database

from .test_service_support import FAST_BACKOFF, SLEEPER, alive, container

REGION = "us-east-1"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class EcsServer:
    """uvicorn serving the ECS app in a thread, around a real manager and database."""

    def __init__(self, data: Path) -> None:
        self.db = Database(data / "m.db")
        store = EcsStore(self.db)
        store.register_predefined()
        self.manager = ServiceManager(store, stop_grace=5.0, backoff=FAST_BACKOFF)
        self.port = _free_port()
        config = uvicorn.Config(
            create_ecs_app(EcsApi(self.manager)),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("ECS test server did not start")
            time.sleep(0.02)  # polling uvicorn's started flag

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.db.close()

    def client(self) -> Any:
        return boto3.session.Session().client(
            "ecs",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        )


@pytest.fixture
def ecs_server(tmp_path: Path) -> Iterator[EcsServer]:
    server = EcsServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def ecs(ecs_server: EcsServer) -> Iterator[Any]:
    client = ecs_server.client()
    yield client
    client.close()


def until(check: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout} s: {what}")
        time.sleep(0.05)  # polling the API, as a user's script would


def counts(ecs: Any, service: str = "workers") -> tuple[int, int, int]:
    (svc,) = ecs.describe_services(cluster="default", services=[service])["services"]
    return svc["desiredCount"], svc["runningCount"], svc["pendingCount"]


def test_boto3_scales_a_service_0_n_0(ecs: Any) -> None:
    registered = ecs.register_task_definition(
        family="sleeper", containerDefinitions=[container(SLEEPER)], cpu="256", memory="512"
    )["taskDefinition"]
    assert registered["revision"] == 1
    created = ecs.create_service(
        cluster="default", serviceName="workers", taskDefinition="sleeper", desiredCount=0
    )["service"]
    assert created["status"] == "ACTIVE"
    assert created["createdAt"].tzinfo is not None  # parsed as a timestamp

    ecs.update_service(cluster="default", service="workers", desiredCount=3)
    until(lambda: counts(ecs) == (3, 3, 0), what="3 running")
    arns = ecs.list_tasks(cluster="default", serviceName="workers")["taskArns"]
    tasks = ecs.describe_tasks(cluster="default", tasks=arns)["tasks"]
    pids = [int(t["containers"][0]["runtimeId"]) for t in tasks]
    assert len(set(pids)) == 3 and all(alive(p) for p in pids)
    assert {t["cpu"] for t in tasks} == {"256"}

    ecs.update_service(cluster="default", service="workers", desiredCount=0)
    until(lambda: counts(ecs) == (0, 0, 0), what="0 running")
    until(lambda: not any(alive(p) for p in pids), 5, "processes gone")
    stopped = ecs.list_tasks(cluster="default", serviceName="workers", desiredStatus="STOPPED")
    assert sorted(stopped["taskArns"]) == sorted(arns)


def test_boto3_errors(ecs: Any) -> None:
    with pytest.raises(ecs.exceptions.ServiceNotFoundException, match="Service not found"):
        ecs.update_service(cluster="default", service="ghost", desiredCount=1)
    with pytest.raises(ecs.exceptions.ClusterNotFoundException):
        ecs.describe_services(cluster="ghost", services=["x"])
    with pytest.raises(ecs.exceptions.ClientException, match="Unable to describe"):
        ecs.describe_task_definition(taskDefinition="ghost")
    paged = ecs.get_paginator("list_task_definitions").paginate(PaginationConfig={"PageSize": 1})
    arns = [a for page in paged for a in page["taskDefinitionArns"]]
    assert [a.rsplit("/", 1)[1] for a in arns] == ["large:1", "small:1"]


def test_wire_errors(ecs_server: EcsServer) -> None:
    def post(body: bytes, target: str, content_type: str = "application/x-amz-json-1.1") -> Any:
        request = urllib.request.Request(
            ecs_server.url + "/",
            data=body,
            headers={"X-Amz-Target": target, "Content-Type": content_type},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, json.loads(exc.read())

    target = "AmazonEC2ContainerServiceV20141113.ListClusters"
    assert post(b"", target)[0] == 200
    assert post(b"{not json", target) == (
        400,
        {
            "__type": "SerializationException",
            "message": "The request body is not valid JSON: Expecting property name enclosed in"
            " double quotes at line 1 column 2",
        },
    )
    status, body = post(b"{}", "AWSStepFunctions.ListActivities")
    assert (status, body["__type"]) == (400, "UnknownOperationException")
    status, body = post(b"{}", target, content_type="text/plain")
    assert (status, body["__type"]) == (400, "UnknownOperationException")


def test_aws_cli_switches_task_definition(ecs_server: EcsServer, ecs: Any) -> None:
    """``aws ecs update-service --task-definition large`` as the original instructions do."""
    # a 'large' revision that runs a sleeper, so the test does not need the worker command
    ecs.register_task_definition(
        family="large", containerDefinitions=[container(SLEEPER)], cpu="512", memory="1024"
    )
    ecs.create_service(
        cluster="default", serviceName="workers", taskDefinition="small:1", desiredCount=0
    )
    env = {**os.environ, **AWS_ENV}
    aws = str(Path(sys.executable).with_name("aws"))
    result = subprocess.run(
        [
            aws,
            "ecs",
            "update-service",
            "--endpoint-url",
            ecs_server.url,
            "--cluster",
            "default",
            "--service",
            "workers",
            "--task-definition",
            "large",
            "--desired-count",
            "2",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    service = json.loads(result.stdout)["service"]
    assert service["taskDefinition"].endswith("task-definition/large:2")
    assert service["desiredCount"] == 2
    until(lambda: counts(ecs) == (2, 2, 0), what="2 large tasks running")
    arns = ecs.list_tasks(cluster="default", serviceName="workers")["taskArns"]
    tasks = ecs.describe_tasks(cluster="default", tasks=arns)["tasks"]
    assert {(t["cpu"], t["memory"]) for t in tasks} == {("512", "1024")}
    ecs.update_service(cluster="default", service="workers", desiredCount=0)
    until(lambda: counts(ecs) == (0, 0, 0), what="scaled in")


def test_manager_stops_tasks_when_the_app_stops(tmp_path: Path) -> None:
    server = EcsServer(tmp_path)
    server.start()
    client = server.client()
    try:
        client.register_task_definition(family="sleeper", containerDefinitions=[container(SLEEPER)])
        client.create_service(serviceName="workers", taskDefinition="sleeper", desiredCount=1)
        until(lambda: counts(client) == (1, 1, 0))
        arns = client.list_tasks(serviceName="workers")["taskArns"]
        (task,) = client.describe_tasks(tasks=arns)["tasks"]
        pid = int(task["containers"][0]["runtimeId"])
    finally:
        client.close()
        server.stop()
    assert not alive(pid)
