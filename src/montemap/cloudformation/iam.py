"""IAM roles and policies as records, and the IAM query API subset that answers about them.

Nothing here is ever enforced: montemap has one trust boundary (the server's
access keys), and roles exist so that templates and tools that create or look
them up (GetRole, CreateServiceLinkedRole...) get the answers AWS gives.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import string
import time
from typing import Any
from urllib.parse import quote

from montemap.cloudformation import iam_api
from montemap.engine.db import Database
from montemap.errors import ApiError

SCHEMA = """
CREATE TABLE IF NOT EXISTS iam_roles (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS iam_role_policies (
    role TEXT NOT NULL, policy TEXT NOT NULL, document TEXT NOT NULL, PRIMARY KEY (role, policy)
);
CREATE TABLE IF NOT EXISTS iam_attached (
    role TEXT NOT NULL, policy_arn TEXT NOT NULL, PRIMARY KEY (role, policy_arn)
);
CREATE TABLE IF NOT EXISTS iam_records (arn TEXT PRIMARY KEY, kind TEXT NOT NULL, doc TEXT NOT NULL);
"""


def _unique_id(prefix: str) -> str:
    return prefix + "".join(
        secrets.choice(string.ascii_uppercase + string.digits) for _ in range(17)
    )


def no_such_entity(message: str) -> ApiError:
    return ApiError("NoSuchEntity", message, status=404)


def _document(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class IamStore:
    """Roles, their inline and attached policies, managed policies and instance profiles."""

    def __init__(self, db: Database, account: str) -> None:
        self.db = db
        self.account = account
        db.migrate(SCHEMA)

    # ------------------------------------------------------------------ roles

    def get_role(self, name: str) -> dict[str, Any]:
        row = self.db.query_one("SELECT doc FROM iam_roles WHERE name = ?", (name,))
        if row is None:
            raise no_such_entity(f"The role with name {name} cannot be found.")
        role: dict[str, Any] = json.loads(row["doc"])
        return role

    def create_role(
        self, name: str, trust: Any, *, path: str = "/", description: str = ""
    ) -> dict[str, Any]:
        if self.db.query_one("SELECT 1 FROM iam_roles WHERE name = ?", (name,)):
            raise ApiError(
                "EntityAlreadyExists", f"Role with name {name} already exists.", status=409
            )
        role = {
            "Path": path,
            "RoleName": name,
            "RoleId": _unique_id("AROA"),
            "Arn": f"arn:aws:iam::{self.account}:role{path}{name}",
            "CreateDate": time.time(),
            "AssumeRolePolicyDocument": quote(_document(trust or {})),
            "MaxSessionDuration": 3600,
        }
        if description:  # IAM shows no Description where none was given
            role["Description"] = description
        self.db.statement(
            "INSERT INTO iam_roles (name, doc) VALUES (?, ?)", (name, json.dumps(role))
        )
        return role

    def delete_role(self, name: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM iam_roles WHERE name = ?", (name,))
            conn.execute("DELETE FROM iam_role_policies WHERE role = ?", (name,))
            conn.execute("DELETE FROM iam_attached WHERE role = ?", (name,))

    def list_roles(self, prefix: str = "/") -> list[dict[str, Any]]:
        rows = self.db.query("SELECT doc FROM iam_roles ORDER BY name")
        roles = [json.loads(r["doc"]) for r in rows]
        return [r for r in roles if str(r["Path"]).startswith(prefix)]

    def save_role(self, role: dict[str, Any]) -> None:
        """Store a changed role document (UpdateRole, TagRole...)."""
        self.db.statement(
            "UPDATE iam_roles SET doc = ? WHERE name = ?", (json.dumps(role), role["RoleName"])
        )

    def role_policies(self, role: str) -> dict[str, str]:
        """The role's inline policies: name -> document text, by name."""
        rows = self.db.query(
            "SELECT policy, document FROM iam_role_policies WHERE role = ? ORDER BY policy",
            (role,),
        )
        return {str(r["policy"]): str(r["document"]) for r in rows}

    def attached_policies(self, role: str) -> list[str]:
        """The ARNs of the managed policies attached to the role, in order."""
        rows = self.db.query(
            "SELECT policy_arn FROM iam_attached WHERE role = ? ORDER BY policy_arn", (role,)
        )
        return [str(r["policy_arn"]) for r in rows]

    def attachment_count(self, policy_arn: str) -> int:
        row = self.db.query_one(
            "SELECT COUNT(*) AS n FROM iam_attached WHERE policy_arn = ?", (policy_arn,)
        )
        return int(row["n"]) if row is not None else 0

    def put_role_policy(self, role: str, policy: str, document: Any) -> None:
        self.get_role(role)
        self.db.statement(
            "INSERT OR REPLACE INTO iam_role_policies (role, policy, document) VALUES (?, ?, ?)",
            (role, policy, _document(document)),
        )

    def delete_role_policy(self, role: str, policy: str) -> None:
        self.db.statement(
            "DELETE FROM iam_role_policies WHERE role = ? AND policy = ?", (role, policy)
        )

    def attach_role_policy(self, role: str, policy_arn: str) -> None:
        self.get_role(role)
        self.db.statement(
            "INSERT OR IGNORE INTO iam_attached (role, policy_arn) VALUES (?, ?)",
            (role, policy_arn),
        )

    def detach_role_policy(self, role: str, policy_arn: str) -> None:
        self.db.statement(
            "DELETE FROM iam_attached WHERE role = ? AND policy_arn = ?", (role, policy_arn)
        )

    # ------------------------------------------------------------------ other records

    def put_record(self, arn: str, kind: str, doc: dict[str, Any]) -> None:
        self.db.statement(
            "INSERT OR REPLACE INTO iam_records (arn, kind, doc) VALUES (?, ?, ?)",
            (arn, kind, json.dumps(doc)),
        )

    def records(self, kind: str) -> list[dict[str, Any]]:
        rows = self.db.query("SELECT doc FROM iam_records WHERE kind = ? ORDER BY arn", (kind,))
        return [json.loads(r["doc"]) for r in rows]

    def record(self, arn: str, kind: str) -> dict[str, Any] | None:
        row = self.db.query_one(
            "SELECT doc FROM iam_records WHERE arn = ? AND kind = ?", (arn, kind)
        )
        found: dict[str, Any] | None = json.loads(row["doc"]) if row is not None else None
        return found

    def drop_record(self, arn: str) -> None:
        self.db.statement("DELETE FROM iam_records WHERE arn = ?", (arn,))

    def instance_profiles(self) -> list[dict[str, Any]]:
        """Instance profiles (templates' records) as IAM shows them, their roles in full."""
        profiles = []
        for record in self.records("instance-profile"):
            arn = str(record["Arn"])
            roles = []
            for name in record.get("Roles") or []:
                try:
                    roles.append(self.get_role(str(name)))
                except ApiError:
                    continue  # a role deleted outside the template
            profiles.append(
                {
                    "Path": str(record.get("Path") or "/"),
                    "InstanceProfileName": arn.rsplit("/", 1)[-1],
                    "InstanceProfileId": "AIPA"
                    + hashlib.sha256(arn.encode()).hexdigest()[:17].upper(),
                    "Arn": arn,
                    "CreateDate": record.get("CreateDate") or time.time(),
                    "Roles": roles,
                }
            )
        return profiles


# ---------------------------------------------------------------------------- the API


def handle(iam: IamStore, action: str, params: dict[str, Any]) -> dict[str, Any]:
    """One IAM action's result; raises ApiError as IAM refuses (:mod:`.iam_api`)."""
    return iam_api.handle(iam, action, params)
