"""The IAM query API (version 2010-05-08) over :class:`~montemap.cloudformation.iam.IamStore`.

Roles, their inline and attached policies, customer managed policies (one
version, ``v1``) and the roles they are attached to, role tags, and the
instance profiles templates create (read only), with the checks and error codes IAM's API reference gives: names match
``[\\w+=,.@-]+`` (roles 1-64, policies 1-128), paths are ``/`` or ``/.../``,
policy documents must be JSON (``MalformedPolicyDocument``), a missing entity
is ``NoSuchEntity`` (404), a duplicate ``EntityAlreadyExists`` (409), and a
role that still has policies is not deleted (``DeleteConflict``, 409). Lists
page with ``MaxItems`` (1-1000, default 100) and an opaque ``Marker``.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import string
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from montemap.errors import ApiError

if TYPE_CHECKING:
    from montemap.cloudformation.iam import IamStore

T = TypeVar("T")
Action = Callable[["IamStore", dict[str, Any]], dict[str, Any]]

_NAME = re.compile(r"[\w+=,.@-]+", re.ASCII)
_PATH = re.compile(r"/|/[\x21-\x7e]+/")
_PATH_PATTERN = r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)"
_POLICY_ARN = re.compile(r"arn:aws[\w-]*:iam::(aws|\d{12}):policy(/.*)")


def _invalid(field: str, value: object, constraint: str) -> ApiError:
    return ApiError(
        "ValidationError",
        f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy "
        f"constraint: {constraint}",
        status=400,
    )


def _required(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if value is None or value == "":
        raise ApiError("ValidationError", f"{key} is required", status=400)
    return str(value)


def _name(params: dict[str, Any], key: str, longest: int) -> str:
    value = _required(params, key)
    field = key[:1].lower() + key[1:]
    if len(value) > longest:
        raise _invalid(field, value, f"Member must have length less than or equal to {longest}")
    if not _NAME.fullmatch(value):
        raise _invalid(field, value, "Member must satisfy regular expression pattern: [\\w+=,.@-]+")
    return value


def _path(params: dict[str, Any], key: str = "Path") -> str:
    value = str(params.get(key) or "/")
    field = key[:1].lower() + key[1:]
    if len(value) > 512:
        raise _invalid(field, value, "Member must have length less than or equal to 512")
    if not _PATH.fullmatch(value):
        raise _invalid(
            field, value, f"Member must satisfy regular expression pattern: {_PATH_PATTERN}"
        )
    return value


def _policy_document(params: dict[str, Any], key: str) -> str:
    """The document's text, once it is known to be a JSON object."""
    text = _required(params, key)
    try:
        document = json.loads(text)
    except ValueError:
        raise ApiError("MalformedPolicyDocument", "This policy contains invalid Json", status=400)
    if not isinstance(document, dict):
        raise ApiError("MalformedPolicyDocument", "Syntax errors in policy.", status=400)
    return text


def _page(items: Sequence[T], key: Callable[[T], str], params: dict[str, Any]) -> dict[str, Any]:
    """One page of ``items`` (sorted by ``key``): those from ``Marker`` on, ``MaxItems`` of them.

    The marker is the key of the page's successor, so deleting entries between
    calls neither repeats nor skips the rest."""
    size = params.get("MaxItems")
    size = 100 if size in (None, "") else int(size)
    if not 1 <= size <= 1000:
        raise _invalid("maxItems", size, "Member must have value between 1 and 1000")
    marker = str(params.get("Marker") or "")
    rest = [item for item in items if key(item) >= marker] if marker else list(items)
    page: dict[str, Any] = {"Items": rest[:size], "IsTruncated": len(rest) > size}
    if page["IsTruncated"]:
        page["Marker"] = key(rest[size])
    return page


def _paged(
    field: str, items: Sequence[T], key: Callable[[T], str], params: dict[str, Any]
) -> dict[str, Any]:
    page = _page(items, key, params)
    page[field] = page.pop("Items")
    return page


def _tags(params: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {"Key": str(t.get("Key")), "Value": str(t.get("Value") or "")}
        for t in params.get("Tags") or []
        if isinstance(t, dict)
    ]


# ---------------------------------------------------------------------------- roles


def _get_role(iam: IamStore, params: dict[str, Any]) -> dict[str, Any]:
    return {"Role": iam.get_role(_required(params, "RoleName"))}


