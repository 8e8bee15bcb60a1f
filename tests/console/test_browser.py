"""The console in a real browser (Playwright driving Debian's Chromium) against a real server.

Skipped, with the reason, where the ``playwright`` package or ``/usr/bin/chromium``
is missing; CI installs both. ``MONTEMAP_CONSOLE_SCREENSHOT=path.png`` also saves
the execution page's screenshot there (docs/console-execution.png is made so).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from montemap.testing import MontemapServer, wait_for_execution
from tests.console.helpers import (
    HOSTILE,
    INLINE_MAP,
    SLOW_JOB,
    SMALL_JOB,
    create_machine,
    q,
)

#: The browser: $MONTEMAP_CHROMIUM, else ``chromium`` on the PATH.
CHROMIUM = os.environ.get("MONTEMAP_CHROMIUM") or shutil.which("chromium") or ""
if not CHROMIUM and os.environ.get("CI"):
    # .ci/run installs Debian's Chromium: in CI a missing browser is a failure.
    raise RuntimeError("chromium is missing in CI: .ci/run should have installed it")
if not CHROMIUM:
    pytest.skip(
        "chromium is not on the PATH (apt-get install chromium): browser tests skipped",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is missing (pip install playwright)"
)
expect = sync_api.expect

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright = sync_api.sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()
    finally:
        playwright.stop()


@pytest.fixture
def page(browser: Any, console_server: MontemapServer) -> Iterator[Any]:
    """A fresh browser session; fails the test on script errors or dialogs."""
    context = browser.new_context(
        base_url=console_server.url, viewport={"width": 1400, "height": 1000}
    )
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    problems: list[str] = []

    def on_dialog(dialog: Any) -> None:
        problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    def on_console(message: Any) -> None:
        if message.type == "error":
            problems.append(f"console error: {message.text}")

    tab.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    tab.on("dialog", on_dialog)
    tab.on("console", on_console)
    yield tab
    context.close()
    assert problems == []


def test_start_and_watch_an_execution_live(page: Any, sfn: Any, tmp_path: Path) -> None:
    machine = create_machine(sfn, "browser-small", SMALL_JOB)
    page.goto(f"/console/state-machine?arn={q(machine)}")
    page.fill("textarea[name=input]", json.dumps({"run": "browser"}))
    page.fill("input[name=name]", "watched")
    page.click("#start-button")
    page.wait_for_url("**/console/execution?arn=*")
    assert page.get_attribute("main", "data-status") == "RUNNING"  # the 1 s Wait
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads
    expect(page.locator("#ex-status")).to_have_text("SUCCEEDED")
    assert page.evaluate("window.__sameDocument") is True
    for name in ("Prepare", "Pause", "Inline", "Double", "Distributed"):
        state = page.locator(f'svg.graph g.state[data-state="{name}"]')
        compound = "compound " if name in ("Inline", "Distributed") else ""
        expect(state).to_have_class(f"state {compound}status-succeeded")
    expect(page.locator('g.state[data-state="Double"] text.count')).to_have_text("5 / 5 done")
    expect(page.locator('g.state[data-state="Distributed"] > text.count')).to_have_text(
        "5 / 5 items"
    )
    expect(page.locator("#events tbody tr").last).to_contain_text("ExecutionSucceeded")
    expect(page.locator("#states tbody tr")).to_have_count(9)  # 4 states + 5 iterations
    expect(page.locator("#map-runs tbody tr")).to_contain_text("5 ok, 0 failed")
    expect(page.locator("#results-panel")).to_be_visible()
    expect(page.locator("#stop-form")).to_have_count(0)
    output = json.loads(page.locator("#ex-output").inner_text())
    assert output["inline"] == [1, 2, 3, 4, 5] and len(output["batches"]) == 3
    assert json.loads(page.locator("#ex-input").inner_text()) == {"run": "browser"}
    page.locator("#map-runs a").click()
    expect(page.locator("#run-status")).to_have_text("SUCCEEDED")
    expect(page.locator('[data-count="items.succeeded"]')).to_have_text("5")
    expect(page.locator('[data-count="batches.total"]')).to_have_text("3")
    page.go_back()
    expect(page.locator("#ex-status")).to_have_text("SUCCEEDED")
    page.screenshot(path=str(tmp_path / "execution.png"), full_page=True)
    target = os.environ.get("MONTEMAP_CONSOLE_SCREENSHOT")
    if target:
        page.screenshot(path=target, full_page=False)


def test_hostile_input_is_shown_as_text(page: Any, sfn: Any) -> None:
    definition = {
        "StartAt": HOSTILE,
        "States": {
            HOSTILE: {"Type": "Pass", "Next": "Boom"},
            "Boom": {"Type": "Fail", "Error": HOSTILE, "Cause": HOSTILE},
        },
    }
    machine = create_machine(sfn, "browser-hostile", definition)
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"note": HOSTILE}))[
        "executionArn"
    ]
    wait_for_execution(sfn, arn)
    page.goto(f"/console/execution?arn={q(arn)}")
    expect(page.locator("#ex-status")).to_have_text("FAILED")
    expect(page.locator("#ex-error")).to_have_text(HOSTILE)
    expect(page.locator("#ex-cause")).to_have_text(HOSTILE)
    expect(page.locator("#states tbody tr").first.locator("td").first).to_have_text(HOSTILE)
    expect(page.locator("#events tbody tr")).to_have_count(5)
    assert json.loads(page.locator("#ex-input").inner_text()) == {"note": HOSTILE}
    names = page.evaluate(
        "[...document.querySelectorAll('svg.graph g.state')].map(g => g.getAttribute('data-state'))"
    )
    assert names == [HOSTILE, "Boom"]
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img[src=x]").count() == 0
    assert page.locator("main script").count() == 0
    page.goto(f"/console/state-machine?arn={q(machine)}")
    assert json.loads(page.locator("textarea[name=input]").input_value()) == {"note": HOSTILE}
    assert page.evaluate("window.__pwned") is None


def test_stop_a_running_execution(page: Any, sfn: Any) -> None:
    machine = create_machine(sfn, "browser-slow", SLOW_JOB)
    arn = sfn.start_execution(stateMachineArn=machine, name="to-stop")["executionArn"]
    page.goto(f"/console/execution?arn={q(arn)}")
    expect(page.locator('g.state[data-state="Sleep"]')).to_have_class("state status-running")
    page.click("#stop-button")
    expect(page.locator("#ex-status")).to_have_text("ABORTED")
    expect(page.locator('g.state[data-state="Sleep"]')).to_have_class("state status-aborted")
    assert sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"


def test_switch_the_worker_task_definition(page: Any, console_server: MontemapServer) -> None:
    ecs = console_server.client("ecs")
    try:
        ecs.create_service(
            cluster="default", serviceName="browser-workers", taskDefinition="small", desiredCount=0
        )
    finally:
        ecs.close()
    page.goto("/console/services")
    card = page.locator('[data-service="default/browser-workers"]')
    expect(card.locator('[data-field="taskDefinition"]')).to_have_text("small:1")
    card.locator("select[name=taskDefinition]").select_option("large:1")
    card.locator("button", has_text="Update service").click()
    expect(page.locator("#service-message")).to_contain_text("browser-workers")
    card = page.locator('[data-service="default/browser-workers"]')
    expect(card.locator('[data-field="taskDefinition"]')).to_have_text("large:1")
    expect(card.locator("table.deployments tbody tr").first).to_contain_text("large:1")


def test_compare_two_executions(page: Any, sfn: Any) -> None:
    machine = create_machine(sfn, "browser-compare", SMALL_JOB)
    for name in ("first", "second"):
        wait_for_execution(
            sfn, sfn.start_execution(stateMachineArn=machine, name=name)["executionArn"]
        )
    page.goto(f"/console/state-machine?arn={q(machine)}")
    page.locator("#compare-form button").click()
    expect(page.locator("#compare thead")).to_contain_text("first")
    expect(page.locator("#compare thead")).to_contain_text("second")
    expect(page.locator("#compare")).to_contain_text("Distributed Map phase")


def test_a_retried_state_is_succeeded_and_a_caught_one_caught(page: Any, sfn: Any) -> None:
    activity = sfn.create_activity(name="browser-flaky")["activityArn"]
    definition = {
        "StartAt": "Flaky",
        "States": {
            "Flaky": {
                "Type": "Task",
                "Resource": activity,
                "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "MaxAttempts": 1}],
                "Next": "Broken",
            },
            "Broken": {
                "Type": "Task",
                "Resource": activity,
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handled"}],
                "End": True,
            },
            "Handled": {"Type": "Pass", "End": True},
        },
    }
    machine = create_machine(sfn, "browser-flaky", definition)
    arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    for error in ("Flaky", None, "Broken"):  # retried, succeeded, caught
        token = sfn.get_activity_task(activityArn=activity)["taskToken"]
        if error is None:
            sfn.send_task_success(taskToken=token, output="{}")
        else:
            sfn.send_task_failure(taskToken=token, error=error)
    assert wait_for_execution(sfn, arn)["status"] == "SUCCEEDED"
    page.goto(f"/console/execution?arn={q(arn)}")
    expect(page.locator("#states tbody tr")).to_have_count(3)
    rows = page.locator("#states tbody tr")
    expect(rows.nth(0).locator(".status")).to_have_text("succeeded")
    expect(rows.nth(1).locator(".status")).to_have_text("caught")
    expect(page.locator('g.state[data-state="Flaky"]')).to_have_class("state status-succeeded")
    expect(page.locator('g.state[data-state="Broken"]')).to_have_class("state status-caught")


def test_changing_only_the_count_keeps_an_inactive_task_definition(
    page: Any, console_server: MontemapServer
) -> None:
    ecs = console_server.client("ecs")
    try:
        old = ecs.register_task_definition(
            family="browser-retired",
            containerDefinitions=[{"name": "w", "image": "local", "command": ["sleep", "60"]}],
        )["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(
            cluster="default", serviceName="browser-retired", taskDefinition=old, desiredCount=0
        )
        ecs.deregister_task_definition(taskDefinition=old)
        page.goto("/console/services")
        card = page.locator('[data-service="default/browser-retired"]')
        card.locator("input[name=desiredCount]").fill("0")
        card.locator("button", has_text="Update service").click()
        expect(page.locator("#service-message")).to_contain_text("browser-retired")
        (service,) = ecs.describe_services(cluster="default", services=["browser-retired"])[
            "services"
        ]
        assert service["taskDefinition"] == old
    finally:
        ecs.close()


def test_a_long_history_is_shown_whole_with_details_on_demand(page: Any, sfn: Any) -> None:
    machine = create_machine(sfn, "browser-long-history", INLINE_MAP)
    arn = sfn.start_execution(
        stateMachineArn=machine, input=json.dumps({"items": list(range(400))})
    )["executionArn"]
    wait_for_execution(sfn, arn)
    history = sfn.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=1)
    last_id = history["events"][0]["id"]
    assert last_id > 1500  # four pages of the live endpoint
    page.goto(f"/console/execution?arn={q(arn)}")
    expect(page.locator("#events tbody tr")).to_have_count(last_id)
    expect(page.locator("#states tbody tr")).to_have_count(401)
    # No <details> per row (thousands take the browser minutes to lay out): a button
    # shows an event's details when asked.
    assert page.locator("#events details, #states details").count() == 0
    first = page.locator("#events tbody tr").first
    first.locator("button", has_text="details").click()
    expect(first.locator("pre")).to_contain_text('"roleArn"')
    first.locator("button", has_text="details").click()
    expect(first.locator("pre")).to_be_hidden()


def _failing_then_redriven(sfn: Any, name: str) -> tuple[str, str]:
    """An activity and a machine whose one Task state runs it (no Retry): a failed
    answer fails the execution, which a redrive runs again."""
    activity = sfn.create_activity(name=name)["activityArn"]
    definition = {
        "StartAt": "Work",
        "States": {"Work": {"Type": "Task", "Resource": activity, "End": True}},
    }
    return activity, create_machine(sfn, name, definition)


def _answer(sfn: Any, activity: str, error: str | None) -> None:
    token = sfn.get_activity_task(activityArn=activity)["taskToken"]
    if error is None:
        sfn.send_task_success(taskToken=token, output='{"done": true}')
    else:
        sfn.send_task_failure(taskToken=token, error=error, cause="worker crashed")


def test_a_redrive_of_a_failed_execution_shows_on_its_open_page(page: Any, sfn: Any) -> None:
    activity, machine = _failing_then_redriven(sfn, "browser-redrive-watched")
    arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    page.goto(f"/console/execution?arn={q(arn)}")
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads
    expect(page.locator("#stop-button")).to_be_visible()
    _answer(sfn, activity, "Broken")
    expect(page.locator("#ex-status")).to_have_text("FAILED")
    expect(page.locator("#ex-error")).to_have_text("Broken")
    expect(page.locator("#stop-form")).to_be_hidden()

    sfn.redrive_execution(executionArn=arn)
    expect(page.locator("#ex-status")).to_have_text("RUNNING")
    expect(page.locator("#ex-failure")).to_be_hidden()
    expect(page.locator("#stop-button")).to_be_visible()
    expect(page.locator('g.state[data-state="Work"]')).to_have_class("state status-running")
    expect(page.locator("#events tbody")).to_contain_text("ExecutionRedriven")
    _answer(sfn, activity, None)
    expect(page.locator("#ex-status")).to_have_text("SUCCEEDED")
    expect(page.locator("#events tbody tr").last).to_contain_text("ExecutionSucceeded")
    expect(page.locator("#states tbody tr .status")).to_have_text(["succeeded"])
    expect(page.locator("#stop-form")).to_have_count(0)
    assert json.loads(page.locator("#ex-output").inner_text()) == {"done": True}
    assert page.evaluate("window.__sameDocument") is True


def test_a_page_opened_on_a_failed_execution_watches_for_a_redrive(page: Any, sfn: Any) -> None:
    activity, machine = _failing_then_redriven(sfn, "browser-redrive-later")
    arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    _answer(sfn, activity, "Broken")
    assert wait_for_execution(sfn, arn)["status"] == "FAILED"
    page.goto(f"/console/execution?arn={q(arn)}")
    expect(page.locator("#ex-status")).to_have_text("FAILED")
    expect(page.locator("#events tbody tr")).to_have_count(6)
    sfn.redrive_execution(executionArn=arn)
    expect(page.locator("#ex-status")).to_have_text("RUNNING")
    expect(page.locator("#stop-button")).to_be_visible()
    _answer(sfn, activity, None)
    expect(page.locator("#ex-status")).to_have_text("SUCCEEDED")
    expect(page.locator("#events tbody")).to_contain_text("ExecutionRedriven")
    expect(page.locator("#states tbody tr .status")).to_have_text(["succeeded"])


def test_a_map_run_page_shows_the_redrive_of_its_execution(page: Any, sfn: Any) -> None:
    activity = sfn.create_activity(name="browser-redrive-map")["activityArn"]
    definition = {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Work",
                    "States": {"Work": {"Type": "Task", "Resource": activity, "End": True}},
                },
                "End": True,
            }
        },
    }
    machine = create_machine(sfn, "browser-redrive-map", definition)
    arn = sfn.start_execution(stateMachineArn=machine, input='{"items": [1]}')["executionArn"]
    _answer(sfn, activity, "Broken")
    assert wait_for_execution(sfn, arn)["status"] == "FAILED"
    (run,) = sfn.list_map_runs(executionArn=arn)["mapRuns"]
    page.goto(f"/console/map-run?arn={q(run['mapRunArn'])}")
    expect(page.locator("#run-status")).to_have_text("FAILED")
    sfn.redrive_execution(executionArn=arn)
    expect(page.locator("#run-status")).to_have_text("RUNNING")
    _answer(sfn, activity, None)
    expect(page.locator("#run-status")).to_have_text("SUCCEEDED")
    expect(page.locator('[data-count="items.succeeded"]')).to_have_text("1")
