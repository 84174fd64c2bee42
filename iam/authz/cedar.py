"""Organizations' access policies in Cedar: the schema they are checked against, their
validation, and one evaluation of a request against them.

Roles, ownership, teams and shares decide first (`iam.authz.engine`); that outcome reaches
Cedar as `context.granted`, which the platform's own statement turns into a permit. An
organization's statements then add permits or, more often, `forbid` what roles would allow
("members edit only deals they own"). A forbid always wins, as Cedar specifies.
"""

import functools
import json
from dataclasses import dataclass
from typing import Any

import cedarpy

NAMESPACE = "MyCRM"

SCHEMA = """
namespace MyCRM {
  entity Team = { name: String };
  entity User in [Team] = {
    email: String,
    roles: Set<String>,
    managed_teams: Set<Team>,
  };
  entity Organization = { slug: String };
  entity Contact = { owner: User };
  entity Company = { owner: User };
  entity Lead = { owner: User, status: String, source: String };
  entity Deal = {
    owner: User,
    amount: Long,
    currency: String,
    pipeline: String,
    stage: String,
    stage_kind: String,
  };
  entity Activity = { owner: User, kind: String };
  type Context = {
    granted: Bool,
    hour: Long,
    weekday: Long,
    via: String,
    record_type: String,
    to_stage_kind: String,
    right: String,
  };
  action "view", "edit", "delete", "assign", "share" appliesTo {
    principal: [User],
    resource: [Contact, Company, Lead, Deal, Activity],
    context: Context,
  };
  action "move" appliesTo { principal: [User], resource: [Deal], context: Context };
  action "create", "export", "manage" appliesTo {
    principal: [User],
    resource: [Organization],
    context: Context,
  };
}
"""

# The platform's statement: what roles, ownership, teams and shares granted is permitted.
BASE_POLICY = "permit (principal, action, resource) when { context.granted };"


@dataclass(frozen=True)
class StoredPolicy:
    """An organization's policy as evaluation needs it: its name and its Cedar source."""

    id: int
    name: str
    source: str


@functools.cache
def schema() -> cedarpy.Schema:
    """The schema, parsed once per process (parsing it costs more than a decision)."""
    return cedarpy.Schema.from_str(SCHEMA)


@functools.lru_cache(maxsize=512)
def policy_set(text: str) -> cedarpy.PolicySet:
    """A policy text parsed once per process and kept for the next decisions; texts are
    the platform's statement and organizations' policies, which hold no personal data."""
    return cedarpy.PolicySet.from_str(text)


@functools.lru_cache(maxsize=1024)
def statement_count(source: str) -> int:
    """How many statements (`permit`/`forbid`) a valid policy text holds."""
    return len(json.loads(cedarpy.policies_to_json_str(source))["staticPolicies"])


def policy_validate(source: str) -> list[str]:
    """What is wrong with a policy text, checked against our schema; empty when valid.

    A text must hold at least one statement, no templates, and every statement must only
    name entity types, attributes and actions the schema has, with the right types.
    """
    if "\x00" in source:
        return ["The policy contains a NUL character."]
    if not source.strip():
        return ["Write at least one permit or forbid statement."]
    try:
        parsed = json.loads(cedarpy.policies_to_json_str(source))
    except ValueError as exc:
        return [f"The policy can't be read: {_first_line(exc)}"]
    if parsed.get("templates"):
        return ["Templates (statements with ?principal or ?resource) are not supported."]
    if not parsed.get("staticPolicies"):
        return ["Write at least one permit or forbid statement."]
    result = cedarpy.validate_policies(source, SCHEMA)
    if result.validation_passed:
        return []
    return [_without_policy_id(str(error)) for error in result.errors]


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else "syntax error"


def _without_policy_id(message: str) -> str:
    # "[policy0] for policy `policy0`, attribute ..." → "attribute ..."; the ids are ours.
    if message.startswith("[policy"):
        message = message.split("] ", 1)[-1]
    if message.startswith("for policy `"):
        message = message.split("`, ", 1)[-1]
    return message[:1].upper() + message[1:]


def uid(entity_type: str, entity_id: object) -> dict[str, str]:
    return {"type": f"{NAMESPACE}::{entity_type}", "id": str(entity_id)}


def ref(entity_type: str, entity_id: object) -> dict[str, Any]:
    """An attribute value naming another entity."""
    return {"__entity": uid(entity_type, entity_id)}


def uid_text(value: dict[str, str]) -> str:
    return f"{value['type']}::{json.dumps(value['id'])}"


@dataclass(frozen=True)
class Outcome:
    allowed: bool
    # The organization's policies that decided (a forbid that applied, or for an allowed
    # request the organization permits that applied), by name; the platform's statement
    # is not one of them.
    policies: tuple[StoredPolicy, ...]
    errors: tuple[str, ...]


def evaluate(
    *,
    policies: list[StoredPolicy],
    principal: dict[str, Any],
    action: str,
    resource: dict[str, Any],
    context: dict[str, Any],
    entities: list[dict[str, Any]],
) -> Outcome:
    """One Cedar decision over the platform's statement and the organization's policies."""
    texts = [BASE_POLICY]
    owners: list[StoredPolicy | None] = [None]
    for policy in policies:
        texts.append(policy.source)
        owners.extend([policy] * statement_count(policy.source))
    request = {
        "principal": uid_text(principal),
        "action": f'{NAMESPACE}::Action::"{action}"',
        "resource": uid_text(resource),
        "context": context,
    }
    result = cedarpy.is_authorized(request, policy_set("\n".join(texts)), entities, schema())
    deciding: list[StoredPolicy] = []
    for reason in result.diagnostics.reasons:
        index = int(reason.removeprefix("policy"))
        owner = owners[index] if index < len(owners) else None
        if owner is not None and owner not in deciding:
            deciding.append(owner)
    return Outcome(
        allowed=bool(result.allowed),
        policies=tuple(deciding),
        errors=tuple(str(e) for e in result.diagnostics.errors),
    )