def _session_duration(params: dict[str, Any]) -> int | None:
    value = params.get("MaxSessionDuration")
    if value in (None, ""):
        return None
    seconds = int(value)
    if not 3600 <= seconds <= 43200:
        raise _invalid(
            "maxSessionDuration", seconds, "Member must have value between 3600 and 43200"
        )
    return seconds


def _description(params: dict[str, Any]) -> str | None:
    value = params.get("Description")
    if value is not None and len(str(value)) > 1000:
        raise _invalid("description", value, "Member must have length less than or equal to 1000")
    return None if value is None else str(value)


def _create_role(iam: IamStore, params: dict[str, Any]) -> dict[str, Any]:
    name = _name(params, "RoleName", 64)
    path = _path(params)
    trust = _policy_document(params, "AssumeRolePolicyDocument")
    description = _description(params)
    duration = _session_duration(params)
    taken = next((r for r in iam.list_roles() if r["RoleName"].lower() == name.lower()), None)
    if taken is not None:  # role names are not distinguished by case
        raise ApiError(
            "EntityAlreadyExists", f"Role with name {taken['RoleName']} already exists.", status=409
        )
    role = iam.create_role(name, trust, path=path, description=description or "")
    if description is None:
        role.pop("Description", None)  # IAM shows no Description where none was given
    if duration is not None:
        role["MaxSessionDuration"] = duration
    if params.get("Tags"):
        role["Tags"] = _tags(params)
    if params.get("PermissionsBoundary"):
        boundary = str(params["PermissionsBoundary"])
        role["PermissionsBoundary"] = {
            "PermissionsBoundaryType": "Policy",
            "PermissionsBoundaryArn": boundary,
        }
    iam.save_role(role)
    return {"Role": role}


def _delete_role(iam: IamStore, params: dict[str, Any]) -> dict[str, Any]:
    name = _required(params, "RoleName")
    iam.get_role(name)
    if iam.role_policies(name):
        raise ApiError(
            "DeleteConflict", "Cannot delete entity, must delete policies first.", status=409
        )
    if iam.attached_policies(name):
        raise ApiError(
            "DeleteConflict", "Cannot delete entity, must detach all policies first.", status=409
        )
    if _profiles_of(iam, name):
        raise ApiError(
            "DeleteConflict",
            "Cannot delete entity, must remove roles from instance profile first.",
            status=409,
        )
    iam.delete_role(name)
    return {}


def _list_roles(iam: IamStore, params: dict[str, Any]) -> dict[str, Any]:
    roles = iam.list_roles(str(params.get("PathPrefix") or "/"))
    listed = [{k: v for k, v in r.items() if k != "Tags"} for r in roles]  # as ListRoles
    return _paged("Roles", listed, lambda r: str(r["RoleName"]), params)


def _update_role(iam: IamStore, params: dict[str, Any]) -> dict[str, Any]:
    role = iam.get_role(_required(params, "RoleName"))
    description = _description(params)
    duration = _session_duration(params)
    if description is not None:
        role["Description"] = description
    if duration is not None:
        role["MaxSessionDuration"] = duration
    iam.save_role(role)
    return {}


def _update_trust(iam: IamStore, params: dict[str, Any]) -> dict[str, Any]:
    role = iam.get_role(_required(params, "RoleName"))
    role["AssumeRolePolicyDocument"] = quote(_policy_document(params, "PolicyDocument"))
    iam.save_role(role)
    return {}


def _tag_role(iam: IamStore, params: dict[str, Any]) -> dict[str, Any]:
    role = iam.get_role(_required(params, "RoleName"))
    tags = {t["Key"]: t["Value"] for t in role.get("Tags") or []}
    tags.update({t["Key"]: t["Value"] for t in _tags(params)})
    if len(tags) > 50:
        raise ApiError("LimitExceeded", "A role can have at most 50 tags.", status=409)
    role["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    iam.save_role(role)
    return {}


def _untag_role(iam: IamStore, params: dict[str, Any]) -> dict[str, Any]:
    role = iam.get_role(_required(params, "RoleName"))
    gone = {str(k) for k in params.get("TagKeys") or []}
    role["Tags"] = [t for t in role.get("Tags") or [] if t["Key"] not in gone]
    iam.save_role(role)
    return {}


def _list_role_tags(iam: IamStore, params: dict[str, Any]) -> dict[str, Any]:
    role = iam.get_role(_required(params, "RoleName"))
    return _paged("Tags", list(role.get("Tags") or []), lambda t: str(t["Key"]), params)


def _service_linked_role(iam: IamStore, params: dict[str, Any]) -> dict[str, Any]:
    service = str(params.get("AWSServiceName") or "")
    if not service:
        raise ApiError("InvalidInput", "AWSServiceName is required", status=400)
    short = service.split(".", 1)[0]
    name = "AWSServiceRoleFor" + short[:1].upper() + short[1:]
    if params.get("CustomSuffix"):
        name += f"_{params['CustomSuffix']}"
    if any(r["RoleName"] == name for r in iam.list_roles()):
        raise ApiError(
            "InvalidInput",
            f"Service role name {name} has been taken in this account, please try a "
            "different suffix.",
            status=400,
        )
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ],
    }
    path = f"/aws-service-role/{service}/"
    role = iam.create_role(name, trust, path=path, description=str(params.get("Description") or ""))
    return {"Role": role}


