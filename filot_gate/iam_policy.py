"""Whether an IAM role's own policies allow an action on a resource, read as IAM reads them: allowed
when a statement allows it and none denies it; ``*`` and ``?`` match in actions and resources, actions
ignore case, and ``NotAction``/``NotResource`` apply to everything they do not list. An Allow with a ``Condition`` is not counted (the gate cannot know the request's
context), a Deny with one is: the answer errs towards "not allowed", never the other way.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any, Iterable, Mapping


def role_name(role_arn: str) -> str:
    """``arn:aws:iam::<account>:role/<path/>name`` -> ``name``."""
    return role_arn.rsplit("/", 1)[-1]


def assumed_role_name(caller_arn: str) -> str | None:
    """``arn:aws:sts::<account>:assumed-role/<name>/<session>`` (``get-caller-identity``) -> ``name``;
    None for any other identity (an IAM user, a root account)."""
    resource = caller_arn.split(":", 5)[-1]
    kind, _, rest = resource.partition("/")
    return rest.split("/", 1)[0] if kind == "assumed-role" and rest else None


def role_policies(iam: Any, role: str) -> dict[str, Mapping[str, Any]]:
    """Policy name -> document of every inline and attached managed policy of ``role``."""
    documents: dict[str, Mapping[str, Any]] = {}
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=role):
        for name in page["PolicyNames"]:
            documents[name] = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role):
        for attached in page["AttachedPolicies"]:
            documents[attached["PolicyName"]] = managed_policy(iam, attached["PolicyArn"])
    return documents


def managed_policy(iam: Any, arn: str) -> Mapping[str, Any]:
    """The default version's document of a managed policy (an AWS managed one reads the same in every account)."""
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    return iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]


def allows(documents: Iterable[Mapping[str, Any]], action: str, resource: str) -> bool:
    statements = [s for doc in documents for s in _as_list(doc.get("Statement"))]
    matching = [s for s in statements if _matches(s, action, resource)]
    if any(s.get("Effect") == "Deny" for s in matching):
        return False
    return any(s.get("Effect") == "Allow" and not s.get("Condition") for s in matching)


def refused(policies: Iterable[Mapping[str, Any]], wanted: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (action, resource) pairs of ``wanted`` that ``policies`` (a role's documents) do not allow."""
    documents = list(policies)
    return [(action, resource) for action, resource in wanted if not allows(documents, action, resource)]


def beyond(policies: Mapping[str, Mapping[str, Any]], declared: Iterable[Mapping[str, Any]]) -> list[str]:
    """What ``policies`` (name -> document, as the role has them) allow that no Allow of ``declared`` (the
    manifest's documents) covers, one ``action on resource (policy)`` each. A live pattern is covered when a
    declared pattern matches it as text, so ``sqs:*`` is not covered by ``sqs:ReceiveMessage`` but
    ``.../filot/production/jwt*`` is by ``.../filot/production/*``. A declared Allow with a Condition covers
    only an Allow with the same Condition; an Allow by NotAction or NotResource is covered only when declared
    as it stands: it grants everything it does not name."""
    allows_declared = [s for doc in declared for s in _as_list(doc.get("Statement")) if s.get("Effect") == "Allow"]
    extra: list[str] = []
    for name, document in policies.items():
        for statement in _as_list(document.get("Statement")):
            if statement.get("Effect") != "Allow" or statement in allows_declared:
                continue  # a Deny only narrows; a statement declared as it stands is covered
            if "NotAction" in statement or "NotResource" in statement:
                extra.append(f"every action but {_as_list(statement.get('NotAction')) or 'none'} on every resource but"
                             f" {_as_list(statement.get('NotResource')) or 'none'} ({name})")
                continue
            extra += [f"{action} on {resource} ({name})"
                      for action in _as_list(statement.get("Action")) for resource in _as_list(statement.get("Resource"))
                      if not any(_matches(d, action, resource) and d.get("Condition") in (None, statement.get("Condition"))
                                 for d in allows_declared)]
    return list(dict.fromkeys(extra))


def _matches(statement: Mapping[str, Any], action: str, resource: str) -> bool:
    """The statement applies: its Action (or everything but its NotAction) and its Resource (or NotResource)."""
    def listed(key: str, value: str, fold: bool) -> bool:
        patterns = _as_list(statement.get(key)) if key in statement else _as_list(statement.get(f"Not{key}"))
        hit = any(fnmatchcase(value.lower(), p.lower()) if fold else fnmatchcase(value, p) for p in patterns)
        return hit if key in statement else (f"Not{key}" in statement and not hit)

    return listed("Action", action, fold=True) and listed("Resource", resource, fold=False)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def lets_service_send(document: Mapping[str, Any], service: str, action: str, resource: str, source_arn: str) -> bool:
    """A resource policy (an SQS queue's) lets AWS service ``service`` (``sns.amazonaws.com``) do ``action``
    on ``resource`` on behalf of ``source_arn``: an Allow for that principal whose conditions, if any, are
    only ``aws:SourceArn`` comparisons that the source matches; no Deny for it."""
    statements = [s for s in _as_list(document.get("Statement")) if _names_principal(s, service)
                  and _matches(s, action, resource)]
    if any(s.get("Effect") == "Deny" for s in statements):
        return False
    return any(s.get("Effect") == "Allow" and _source_allowed(s.get("Condition") or {}, source_arn) for s in statements)


def _names_principal(statement: Mapping[str, Any], service: str) -> bool:
    principal = statement.get("Principal")
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        return False
    return service in _as_list(principal.get("Service")) or "*" in _as_list(principal.get("AWS"))


#: Condition operators that compare aws:SourceArn exactly, and those that match it with wildcards.
_EXACT, _LIKE = ("ArnEquals", "StringEquals"), ("ArnLike", "StringLike")


def _source_allowed(condition: Mapping[str, Any], source_arn: str) -> bool:
    for operator, tests in condition.items():
        if operator not in _EXACT + _LIKE or not isinstance(tests, Mapping):
            return False  # a condition the gate cannot judge: not counted
        for key, values in tests.items():
            if key.lower() != "aws:sourcearn":
                return False
            match = (lambda v: v == source_arn) if operator in _EXACT else (lambda v: fnmatchcase(source_arn, v))
            if not any(match(v) for v in _as_list(values)):
                return False
    return True
