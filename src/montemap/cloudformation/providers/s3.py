"""AWS::S3::Bucket: buckets of the object store the engine, S3 API and functions share.

Deleting a bucket that still holds objects keeps it (and says so in the
stack's events) unless the template asks for ``DeletionPolicy: Delete``
explicitly: the stack did not create those objects, so it does not destroy them.
"""

from __future__ import annotations

import asyncio

from montemap.cloudformation.errors import NeedsReplacement, ResourceFailure
from montemap.cloudformation.providers.base import Outcome, Request
from montemap.cloudformation.providers.s3_settings import apply_settings
from montemap.storage.base import ObjectStoreError, iter_keys


def _attributes(name: str, region: str) -> dict[str, str]:
    return {
        "Arn": f"arn:aws:s3:::{name}",
        "DomainName": f"{name}.s3.amazonaws.com",
        "RegionalDomainName": f"{name}.s3.{region}.amazonaws.com",
        "DualStackDomainName": f"{name}.s3.dualstack.{region}.amazonaws.com",
        "WebsiteURL": f"http://{name}.s3-website-{region}.amazonaws.com",
    }


class BucketProvider:
    async def create(self, request: Request) -> Outcome:
        objects = request.services.objects
        name = request.properties.get("BucketName") or request.generated_name(limit=63, lower=True)
        name = str(name)
        if await asyncio.to_thread(objects.bucket_exists, name):
            raise ResourceFailure(f"{name} already exists")
        try:
            await asyncio.to_thread(objects.create_bucket, name)
        except ObjectStoreError as exc:
            raise ResourceFailure(f"Bucket {name} could not be created: {exc}")
        try:
            await apply_settings(request, name)
        except ResourceFailure:
            await asyncio.to_thread(objects.delete_bucket, name)
            raise
        return Outcome(name, _attributes(name, request.services.region))

    async def update(self, request: Request) -> Outcome:
        old_name = request.physical_id
        wanted = request.properties.get("BucketName")
        if wanted is not None and str(wanted) != old_name:
            raise NeedsReplacement(f"BucketName changes from {old_name} to {wanted}")
        await apply_settings(request, old_name)
        return Outcome(old_name, _attributes(old_name, request.services.region))

    async def delete(self, request: Request) -> None:
        objects = request.services.objects
        name = request.physical_id
        if not await asyncio.to_thread(objects.bucket_exists, name):
            return
        held = await asyncio.to_thread(lambda: list(iter_keys(objects, name)))
        if held and request.attributes.get("_DeletionPolicy") != "Delete":
            request.notes.append(
                f"Bucket {name} holds {len(held)} objects: retained (set DeletionPolicy: Delete "
                "to delete a bucket with its objects)"
            )
            return
        for key in held:
            await asyncio.to_thread(objects.delete, name, key)
        try:
            await asyncio.to_thread(objects.delete_bucket, name)
        except ObjectStoreError as exc:
            raise ResourceFailure(f"Bucket {name} could not be deleted: {exc}")