# ---------------------------------------------------------------------------- inline policies


def _inline_policy(iam: IamStore, params: dict[str, Any]) -> tuple[str, str, str]:
    """The role's name, the policy's name and its document; NoSuchEntity where either is absent."""
    role = _required(params, "RoleName")
    iam.get_role(role)
    name = _required(params, "PolicyName")
    policies = iam.role_policies(role)
    if name not in policies:
        raise ApiError(
            "NoSuchEntity", f"The role policy with name {name} cannot be found.", status=404
        )
    return role, name, policies[name]


def _put_role_policy(iam: IamStore, params: dict[str, Any]) -> dict[str, Any]:
    role = _required(params, "RoleName")
    name = _name(params, "PolicyName", 128)
    document = _policy_document(params, "PolicyDocument")
    iam.get_role(role)
    iam.put_role_policy(role, name, document)
    return {}


def _get_role_policy(iam: IamStore, params: dict[str, Any]) -> dict[str, Any]:
    role, name, document = _inline_policy(iam, params)
    return {"RoleName": role, "PolicyName": name, "PolicyDocument": quote(document)}


def _delete_role_policy(iam: IamStore, params: dict[str, Any]) -> dict[str, Any]:
    role, name, _ = _inline_policy(iam, params)
    iam.delete_role_policy(role, name)
    return {}


def _list_role_policies(iam: IamStore, params: dict[str, Any]) -> dict[str, Any]:
    role = _required(params, "RoleName")
    iam.get_role(role)
    return _paged("PolicyNames", list(iam.role_policies(role)), str, params)


# ---------------------------------------------------------------------------- managed policies


def _policy_arn(params: dict[str, Any]) -> str:
    arn = _required(params, "PolicyArn")
    if not _POLICY_ARN.fullmatch(arn):
        raise ApiError("InvalidInput", f"ARN {arn} is not valid.", status=400)
    return arn


def _not_attachable(arn: str) -> ApiError:
    if ":iam::aws:" in arn:  # attached by ARN, but nothing is known of its versions
        return ApiError(
            "NoSuchEntity",
            f"Policy {arn} does not exist or is not attachable: montemap keeps no catalogue "
            "of AWS managed policies (any attaches by its ARN; none can be read).",
            status=404,
        )
    return ApiError(
        "NoSuchEntity", f"Policy {arn} does not exist or is not attachable.", status=404
    )


def _policy(iam: IamStore, record: dict[str, Any]) -> dict[str, Any]:
    """A policy record (CreatePolicy's or a template's AWS::IAM::ManagedPolicy) as IAM shows it."""
    arn = str(record["Arn"])
    created = record.get("CreateDate") or time.time()
    return {
        "PolicyName": record.get("PolicyName") or arn.rsplit("/", 1)[-1],
        "PolicyId": record.get("PolicyId")
        or "ANPA" + hashlib.sha1(arn.encode()).hexdigest()[:17].upper(),
        "Arn": arn,
        "Path": record.get("Path") or "/",
        "DefaultVersionId": "v1",
        "AttachmentCount": iam.attachment_count(arn),
        "PermissionsBoundaryUsageCount": 0,
        "IsAttachable": True,
        "Description": record.get("Description"),
        "CreateDate": created,
        "UpdateDate": created,
        "Tags": record.get("Tags") or None,
    }


