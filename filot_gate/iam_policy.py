"""Whether an IAM role's own policies allow an action on a resource, read as IAM reads them: allowed
when a statement allows it and none denies it; ``*`` and ``?`` match in actions and resources, and
actions ignore case. An Allow with a ``Condition`` is not counted (the gate cannot know the request's
context), a Deny with one is: the answer errs towards "not allowed", never the other way.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any, Iterable, Mapping


def role_policies(iam: Any, role: str) -> dict[str, Mapping[str, Any]]:
    """Policy name -> document of every inline and attached managed policy of ``role``."""
    documents: dict[str, Mapping[str, Any]] = {}
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=role):
        for name in page["PolicyNames"]:
            documents[name] = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role):
        for attached in page["AttachedPolicies"]:
            version = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
            documents[attached["PolicyName"]] = iam.get_policy_version(
                PolicyArn=attached["PolicyArn"], VersionId=version)["PolicyVersion"]["Document"]
    return documents


def allows(documents: Iterable[Mapping[str, Any]], action: str, resource: str) -> bool:
    statements = [s for doc in documents for s in _as_list(doc.get("Statement"))]
    matching = [s for s in statements if _matches(s, action, resource)]
    if any(s.get("Effect") == "Deny" for s in matching):
        return False
    return any(s.get("Effect") == "Allow" and not s.get("Condition") for s in matching)


def _matches(statement: Mapping[str, Any], action: str, resource: str) -> bool:
    actions = _as_list(statement.get("Action"))
    resources = _as_list(statement.get("Resource"))
    return (any(fnmatchcase(action.lower(), a.lower()) for a in actions)
            and any(fnmatchcase(resource, r) for r in resources))


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
