"""What S3 answers when a write's event cannot be queued: a function deleted since drops
the event (as S3 does); a queue that cannot take it (the database cannot commit) fails
the request instead of answering 200 for an event that will never be sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from montemap.engine.dbfail import DatabaseUnavailable
from montemap.errors import ApiError
from montemap.s3api.errors import S3Error
from montemap.s3api.notifications import Notifier
from montemap.storage import LocalObjectStore
from montemap.storage.notification_rules import Rule, rules_record
from montemap.storage.records import records_for

ARN = "arn:aws:lambda:us-east-1:123456789012:function:f"


def _notifier(tmp_path: Path, failure: Exception) -> Notifier:
    store = LocalObjectStore(tmp_path / "buckets")
    store.create_bucket("events")
    rule = Rule(id="r", function_arn=ARN, events=("s3:ObjectCreated:*",))
    records_for(store).put_bucket_notification("events", rules_record([rule]))

    def deliver(arn: str, event: str) -> None:
        raise failure

    return Notifier(store, region="us-east-1", deliver=deliver, function_exists=lambda _: True)


def test_an_event_for_a_deleted_function_is_dropped(tmp_path: Path) -> None:
    notifier = _notifier(tmp_path, ApiError("ResourceNotFoundException", "gone", status=404))
    notifier.emit("ObjectCreated:Put", "events", "k", request_id="r", source_ip="127.0.0.1")


def test_an_event_the_queue_cannot_take_fails_the_write(tmp_path: Path) -> None:
    failure = DatabaseUnavailable("m.db", OSError(28, "No space left on device"))
    notifier = _notifier(tmp_path, failure)
    with pytest.raises(S3Error) as refused:
        notifier.emit("ObjectCreated:Put", "events", "k", request_id="r", source_ip="127.0.0.1")
    assert refused.value.code == "InternalError"
    assert "could not be queued" in refused.value.message