def _create_policy(iam: IamStore, params: dict[str, Any]) -> dict[str, Any]:
    name = _name(params, "PolicyName", 128)
    path = _path(params)
    document = _policy_document(params, "PolicyDocument")
    arn = f"arn:aws:iam::{iam.account}:policy{path}{name}"
    if any(str(r["Arn"]).rsplit("/", 1)[-1].lower() == name.lower() for r in iam.records("policy")):
        raise ApiError(
            "EntityAlreadyExists",
            f"A policy called {name} already exists. Duplicate names are not allowed.",
            status=409,
        )
    record = {
        "Arn": arn,
        "PolicyName": name,
        "Path": path,
        "PolicyDocument": document,
        "Description": params.get("Description"),
        "PolicyId": "ANPA"
        + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(17)),
        "CreateDate": time.time(),
        "Tags": _tags(params),
    }
    iam.put_record(arn, "policy", record)
    return {"Policy": {k: v for k, v in _policy(iam, record).items() if k != "Description"}}


def _managed(iam: IamStore, params: dict[str, Any]) -> dict[str, Any]:
    arn = _policy_arn(params)
    record = iam.record(arn, "policy")
    if record is None:
        raise _not_attachable(arn)
    return record


def _get_policy(iam: IamStore, params: dict[str, Any]) -> dict[str, Any]:
    return {"Policy": _policy(iam, _managed(iam, params))}


def _get_policy_version(iam: IamStore, params: dict[str, Any]) -> dict[str, Any]:
    record = _managed(iam, params)
    if _required(params, "VersionId") != "v1":
        raise ApiError(
            "NoSuchEntity",
            f"Policy {record['Arn']} version {params['VersionId']} does not exist or is not "
            "attachable.",
            status=404,
        )
    document = _document_text(record.get("PolicyDocument"))
    created = record.get("CreateDate") or time.time()
    return {
        "PolicyVersion": {
            "Document": quote(document),
            "VersionId": "v1",
            "IsDefaultVersion": True,
            "CreateDate": created,
        }
    }


def _document_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value or {})


def _delete_policy(iam: IamStore, params: dict[str, Any]) -> dict[str, Any]:
    record = _managed(iam, params)
    if iam.attachment_count(str(record["Arn"])):
        raise ApiError("DeleteConflict", "Cannot delete a policy attached to entities.", status=409)
    iam.drop_record(str(record["Arn"]))
    return {}


def _list_policies(iam: IamStore, params: dict[str, Any]) -> dict[str, Any]:
    """The account's own policies (montemap keeps no catalogue of AWS managed ones)."""
    scope = str(params.get("Scope") or "All")
    prefix = str(params.get("PathPrefix") or "/")
    policies = [] if scope == "AWS" else [_policy(iam, r) for r in iam.records("policy")]
    policies = [p for p in policies if str(p["Path"]).startswith(prefix)]
    if params.get("OnlyAttached"):
        policies = [p for p in policies if p["AttachmentCount"]]
    listed = [{k: v for k, v in p.items() if k not in ("Description", "Tags")} for p in policies]
    return _paged("Policies", listed, lambda p: str(p["PolicyName"]), params)


def _attach_role_policy(iam: IamStore, params: dict[str, Any]) -> dict[str, Any]:
    role = _required(params, "RoleName")
    arn = _policy_arn(params)
    iam.get_role(role)
    if ":iam::aws:" not in arn and iam.record(arn, "policy") is None:
        raise _not_attachable(arn)
    iam.attach_role_policy(role, arn)
    return {}


def _detach_role_policy(iam: IamStore, params: dict[str, Any]) -> dict[str, Any]:
    role = _required(params, "RoleName")
    arn = _policy_arn(params)
    iam.get_role(role)
    if arn not in iam.attached_policies(role):
        raise ApiError("NoSuchEntity", f"Policy {arn} was not found.", status=404)
    iam.detach_role_policy(role, arn)
    return {}


def _list_attached(iam: IamStore, params: dict[str, Any]) -> dict[str, Any]:
    role = _required(params, "RoleName")
    iam.get_role(role)
    prefix = str(params.get("PathPrefix") or "/")
    attached = [
        {"PolicyName": arn.rsplit("/", 1)[-1], "PolicyArn": arn}
        for arn in iam.attached_policies(role)
        if (_POLICY_ARN.fullmatch(arn) is None or _policy_path(arn).startswith(prefix))
    ]
    return _paged("AttachedPolicies", attached, lambda p: p["PolicyArn"], params)


