"""AWS::IAM::Role, ::Policy, ::RolePolicy, ::ManagedPolicy and ::InstanceProfile: records,
never enforced."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from montemap.cloudformation.errors import NeedsReplacement, ResourceFailure
from montemap.cloudformation.iam import IamStore
from montemap.cloudformation.providers.base import Outcome, Request, calling, required
from montemap.errors import ApiError


def _iam(request: Request) -> IamStore:
    store: IamStore = request.services.iam
    return store


async def _sync(call: Any, *args: Any) -> Any:
    return call(*args)


def _checked(call: Any, *args: Any) -> None:
    """A record change; IAM's refusal (no such role) becomes the resource's failure."""
    try:
        call(*args)
    except ApiError as exc:
        raise ResourceFailure(f"{exc.message} (Service: IAM, {exc.code})")


class RoleProvider:
    async def create(self, request: Request) -> Outcome:
        iam = _iam(request)
        props = request.properties
        name = str(props.get("RoleName") or request.generated_name(limit=64))
        path = str(props.get("Path") or "/")
        trust = props.get("AssumeRolePolicyDocument")
        policies = props.get("Policies") or []
        if not isinstance(policies, list) or not all(
            isinstance(p, dict) and p.get("PolicyName") for p in policies
        ):
            raise ResourceFailure(
                "Properties validation failed: Policies must be a list of "
                "{PolicyName, PolicyDocument}"
            )
        role = await calling(
            lambda: _sync(
                lambda: iam.create_role(
                    name, trust, path=path, description=str(props.get("Description", ""))
                )
            )
        )
        for policy in policies:
            iam.put_role_policy(name, str(policy.get("PolicyName")), policy.get("PolicyDocument"))
        for arn in props.get("ManagedPolicyArns") or []:
            iam.attach_role_policy(name, str(arn))
        return Outcome(name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})

    async def update(self, request: Request) -> Outcome:
        name = request.physical_id
        if request.properties.get("RoleName") not in (None, name):
            raise NeedsReplacement("RoleName cannot change (a replacement)")
        await self.delete(request)
        request.physical_id = ""
        request.properties = {**request.properties, "RoleName": name}
        return await self.create(request)

    async def delete(self, request: Request) -> None:
        _iam(request).delete_role(request.physical_id)


class PolicyProvider:
    """AWS::IAM::Policy: an inline policy put on each role it names."""

    async def create(self, request: Request) -> Outcome:
        iam = _iam(request)
        name = str(required(request, "PolicyName"))
        document = required(request, "PolicyDocument")
        for role in request.properties.get("Roles") or []:
            _checked(iam.put_role_policy, str(role), name, document)
        physical = request.generated_name(limit=64)
        return Outcome(physical, {"Id": physical})

    async def update(self, request: Request) -> Outcome:
        await self.delete(request)
        return await self.create(request)

    async def delete(self, request: Request) -> None:
        iam = _iam(request)
        name = str(request.old_properties.get("PolicyName") or request.properties.get("PolicyName"))
        roles = request.old_properties.get("Roles") or request.properties.get("Roles") or []
        for role in roles:
            iam.delete_role_policy(str(role), name)


class RolePolicyProvider:
    """AWS::IAM::RolePolicy: one inline policy of one role; its id ``PolicyName|RoleName``
    (a compound identifier, as CloudFormation joins them)."""

    async def create(self, request: Request) -> Outcome:
        role = str(required(request, "RoleName"))
        name = str(required(request, "PolicyName"))
        document = request.properties.get("PolicyDocument") or {}
        _checked(_iam(request).put_role_policy, role, name, document)
        return Outcome(f"{name}|{role}", {})

    async def update(self, request: Request) -> Outcome:
        old = request.old_properties
        for key in ("RoleName", "PolicyName"):
            if old.get(key) not in (None, request.properties.get(key)):
                raise NeedsReplacement(f"{key} cannot change (a replacement)")
        return await self.create(request)

    async def delete(self, request: Request) -> None:
        name, _, role = request.physical_id.partition("|")
        _iam(request).delete_role_policy(role, name)


class ManagedPolicyProvider:
    async def create(self, request: Request) -> Outcome:
        iam = _iam(request)
        name = str(request.properties.get("ManagedPolicyName") or request.generated_name())
        path = str(request.properties.get("Path") or "/")
        arn = f"arn:aws:iam::{request.services.account}:policy{path}{name}"
        iam.put_record(arn, "policy", {"Arn": arn, **request.properties})
        for role in request.properties.get("Roles") or []:
            _checked(iam.attach_role_policy, str(role), arn)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        attributes = {
            "PolicyArn": arn,
            "PolicyId": "ANPA" + hashlib.sha1(arn.encode()).hexdigest()[:17].upper(),
            "DefaultVersionId": "v1",
            "IsAttachable": "true",
            "AttachmentCount": str(len(request.properties.get("Roles") or [])),
            "PermissionsBoundaryUsageCount": "0",
            "CreateDate": now,
            "UpdateDate": now,
        }
        return Outcome(arn, attributes)

    async def update(self, request: Request) -> Outcome:
        await self.delete(request)
        request.physical_id = ""
        return await self.create(request)

    async def delete(self, request: Request) -> None:
        iam = _iam(request)
        for role in request.old_properties.get("Roles") or request.properties.get("Roles") or []:
            iam.detach_role_policy(str(role), request.physical_id)
        iam.drop_record(request.physical_id)


class InstanceProfileProvider:
    async def create(self, request: Request) -> Outcome:
        name = str(request.properties.get("InstanceProfileName") or request.generated_name())
        arn = f"arn:aws:iam::{request.services.account}:instance-profile/{name}"
        _iam(request).put_record(arn, "instance-profile", {"Arn": arn, **request.properties})
        return Outcome(name, {"Arn": arn})

    async def update(self, request: Request) -> Outcome:
        return await self.create(request)

    async def delete(self, request: Request) -> None:
        arn = f"arn:aws:iam::{request.services.account}:instance-profile/{request.physical_id}"
        _iam(request).drop_record(arn)
