"""One execution in progress: its frames, its history, its end.

A *frame* is a thread of control through a (sub) state machine: the top level,
a Parallel branch or an inline Map iteration. Each frame runs as an asyncio
task that takes one state at a time; every step commits its history events and
the frame's checkpoint in one transaction (see :mod:`montemap.engine.store`).
A restarted engine rebuilds an :class:`ExecutionRun` from the checkpoints and
continues each unfinished frame from the state it had reached."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from montemap.engine.clock import iso
from montemap.engine.dataflow import JSONPATH, MAX_PAYLOAD_BYTES, StateData, dumps
from montemap.engine.db import background
from montemap.engine.dbfail import DatabaseUnavailable, describe_error, is_storage_error
from montemap.engine.history import HISTORY_QUOTA_CAUSE, Event, payload_details
from montemap.engine.phase import TASK_KEYS, without
from montemap.engine.retry import (
    error_output,
    find_catcher,
    find_retrier,
    keep_also_matches,
    max_attempts,
    retry_delay,
)
from montemap.engine.run_end import end_later, end_record
from montemap.engine.store import FrameRow, UnstorableValue
from montemap.engine.timeouts import execution_timeout
from montemap.errors import (
    DATA_LIMIT_EXCEEDED,
    QUERY_EVALUATION_ERROR,
    RUNTIME,
    EvaluationError,
    MontemapError,
    StatesError,
)

if TYPE_CHECKING:
    from montemap.engine.engine import Engine

log = logging.getLogger(__name__)

#: Tries of a state whose step could not be saved (the database could not commit),
#: and the waits between them (seconds, doubling, on the engine's clock).
SAVE_ATTEMPTS = 8
#: AWS's quota on the events in one execution's history (a hard quota): an
#: execution that would pass it fails with ``States.Runtime``, uncatchable.
MAX_HISTORY_EVENTS = 25_000
SAVE_RETRY_FIRST = 0.1
SAVE_RETRY_MAX = 5.0
#: Tries of recording an execution's end while the database cannot commit.
END_ATTEMPTS = 30


@dataclass
class Outcome:
    """How a state ended: its output and the next state (None: the frame ends)."""

    output: Any
    next: str | None


class FrameFailed(MontemapError):
    """A frame ended with an error that nothing caught; ``err`` is that error."""

    def __init__(self, err: StatesError) -> None:
        super().__init__(str(err))
        self.err = err


class ExecutionRun:
    """Runs one execution's frames and writes its history."""

    def __init__(self, engine: Engine, row: Mapping[str, Any], *, new: bool = False) -> None:
        """``new``: the execution was just inserted, so it has no events yet (not read)."""
        self.engine = engine
        self.arn: str = row["arn"]
        self.row = dict(row)
        self.definition: dict[str, Any] = json.loads(row["definition"])
        self.query_language: str = self.definition.get("QueryLanguage", JSONPATH)
        self.last_event_id: int = 0 if new else engine.store.last_event_id(self.arn)
        #: The last event id an event may take: the quota's last place is kept for the
        #: execution's end (:meth:`end_once` opens it). One compare per commit.
        self.history_room: int = engine.max_history_events - 1
        self.frames: dict[str, FrameRow] = {}
        self.prev_event: dict[str, int] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        #: Events that go out with a frame's next checkpoint.
        self.pending: dict[str, list[Event]] = {}
        self.main: asyncio.Task[None] | None = None
        self.done = asyncio.Event()
        self.start_time: datetime = datetime.fromtimestamp(
            row["start_date"], engine.clock.now().tzinfo
        )

    # ------------------------------------------------------------------ context object
    @functools.cached_property
    def input_value(self) -> Any:
        """The execution's input, parsed once (shared: state data is never mutated in place)."""
        return json.loads(self.row["input"]) if self.row.get("input") else {}

    @functools.cached_property
    def start_iso(self) -> str:
        return iso(self.start_time)

    def context(self, frame: FrameRow, state_name: str, *, retry_count: int = 0) -> dict[str, Any]:
        entered = frame.phase.get("entered_time")
        ctx: dict[str, Any] = {
            "Execution": {
                "Id": self.arn,
                "Input": self.input_value,
                "Name": self.row["name"],
                "RoleArn": self.row.get("role_arn") or "",
                "StartTime": self.start_iso,
                "RedriveCount": self.row.get("redrive_count", 0),
            },
            "StateMachine": {
                "Id": self.row["state_machine_arn"],
                "Name": self.row["state_machine_name"],
            },
            "State": {
                "Name": state_name,
                "EnteredTime": entered or iso(self.engine.clock.now()),
                "RetryCount": retry_count,
            },
        }
        if "map_item" in frame.phase:
            ctx["Map"] = {"Item": frame.phase["map_item"]}
        return ctx

    def machine(self, pointer: str) -> dict[str, Any]:
        node: Any = self.definition
        for part in pointer.split("/")[1:] if pointer else []:
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ history
    def commit(
        self,
        frame: FrameRow | None,
        events: list[Event],
        *,
        frames: list[FrameRow] | None = None,
        execution: dict[str, Any] | None = None,
        checkpoint: bool = True,
        follows: str | None = None,
    ) -> int:
        """Append ``events`` and checkpoint frames in one transaction; first event id.

        Without ``frame``, the first event follows the last event of frame ``follows``
        (a key) when given, else the history's last event.

        Events buffered for ``frame`` (a state's Exited event waits for the
        frame's next checkpoint) go first, in the same transaction. With
        ``checkpoint=False`` the caller vouches that ``frame`` has not changed
        since its last checkpoint (only events are written).

        Events that would not fit the history quota are not written: the
        execution fails instead (``States.Runtime``, see :meth:`history_full`);
        only the execution's end event may take the quota's last place.
        """
        if frame is not None and frame.key in self.pending:
            events = self.pending.pop(frame.key) + events
            checkpoint = True  # buffered events go out with a checkpoint
        if self.last_event_id + len(events) > self.history_room:
            self.history_full()
            return self.last_event_id + 1
        now = self.engine.clock.now()
        first = self.last_event_id + 1
        batch = []
        key = frame.key if frame is not None else follows
        prev = self.last_event_id if key is None else self.prev_event.get(key, self.last_event_id)
        for i, ev in enumerate(events):
            batch.append((ev, prev, now))
            prev = first + i
        to_save = list(frames or [])
        if frame is not None and checkpoint and frame not in to_save:
            to_save.append(frame)
        self.engine.store.commit(
            self.arn, first_event_id=first, events=batch, frames=to_save, execution=execution
        )
        self.last_event_id += len(events)
        if frame is not None and events:
            self.prev_event[frame.key] = self.last_event_id
        if events:
            self.engine.notify_history(self.arn)
        return first

    # ------------------------------------------------------------------ lifecycle
    def start_new(
        self,
        input_value: Any,
        *,
        input_text: str | None = None,
        started: dict[str, str] | None = None,
    ) -> None:
        """Record ExecutionStarted (``started``: more members for its details) and the
        top-level frame, then run. ``input_text``: ``input_value``'s compact JSON, if known."""
        top = FrameRow(
            key="",
            parent_key=None,
            machine="",
            state=self.definition["StartAt"],
            input=input_value,
            variables={},
            phase={},
            input_json=None if input_text is None else (input_value, input_text),
        )
        self.frames[""] = top
        details = {
            **payload_details("input", self.row["input"] or "{}"),
            "roleArn": self.row.get("role_arn") or "",
        }
        details.update(started or {})
        # The first state's Entered event (what run_frame would commit next) goes out with
        # ExecutionStarted: one step, one commit, the same events.
        name = top.state
        assert name is not None
        entered = {
            "name": name,
            **payload_details("input", self.engine.store.input_text(self.arn, top)),
        }
        top.phase = {
            "entered_time": iso(self.engine.clock.now()),
            "entered": self.last_event_id + 2,
        }
        state_type = self.definition["States"][name]["Type"]
        self.commit(
            top, [Event("ExecutionStarted", details), Event(f"{state_type}StateEntered", entered)]
        )
        self.launch()

    def resume(self, frames: dict[str, FrameRow]) -> None:
        self.frames = frames
        self.launch()

    def launch(self) -> None:
        if self.done.is_set():  # ended before it ran: a redrive whose event did not fit
            if self.engine.runs.get(self.arn) is self:
                del self.engine.runs[self.arn]
            return
        self.main = asyncio.create_task(self._main(), name=f"execution {self.arn}")

    async def _main(self) -> None:
        background.set(True)  # this task's writes join a group being retried (see db)
        top = self.frames[""]
        timeout = execution_timeout(self.definition, self.row)
        watchdog: asyncio.Task[None] | None = None
        if timeout is not None:
            # A redriven execution gets its TimeoutSeconds again from the redrive.
            began = self.row.get("redrive_date")
            since = (
                datetime.fromtimestamp(began, self.start_time.tzinfo) if began else self.start_time
            )
            deadline = since + timedelta(seconds=timeout)
            watchdog = asyncio.create_task(self._watchdog(deadline))
        try:
            output = await self.run_frame(top)
        except FrameFailed as failed:
            self.finish("FAILED", error=failed.err.error, cause=failed.err.cause)
        except StatesError as err:  # a step that could not be saved, even as a failure
            self.finish("FAILED", error=err.error, cause=err.cause)
        except asyncio.CancelledError:
            if not self.done.is_set():
                raise
        except Exception as exc:  # a bug must fail the execution, not hang it
            log.exception("execution %s crashed", self.arn)
            self.finish("FAILED", error=RUNTIME, cause=f"Internal error: {exc!r}")
        else:
            self.finish("SUCCEEDED", output=output, before=self.pending.pop("", []))
        finally:
            if watchdog is not None:
                watchdog.cancel()

    async def _watchdog(self, deadline: datetime) -> None:
        await self.engine.clock.sleep_until(deadline)
        if not self.done.is_set():
            self.finish("TIMED_OUT", error=None, cause=None)
            if self.main is not None:
                self.main.cancel()

    def _end_takes_exit(self, frame: FrameRow, end_events: tuple[Event, ...]) -> bool:
        """Whether the top frame's last Exited event goes out with the execution's end,
        which follows at once (no await) and deletes the checkpoints: then no last
        checkpoint is built. Not when it would take the history quota's last place."""
        return (
            frame.key == ""
            and not end_events
            and self.last_event_id + len(self.pending.get("", ())) <= self.history_room
        )

    def end_once(self) -> bool:
        """Mark the execution ended and cancel its frames; False if it already was."""
        if self.done.is_set():
            return False
        self.done.set()
        self.history_room = self.engine.max_history_events  # the end's place
        for task in list(self.tasks):
            task.cancel()
        return True

    def fail_unsaved(self, cause: str) -> None:
        """A step's write was refused at commit: end the execution (States.Runtime)."""
        self.abort(cause)

    def abort(self, cause: str) -> None:
        """End the execution FAILED with ``States.Runtime``, past any Catch."""
        if self.done.is_set():
            return
        self.finish("FAILED", error=RUNTIME, cause=cause)
        if self.main is not None:
            self.main.cancel()

    def history_full(self) -> None:
        """Events would pass the history quota: fail the execution, past any Catch.

        Called from :meth:`commit` in whatever task wrote (a frame, a worker's poll,
        a timer), maybe inside a transaction: it records the end and cancels the
        frames but raises nothing, and the events that did not fit are dropped.
        The frame loops (:meth:`run_frame`'s states, :meth:`run_state`'s retries) check
        ``done`` and stop at once, even where nothing awaits (no retry interval left).
        """
        self.abort(
            f"{HISTORY_QUOTA_CAUSE} "
            f"({self.engine.max_history_events}). Split the work: start a new execution to "
            "continue, or use a Distributed Map, whose child executions have histories of "
            "their own."
        )

    def finish(
        self,
        status: str,
        *,
        output: Any = None,
        error: str | None = None,
        cause: str | None = None,
        abort: bool = False,
        before: list[Event] | None = None,
    ) -> None:
        """Record the execution's end (once); ``before``: events that go out first, in
        the same commit (the top frame's last Exited event, see :meth:`_end_takes_exit`).

        From a request (StopExecution) while the database cannot commit, this
        raises :class:`DatabaseUnavailable` and nothing ends. From the
        execution itself, an end that cannot be saved yet is retried.
        """
        failure = self.engine.db.failure
        if failure is not None and not background.get():
            raise DatabaseUnavailable(self.engine.db.path, failure)
        if not self.end_once():
            return
        now = self.engine.clock.now()
        event, fields = end_record(status, now, output=output, error=error, cause=cause)
        events = [*(before or ()), event]
        follows = "" if before else None  # the Exited event follows the top frame's last
        try:
            with self.engine.db.transaction():  # the end and the tidying: one savepoint
                try:
                    self.commit(None, events, execution=fields, follows=follows)
                except UnstorableValue as err:  # the output or cause: end FAILED, saying why
                    event, fields = end_record("FAILED", now, error=err.error, cause=err.cause)
                    events, follows = [event], None
                    self.commit(None, events, execution=fields)
                    status = "FAILED"
                self.tidy(status)
        except Exception as exc:
            if not is_storage_error(exc):
                raise
            self.spawn(end_later(self, status, events, fields, follows))
            return
        self.engine.execution_finished(self, fields)

    def tidy(self, status: str) -> None:
        """With the end's transaction: drop what the ended execution no longer needs."""
        if status == "SUCCEEDED":  # other ends keep their checkpoints for a redrive
            self.engine.store.delete_frames(self.arn)
        self.engine.activities_closed_for(self.arn)

    # ------------------------------------------------------------------ frames
    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def run_frame(self, frame: FrameRow, *, end_events: tuple[Event, ...] = ()) -> Any:
        """Run states from ``frame.state`` until the frame ends; return its output.

        ``end_events`` go out with the frame's last checkpoint when it succeeds
        (a Map iteration's MapIterationSucceeded: one commit instead of two).
        """
        from montemap.engine.states import HANDLERS

        machine = self.machine(frame.machine)
        states: dict[str, Any] = machine["States"]
        while True:
            name = frame.state
            assert name is not None
            state = states[name]
            language = (
                state.get("QueryLanguage") or machine.get("QueryLanguage") or self.query_language
            )
            if "entered" not in frame.phase:
                # The Entered event goes out with the previous state's Exited event and
                # the frame's move to this state: one transaction per transition.
                entered_id = self.last_event_id + len(self.pending.get(frame.key, ())) + 1
                frame.phase = {
                    "entered_time": iso(self.engine.clock.now()),
                    "entered": entered_id,
                }
                self.commit(
                    frame,
                    [
                        Event(
                            f"{state['Type']}StateEntered",
                            {
                                "name": name,
                                **payload_details(
                                    "input", self.engine.store.input_text(self.arn, frame)
                                ),
                            },
                        )
                    ],
                )
                if self.done.is_set():  # ended (the history quota): stop, even unawaited
                    raise asyncio.CancelledError
            try:
                outcome = await self.run_state_saved(
                    frame, name, state, language, HANDLERS[state["Type"]]
                )
            except StatesError as err:
                self.fail_frame(frame, name, state, err)
                raise FrameFailed(err) from None
            if outcome.next is None:
                frame.state = None
                frame.status = "SUCCEEDED"
                frame.output = outcome.output
                frame.phase = {}
                if not self._end_takes_exit(frame, end_events):
                    self.commit(frame, list(end_events))
                return outcome.output
            frame.state = outcome.next
            frame.input = outcome.output
            frame.phase = {}

    async def run_state_saved(
        self, frame: FrameRow, name: str, state: Mapping[str, Any], language: str, handler: Any
    ) -> Outcome:
        """:meth:`run_state`, taken again from the frame's checkpoint when a step could
        not be saved (the database cannot commit): ``SAVE_ATTEMPTS`` times with backoff
        on the engine's clock, then ``States.Runtime`` naming the failure."""
        for attempt in range(SAVE_ATTEMPTS):
            phase = frame.phase.copy()  # the step as checkpointed: taken again from here
            try:
                return await self.run_state(frame, name, state, language, handler)
            except Exception as exc:
                if not is_storage_error(exc):
                    raise
                frame.phase = phase
                if attempt + 1 == SAVE_ATTEMPTS:
                    raise StatesError(
                        RUNTIME,
                        f"The state '{name}' could not be saved after {SAVE_ATTEMPTS} "
                        f"attempts: {describe_error(exc)}",
                    ) from None
                delay = min(SAVE_RETRY_MAX, SAVE_RETRY_FIRST * 2**attempt)
                log.warning("execution %s: state %r not saved, retrying", self.arn, name)
                await self.engine.clock.sleep_until(
                    self.engine.clock.now() + timedelta(seconds=delay)
                )
        raise AssertionError("unreachable")

    def fail_frame(
        self, frame: FrameRow, name: str, state: Mapping[str, Any], err: StatesError
    ) -> None:
        frame.status, frame.error, frame.cause = "FAILED", err.error, err.cause
        keep_also_matches(frame.phase, err)
        self.commit(frame, [])

    def state_error(self, frame: FrameRow, name: str, err: StatesError) -> StatesError:
        """Prefix an evaluation error's cause with the state and its entered event id."""
        if isinstance(err, EvaluationError) and not getattr(err, "prefixed", False):
            cause = (
                f"An error occurred while executing the state '{name}' "
                f"(entered at the event id #{frame.phase.get('entered')}). {err.cause or ''}"
            ).rstrip()
            new = EvaluationError(err.error, cause)
            new.prefixed = True  # type: ignore[attr-defined]
            new.location = getattr(err, "location", None)  # type: ignore[attr-defined]
            return new
        return err

    async def run_state(
        self, frame: FrameRow, name: str, state: Mapping[str, Any], language: str, handler: Any
    ) -> Outcome:
        """One state with its Retry and Catch, and the Exited event."""
        retriers = state.get("Retry", []) or []
        catchers = state.get("Catch", []) or []
        while True:
            retry_at = frame.phase.get("retry_at")
            if retry_at is not None:
                await self.engine.clock.sleep_until(datetime.fromisoformat(retry_at))
                frame.phase.pop("retry_at", None)
                frame.phase["attempt"] = frame.phase.get("attempt", 0) + 1
                self.commit(frame, [])
            retry_count = int(frame.phase.get("retry_total", 0))
            data = StateData(
                language=language,
                raw_input=frame.input,
                context=self.context(frame, name, retry_count=retry_count),
                variables=frame.variables,
                state_name=name,
            )
            try:
                outcome: Outcome = await handler(self, frame, name, state, data)
                text = self.check_size(name, outcome.output)
            except StatesError as raw:
                err = self.state_error(frame, name, raw)
                if err.error == QUERY_EVALUATION_ERROR and isinstance(err, EvaluationError):
                    details: dict[str, Any] = {
                        "error": err.error,
                        "cause": err.cause or "",
                        "state": name,
                    }
                    location = getattr(err, "location", None)
                    if location:
                        details["location"] = location
                    self.commit(frame, [Event("EvaluationFailed", details)])
                if err.error in (RUNTIME, DATA_LIMIT_EXCEEDED):
                    raise err
                found = find_retrier(retriers, err)
                if found is not None:
                    index, retrier = found
                    counts: dict[str, int] = frame.phase.setdefault("retries", {})
                    done = counts.get(str(index), 0)
                    if done < max_attempts(retrier):
                        delay = retry_delay(retrier, done)
                        counts[str(index)] = done + 1
                        self.engine.metrics["state_retries"] += 1
                        frame.phase["retry_total"] = retry_count + 1
                        when = self.engine.clock.now() + timedelta(seconds=delay)
                        frame.phase["retry_at"] = when.isoformat()
                        frame.phase = without(frame.phase, TASK_KEYS)
                        self.commit(frame, [])
                        if self.done.is_set():  # ended (the history quota), maybe unawaited
                            raise asyncio.CancelledError
                        continue
                if state["Type"] in ("Map", "Parallel"):
                    self.commit(frame, [Event(f"{state['Type']}StateFailed")])
                catcher = find_catcher(catchers, err)
                if catcher is None:
                    raise err
                data.variables = frame.variables
                output = await data.catch_output(catcher, error_output(err))
                await data.assign(catcher.get("Assign"), error_output(err))
                self.exit_state(frame, name, state, output, data)
                return Outcome(output, catcher["Next"])
            self.exit_state(frame, name, state, outcome.output, data, text=text)
            return outcome

    def exit_state(
        self,
        frame: FrameRow,
        name: str,
        state: Mapping[str, Any],
        output: Any,
        data: StateData,
        *,
        text: str | None = None,
    ) -> None:
        """Buffer the Exited event (``text``: ``output`` already encoded, if it was)."""
        if data.assigned:
            frame.variables = {**frame.variables, **data.assigned}
        if text is None:
            text = dumps(output)
        details: dict[str, Any] = {"name": name, **payload_details("output", text)}
        if data.assigned:
            details["assignedVariables"] = {k: dumps(v) for k, v in data.assigned.items()}
            details["assignedVariablesDetails"] = {"truncated": False}
        self.pending.setdefault(frame.key, []).append(Event(f"{state['Type']}StateExited", details))

    def check_size(self, name: str, value: Any) -> str:
        """``value`` as JSON text, refused over the payload limit."""
        text = dumps(value)
        if len(text) > MAX_PAYLOAD_BYTES // 4 and len(text.encode()) > MAX_PAYLOAD_BYTES:
            raise StatesError(
                DATA_LIMIT_EXCEEDED,
                f"The state/task '{name}' returned a result with a size exceeding the maximum "
                "number of bytes service limit.",
            )
        return text