def _policy_path(arn: str) -> str:
    return arn.split(":policy", 1)[1].rsplit("/", 1)[0] + "/"


def _list_entities(iam: IamStore, params: dict[str, Any]) -> dict[str, Any]:
    """The roles a policy is attached to (montemap has no users or groups)."""
    arn = _policy_arn(params)
    if ":iam::aws:" not in arn:
        _managed(iam, params)
    roles = iam.list_roles(str(params.get("PathPrefix") or "/"))
    if params.get("EntityFilter") in ("User", "Group"):
        roles = []
    attached = [
        {"RoleName": r["RoleName"], "RoleId": r["RoleId"]}
        for r in roles
        if arn in iam.attached_policies(str(r["RoleName"]))
    ]
    page = _paged("PolicyRoles", attached, lambda r: str(r["RoleName"]), params)
    return {**page, "PolicyGroups": [], "PolicyUsers": []}


def _list_policy_versions(iam: IamStore, params: dict[str, Any]) -> dict[str, Any]:
    record = _managed(iam, params)
    version = {
        "VersionId": "v1",
        "IsDefaultVersion": True,
        "CreateDate": record.get("CreateDate") or time.time(),
    }
    return {"Versions": [version], "IsTruncated": False}


# ---------------------------------------------------------------------------- instance profiles


def _profiles_of(iam: IamStore, role: str) -> list[dict[str, Any]]:
    return [p for p in iam.instance_profiles() if any(r["RoleName"] == role for r in p["Roles"])]


def _profiles_for_role(iam: IamStore, params: dict[str, Any]) -> dict[str, Any]:
    role = _required(params, "RoleName")
    iam.get_role(role)
    profiles = _profiles_of(iam, role)
    return _paged("InstanceProfiles", profiles, lambda p: str(p["InstanceProfileName"]), params)


def _get_instance_profile(iam: IamStore, params: dict[str, Any]) -> dict[str, Any]:
    name = _required(params, "InstanceProfileName")
    for profile in iam.instance_profiles():
        if profile["InstanceProfileName"] == name:
            return {"InstanceProfile": profile}
    raise ApiError("NoSuchEntity", f"Instance Profile {name} cannot be found.", status=404)


def _list_instance_profiles(iam: IamStore, params: dict[str, Any]) -> dict[str, Any]:
    prefix = str(params.get("PathPrefix") or "/")
    profiles = [p for p in iam.instance_profiles() if str(p["Path"]).startswith(prefix)]
    return _paged("InstanceProfiles", profiles, lambda p: str(p["InstanceProfileName"]), params)


ACTIONS: dict[str, Action] = {
    "GetRole": _get_role,
    "CreateRole": _create_role,
    "DeleteRole": _delete_role,
    "ListRoles": _list_roles,
    "UpdateRole": _update_role,
    "UpdateAssumeRolePolicy": _update_trust,
    "TagRole": _tag_role,
    "UntagRole": _untag_role,
    "ListRoleTags": _list_role_tags,
    "CreateServiceLinkedRole": _service_linked_role,
    "PutRolePolicy": _put_role_policy,
    "GetRolePolicy": _get_role_policy,
    "DeleteRolePolicy": _delete_role_policy,
    "ListRolePolicies": _list_role_policies,
    "CreatePolicy": _create_policy,
    "GetPolicy": _get_policy,
    "GetPolicyVersion": _get_policy_version,
    "DeletePolicy": _delete_policy,
    "ListPolicies": _list_policies,
    "AttachRolePolicy": _attach_role_policy,
    "DetachRolePolicy": _detach_role_policy,
    "ListAttachedRolePolicies": _list_attached,
    "ListEntitiesForPolicy": _list_entities,
    "ListPolicyVersions": _list_policy_versions,
    "ListInstanceProfilesForRole": _profiles_for_role,
    "GetInstanceProfile": _get_instance_profile,
    "ListInstanceProfiles": _list_instance_profiles,
}


def handle(iam: IamStore, action: str, params: dict[str, Any]) -> dict[str, Any]:
    """One IAM action's result; raises ApiError as IAM refuses."""
    run = ACTIONS.get(action)
    if run is None:
        raise ApiError(
            "InvalidAction",
            f"The action {action} is not valid for this web service (montemap answers "
            + ", ".join(ACTIONS)
            + ")",
            status=400,
        )
    return run(iam, params)
