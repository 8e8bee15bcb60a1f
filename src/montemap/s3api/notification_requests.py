"""``?notification``: GetBucketNotificationConfiguration and PutBucketNotificationConfiguration.

The configuration is checked (:mod:`.notification_config`) and, unless the request
says ``x-amz-skip-destination-validation: true``, each function it names must exist,
as S3 validates destinations; it is kept with the bucket (the local store's bucket
record) and used by :class:`~montemap.s3api.notifications.Notifier`. An empty
configuration removes it.
"""

from __future__ import annotations

from montemap.s3api.context import S3Context
from montemap.s3api.errors import S3Error
from montemap.s3api.notification_config import configuration_xml, parse_configuration
from montemap.s3api.request import S3Request
from montemap.s3api.response import S3Response, xml_response
from montemap.storage.notification_rules import rules_from_record, rules_record
from montemap.storage.records import records_for


async def serve(ctx: S3Context, req: S3Request, body: bytes | None) -> S3Response:
    if not req.bucket or req.key:
        raise S3Error("InvalidRequest", "?notification is a bucket's sub-resource")
    records = records_for(ctx.store)
    if req.method == "GET":
        record = await ctx.call(records.bucket_notification, req.bucket)
        return xml_response(configuration_xml(rules_from_record(record)))
    if req.method != "PUT":
        raise S3Error(
            "MethodNotAllowed", f"The specified method ({req.method}) is not allowed here."
        )
    rules = parse_configuration(body or b"")
    if rules and ctx.notifier is None:
        raise S3Error("NotImplemented", "this server sends no event notifications (no Lambda)")
    if ctx.notifier is not None and req.header("x-amz-skip-destination-validation") != "true":
        ctx.notifier.check_destinations(rules)
    await ctx.call(records.put_bucket_notification, req.bucket, rules_record(rules))
    return S3Response(200)
