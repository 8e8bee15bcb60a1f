"""S3 event notifications: an object written or deleted through the S3 API invokes the
Lambda functions its bucket's notification configuration names.

After a successful PutObject (``ObjectCreated:Put``), CopyObject (``:Copy``), POST Object
(``:Post``), CompleteMultipartUpload (``:CompleteMultipartUpload``), DeleteObject or each
key of DeleteObjects (``ObjectRemoved:Delete``), PutObjectTagging and DeleteObjectTagging
(``ObjectTagging:Put``, ``:Delete``) and a PutObjectAcl that changes the ACL
(``ObjectAcl:Put``), every rule of the bucket whose event types and key filter match
sends one event message (S3's structure, version 2.1, 2.3 for tagging and ACL events:
the key URL-encoded, ``size`` for created objects, ``eTag``, a ``sequencer``) to its
function as an asynchronous invocation, as S3 does. The invocation is queued durably
(``montemap.lambda_api.async_queue``) once the write is done, and the write is answered
only once the queue's row is committed (:meth:`Notifier.settle`): an event of a write
answered 200 is delivered, after a restart if the server was killed first, at least
once. A server killed between the write and that commit has written the object but
answered nothing (the client sees its request fail and may send it again); the event
of that write is not sent. Writes made inside the server (a state machine's ``aws-sdk:s3`` tasks, a
Distributed Map's ResultWriter) do not pass through the S3 API and send no event.

The assembly gives :class:`Notifier` its two ways to reach Lambda (``deliver`` and
``function_exists``); ``s3api`` itself does not import the Lambda API.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar

from montemap.errors import ApiError, MontemapError
from montemap.s3api.errors import S3Error
from montemap.s3api.xmlio import iso_time
from montemap.storage import ObjectStore, ObjectStoreError
from montemap.storage.notification_rules import Rule, event_key, rules_from_record
from montemap.storage.records import records_for

log = logging.getLogger("montemap.s3api")

__all__ = ["Notifier"]

#: Sends one event message (JSON text) to the function an ARN names.
Deliver = Callable[[str, str], None]

#: Whether the current request queued an event (its answer waits for the commit).
_QUEUED: ContextVar[bool] = ContextVar("montemap_s3_event_queued", default=False)


def _version(event_name: str) -> str:
    """The message's ``eventVersion``: S3 writes 2.3 for tagging and ACL events, 2.1 for
    objects created and removed."""
    return "2.3" if event_name.startswith(("ObjectTagging:", "ObjectAcl:")) else "2.1"


class Notifier:
    """The notification rules of a store's buckets, and their delivery."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        region: str,
        deliver: Deliver,
        function_exists: Callable[[str], bool],
        clock: Callable[[], float] = time.time,
        committed: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.records = records_for(store)
        #: Returns once what ``deliver`` wrote is committed (the server's database).
        self.committed = committed
        self.region = region
        self.deliver = deliver
        self.function_exists = function_exists
        self.clock = clock

    def rules(self, bucket: str) -> list[Rule]:
        """The bucket's rules (none when it has no configuration)."""
        return rules_from_record(self.records.bucket_notification(bucket))

    def check_destinations(self, rules: list[Rule]) -> None:
        """``InvalidArgument`` naming the functions that do not exist, as S3 refuses a
        configuration whose destinations it cannot validate."""
        missing = sorted(
            {r.function_arn for r in rules if not self.function_exists(r.function_arn)}
        )
        if missing:
            raise S3Error(
                "InvalidArgument",
                "Unable to validate the following destination configurations: no such "
                f"function: {', '.join(missing)}",
            )

    def emit(
        self,
        event_name: str,
        bucket: str,
        key: str,
        *,
        request_id: str,
        source_ip: str,
        size: int | None = None,
        etag: str | None = None,
    ) -> None:
        """Send ``event_name`` (``ObjectCreated:Put``...) of ``bucket/key`` to every
        matching rule's function; a bucket without rules costs one record read."""
        try:
            rules = [r for r in self.rules(bucket) if r.matches(event_name, key)]
        except ObjectStoreError:  # the bucket went away meanwhile: nothing to notify
            return
        for rule in rules:
            obj: dict[str, object] = {}
            if size is not None:
                obj["size"] = size
            if etag is not None:
                obj["eTag"] = etag.strip('"')
            message = self._message(rule, event_name, bucket, key, request_id, source_ip, obj)
            try:
                self.deliver(rule.function_arn, json.dumps(message))
                _QUEUED.set(True)
            except ApiError as exc:  # a function deleted since: S3 drops the event too
                log.warning(
                    "S3 event %s of s3://%s/%s not sent to %s: %s",
                    event_name,
                    bucket,
                    key,
                    rule.function_arn,
                    exc,
                )
            except MontemapError as exc:  # not queued (the database cannot commit)
                raise S3Error(
                    "InternalError",
                    f"s3://{bucket}/{key} was written but its event {event_name} could not "
                    f"be queued for {rule.function_arn}: {exc}",
                ) from None

    async def settle(self) -> None:
        """Return once the events this request queued are committed (await before
        answering it; at once when it queued none)."""
        if _QUEUED.get() and self.committed is not None:
            _QUEUED.set(False)
            await self.committed()

    def _message(
        self,
        rule: Rule,
        event_name: str,
        bucket: str,
        key: str,
        request_id: str,
        source_ip: str,
        obj: dict[str, object],
    ) -> dict[str, object]:
        """S3's event message (one record); ``obj`` adds ``size`` and ``eTag``."""
        now = self.clock()
        return {
            "Records": [
                {
                    "eventVersion": _version(event_name),
                    "eventSource": "aws:s3",
                    "awsRegion": self.region,
                    "eventTime": iso_time(now),
                    "eventName": event_name,
                    "userIdentity": {"principalId": "AWS:montemap"},
                    "requestParameters": {"sourceIPAddress": source_ip},
                    "responseElements": {
                        "x-amz-request-id": request_id,
                        "x-amz-id-2": request_id,
                    },
                    "s3": {
                        "s3SchemaVersion": "1.0",
                        "configurationId": rule.id,
                        "bucket": {
                            "name": bucket,
                            "ownerIdentity": {"principalId": "montemap"},
                            "arn": f"arn:aws:s3:::{bucket}",
                        },
                        "object": {
                            "key": event_key(key),
                            **obj,
                            "sequencer": f"{int(now * 1e9):018X}",
                        },
                    },
                }
            ]
        }
