"""The decision point: may this principal take this action, on this record or right, here?

A decision has two steps. Roles decide what a member may do to which records: each
permission comes with a scope (their own records, their teams' records, every record), and
shares open single records on top. Then, when the organization has enabled policies, Cedar
evaluates them with that outcome as `context.granted` (`iam.authz.cedar`): a policy may
forbid what roles allow, or permit more. Lists apply both steps in their query (`visible`),
never record by record: roles, ownership, teams and shares as conditions on the owner and
the shares table, and policies as the conditions Cedar leaves once only the record is
unknown (`iam.authz.lists`).
"""

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Exists, Model, OuterRef, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from iam.exceptions import AccessDenied
from iam.models import AccessPolicy, Role, User
from iam.org.models import RecordShare
from iam.token_scopes import scope_allows, scope_grants
from tenants.models import Tenant

from . import catalog, cedar, lists
from .catalog import Grants, Scope

_M = TypeVar("_M", bound=Model)

VIAS = ("session", "token", "service_token", "scim", "sso", "operator", "task")

# Cedar's actions on records and the role permission that grants each.
_PERMISSION_OF_ACTION = {"move": "edit", "share": "edit"}
# What a share opens: a view share opens viewing; an edit share opens viewing and editing.
_SHARE_LEVELS = {
    "view": (RecordShare.Level.VIEW, RecordShare.Level.EDIT),
    "edit": (RecordShare.Level.EDIT,),
    "move": (RecordShare.Level.EDIT,),
}


@dataclass(frozen=True)
class Principal:
    """Who is asking, in one organization, with everything a decision needs of them."""

    user_id: int | None
    email: str
    tenant: Tenant
    role: str | None  # the built-in role, None for a non-member
    custom_role_names: tuple[str, ...]
    grants: Grants
    team_ids: frozenset[int]
    managed_team_ids: frozenset[int]
    teammate_ids: frozenset[int]  # users in the same teams, the principal included
    via: str = "session"
    token_scopes: frozenset[str] | None = None
    # A service token's account: no role, no membership; its rights are its scopes.
    is_service_account: bool = False
    # The organization's enabled policies, read with the principal (None: not read yet).
    policies: tuple[cedar.StoredPolicy, ...] | None = None
    # Per-request memory: the organization's policies, read once. Not part of identity.
    cache: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def is_member(self) -> bool:
        return self.role is not None or self.is_service_account

    @property
    def role_keys(self) -> tuple[str, ...]:
        """Built-in role key and custom role names, as Cedar's `principal.roles` holds them."""
        return ((self.role,) if self.role else ()) + self.custom_role_names

    def roles_label(self) -> str:
        if self.is_service_account:
            return "a service token"
        labels = [str(Role(self.role).label)] if self.role else []
        return ", ".join(labels + list(self.custom_role_names)) or "no role"


@dataclass(frozen=True)
class Decision:
    """The answer and why: the grant that applied or was missing, and the organization's
    policies that decided, if any."""

    allowed: bool
    reason: str
    grant: str = ""
    policies: tuple[cedar.StoredPolicy, ...] = ()

    @property
    def policy_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.policies)


# One statement for everything a principal is: the membership and its role, the custom
# roles' matrices, the teams the user is in or manages, and everyone in those teams.
_PRINCIPAL_SQL = """
    WITH m AS (
        SELECT id, role FROM iam_membership
        WHERE user_id = %(user)s AND tenant_id = %(tenant)s AND deactivated_at IS NULL
    ), teams AS (
        SELECT t.id, t.manager_id FROM iam_team t
        WHERE t.tenant_id = %(tenant)s AND EXISTS (SELECT 1 FROM m) AND (
            t.manager_id = %(user)s OR EXISTS (
                SELECT 1 FROM iam_teammember tm WHERE tm.team_id = t.id AND tm.user_id = %(user)s
            )
        )
    )
    SELECT
        m.role,
        COALESCE((
            SELECT json_agg(json_build_array(cr.name, cr.permissions) ORDER BY cr.name)
            FROM iam_membership_custom_roles mc JOIN iam_customrole cr ON cr.id = mc.customrole_id
            WHERE mc.membership_id = m.id
        ), '[]'::json),
        ARRAY(SELECT id FROM teams),
        ARRAY(SELECT id FROM teams WHERE manager_id = %(user)s),
        ARRAY(
            SELECT tm.user_id FROM iam_teammember tm WHERE tm.team_id IN (SELECT id FROM teams)
            UNION SELECT manager_id FROM teams WHERE manager_id IS NOT NULL
        ),
        COALESCE((
            SELECT json_agg(json_build_array(p.id, p.name, p.source) ORDER BY p.id)
            FROM iam_accesspolicy p WHERE p.tenant_id = %(tenant)s AND p.is_enabled
        ), '[]'::json)
    FROM m
"""


def principal_for(
    *,
    user: User,
    tenant: Tenant,
    via: str = "session",
    token_scopes: frozenset[str] | None = None,
) -> Principal:
    """The principal `user` is at `tenant` (a non-member is one with no rights).

    With `token_scopes`, the rights are those of the user's roles that the token's scopes
    also allow; a service token (`via="service_token"`) has exactly its scopes' rights.
    """
    if via == "service_token":
        return Principal(
            user_id=user.pk,
            email=user.email,
            tenant=tenant,
            role=None,
            custom_role_names=(),
            grants=scope_grants(token_scopes or ()),
            team_ids=frozenset(),
            managed_team_ids=frozenset(),
            teammate_ids=frozenset({user.pk}),
            via=via,
            token_scopes=token_scopes,
            is_service_account=True,
        )
    with connection.cursor() as cursor:
        cursor.execute(_PRINCIPAL_SQL, {"user": user.pk, "tenant": tenant.pk})
        row = cursor.fetchone()
    if row is None:
        return Principal(
            user_id=user.pk,
            email=user.email,
            tenant=tenant,
            role=None,
            custom_role_names=(),
            grants={},
            team_ids=frozenset(),
            managed_team_ids=frozenset(),
            teammate_ids=frozenset({user.pk}),
            via=via,
            token_scopes=token_scopes,
        )
    role, custom_roles, team_ids, managed_ids, teammates, policies = row
    grants = catalog.grants_union(
        catalog.BUILT_IN_ROLES.get(role, {}),
        *(catalog.grants_clean(permissions) for _, permissions in custom_roles),
    )
    if token_scopes is not None:
        grants = {p: s for p, s in grants.items() if scope_allows(token_scopes, p)}
    return Principal(
        user_id=user.pk,
        email=user.email,
        tenant=tenant,
        role=role,
        custom_role_names=tuple(name for name, _ in custom_roles),
        grants=grants,
        team_ids=frozenset(team_ids),
        managed_team_ids=frozenset(managed_ids),
        teammate_ids=frozenset(teammates) | {user.pk},
        via=via,
        token_scopes=token_scopes,
        policies=tuple(
            cedar.StoredPolicy(id=pk, name=name, source=source) for pk, name, source in policies
        ),
    )


def principal_for_request(request: HttpRequest) -> Principal | None:
    """The principal of a request on an organization's host, made once per request; None
    when nobody is signed in or the host is not an organization's."""
    cached: Principal | None = getattr(request, "_authz_principal", None)
    if cached is not None:
        return cached
    tenant = getattr(request, "tenant", None)
    user = getattr(request, "user", None)
    if tenant is None or user is None or not user.is_authenticated:
        return None
    credentials = getattr(request, "auth", None) or getattr(request, "_authz_credentials", None)
    via = getattr(credentials, "via", None) or ("token" if credentials is not None else "session")
    scopes = getattr(credentials, "scopes", None)
    principal = principal_for(
        user=user,
        tenant=tenant,
        via=via,
        token_scopes=frozenset(scopes) if scopes is not None else None,
    )
    request._authz_principal = principal  # type: ignore[attr-defined]
    return principal


# --- records --------------------------------------------------------------------------


def record_type_of(record: Model) -> str:
    key = type(record).__name__.lower()
    if key not in catalog.RECORD_TYPE_KEYS:
        raise ValueError(f"{type(record).__name__} is not a record type of the catalog.")
    return key


def owner_of(record: Model) -> int | None:
    """A record's owner: its `owner_id`; an activity's assignee, or else its author."""
    if hasattr(record, "owner_id"):
        owner: int | None = record.owner_id
        return owner
    return getattr(record, "assignee_id", None) or getattr(record, "created_by_id", None)


def _owner_q(record_type: str, user_ids: frozenset[int]) -> Q:
    if record_type == "activity":
        return Q(assignee_id__in=user_ids) | Q(assignee_id=None, created_by_id__in=user_ids)
    return Q(owner_id__in=user_ids)


def _scope_covers(principal: Principal, scope: Scope | None, owner_id: int | None) -> bool:
    if scope is None:
        return False
    if scope == Scope.ALL:
        return True
    if owner_id is None or principal.user_id is None:
        return False
    if scope == Scope.TEAM:
        return owner_id in principal.teammate_ids
    return owner_id == principal.user_id


def _shares_q(principal: Principal, record_type: str, action: str) -> Q | None:
    levels = _SHARE_LEVELS.get(action)
    if levels is None or principal.user_id is None or not principal.is_member:
        return None
    grantee = Q(user_id=principal.user_id)
    if principal.team_ids:
        grantee |= Q(team_id__in=principal.team_ids)
    return Q(record_type=record_type, level__in=levels) & grantee


def _shared(principal: Principal, record_type: str, record_id: int, action: str) -> bool:
    condition = _shares_q(principal, record_type, action)
    if condition is None:
        return False
    return RecordShare.objects.filter(condition, record_id=record_id).exists()


def visible(
    queryset: QuerySet[_M], principal: Principal | None, record_type: str, action: str = "view"
) -> QuerySet[_M]:
    """`queryset` narrowed to the records `principal` may take `action` on, in the query
    itself: by roles, ownership, teams and shares, then by the organization's policies."""
    if principal is None:
        return queryset.none()
    permission = catalog.record_permission(record_type, _PERMISSION_OF_ACTION.get(action, action))
    scope = principal.grants.get(permission)
    granted: lists.Condition = True
    if scope != Scope.ALL:
        granted = Q(pk__in=[])
        if scope == Scope.TEAM:
            granted = _owner_q(record_type, principal.teammate_ids)
        elif scope == Scope.OWN and principal.user_id is not None:
            granted = _owner_q(record_type, frozenset({principal.user_id}))
        shares = _shares_q(principal, record_type, action)
        if shares is not None:
            granted = granted | Q(
                Exists(RecordShare.objects.filter(shares, record_id=OuterRef("pk")))
            )
    allowed = granted
    if principal.is_member and _policies(principal):
        allowed = _policy_condition(principal, record_type, action, granted)
    if allowed is True:
        return queryset
    if allowed is False:
        return queryset.none()
    return queryset.filter(allowed)


def _policy_condition(
    principal: Principal, record_type: str, action: str, granted: lists.Condition
) -> lists.Condition:
    """Where the organization's policies allow `action` on records of `record_type`, given
    where roles granted it (`granted`): Cedar decides once with roles' outcome known (true,
    then false) and the record unknown, and what it leaves is a condition on the record."""
    key = f"list:{record_type}:{action}:{granted is True}"
    if key not in principal.cache:
        outcomes: dict[bool, lists.Condition] = {}
        for known in (True, False):
            if granted is (not known):
                continue  # roles' outcome is the same for every record
            context = _context(principal, granted=known, record_type=record_type)
            outcomes[known] = lists.allowed_condition(
                policies=_policies(principal),
                record_type=record_type,
                request={
                    "principal": cedar.uid_text(cedar.uid("User", principal.user_id or 0)),
                    "action": f'{cedar.NAMESPACE}::Action::"{action}"',
                    "context": context,
                },
                entities=_principal_entities(principal),
            )
        principal.cache[key] = outcomes
    outcomes = principal.cache[key]
    if granted is True:
        return outcomes[True]
    return lists.or_(
        lists.and_(granted, lambda: outcomes[True]),
        lambda: lists.and_(lists.not_(granted), lambda: outcomes[False]),
    )


# --- decisions ------------------------------------------------------------------------


def may(principal: Principal | None, permission: str) -> bool:
    """Whether any role of the principal grants `permission` ("deal.export", "admin.people")
    at any scope. Enough for actions on a type or a right; a record needs `check`."""
    return principal is not None and permission in principal.grants


def _policies(principal: Principal) -> list[cedar.StoredPolicy]:
    if principal.policies is not None:
        return list(principal.policies)
    if "policies" not in principal.cache:
        rows = AccessPolicy.objects.filter(tenant=principal.tenant, is_enabled=True).order_by("pk")
        principal.cache["policies"] = [
            cedar.StoredPolicy(id=p.pk, name=p.name, source=p.source)
            for p in rows.only("pk", "name", "source")
        ]
    policies: list[cedar.StoredPolicy] = principal.cache["policies"]
    return policies


_SCOPE_WORDS = {
    Scope.ALL: "every record",
    Scope.TEAM: "their teams' records",
    Scope.OWN: "their own records",
}


def _action_words(record_type: str, action: str) -> str:
    label = next(t.label for t in catalog.RECORD_TYPES if t.key == record_type).lower()
    verb = {"move": "move", "share": "share"}.get(action, action)
    return f"{verb} {label}"


def _role_outcome(
    principal: Principal,
    action: str,
    record_type: str | None,
    record: Model | None,
    right: str | None,
) -> tuple[bool, str]:
    """Whether roles, ownership, teams and shares grant the request, and a sentence why."""
    roles = principal.roles_label()
    if not principal.is_member:
        return False, "You are not a member of this organization."
    if right is not None:
        permission = catalog.admin_permission(right)
        label = dict(catalog.ADMIN_RIGHTS).get(right, right).split(":")[0]
        if permission in principal.grants:
            return True, f"Your roles ({roles}) include the {label} right."
        if principal.token_scopes is not None and "admin" not in principal.token_scopes:
            return False, "This token's scopes don't include admin rights."
        return False, f"None of your roles ({roles}) includes the {label} right."
    assert record_type is not None  # noqa: S101 - callers pass a record type or a right
    words = _action_words(record_type, action)
    permission = catalog.record_permission(record_type, _PERMISSION_OF_ACTION.get(action, action))
    scope = principal.grants.get(permission)
    if record is None:
        if scope is not None:
            return True, f"Your roles ({roles}) allow you to {words}."
        return False, _missing(principal, roles, words, permission)
    owner_id = owner_of(record)
    if _scope_covers(principal, scope, owner_id):
        assert scope is not None  # noqa: S101
        return True, f"Your roles ({roles}) allow you to {words}: {_SCOPE_WORDS[scope]}."
    if record.pk is not None and _shared(principal, record_type, record.pk, action):
        return True, f"This record is shared with you, which allows you to {words}."
    if scope is not None:
        return False, (
            f"Your roles ({roles}) allow you to {words} only for {_SCOPE_WORDS[scope]}, "
            "and this one isn't."
        )
    return False, _missing(principal, roles, words, permission)


def _missing(principal: Principal, roles: str, words: str, permission: str) -> str:
    if principal.token_scopes is not None and not scope_allows(principal.token_scopes, permission):
        return f"This token's scopes don't allow you to {words}."
    return f"None of your roles ({roles}) allows you to {words}."


def check(
    principal: Principal | None,
    action: str,
    *,
    record_type: str | None = None,
    record: Model | None = None,
    right: str | None = None,
    context: dict[str, Any] | None = None,
) -> Decision:
    """May `principal` take `action` on `record` (or on `record_type` as a whole, or use the
    admin `right`) in their organization? Deny by default, with the reason either way.

    Actions on records are those of the catalog plus `move` (a deal to another stage, with
    `context={"to_stage_kind": "won"}`) and `share`; an admin right is `action="manage"`.
    """
    if principal is None:
        return Decision(allowed=False, reason="Sign in to do this.")
    if record is not None:
        record_type = record_type or record_type_of(record)
    if right is None and record_type is None:
        raise ValueError("check() needs a record, a record type or a right.")
    granted, grant = _role_outcome(principal, action, record_type, record, right)
    policies = _policies(principal) if principal.is_member else []
    if not policies:
        return Decision(allowed=granted, reason=grant, grant=grant)
    outcome = _cedar(principal, action, record_type, record, right, granted, context or {})
    if outcome.allowed:
        reason = grant
        if not granted:
            names = ", ".join(f"“{p.name}”" for p in outcome.policies)
            reason = f"Allowed by the policy {names}."
        return Decision(allowed=True, reason=reason, grant=grant, policies=outcome.policies)
    forbids = outcome.policies
    if forbids:
        names = ", ".join(f"“{p.name}”" for p in forbids)
        kind = "policy" if len(forbids) == 1 else "policies"
        return Decision(
            allowed=False, reason=f"Denied by the {kind} {names}.", grant=grant, policies=forbids
        )
    return Decision(allowed=False, reason=grant, grant=grant)


def require(
    principal: Principal | None,
    action: str,
    *,
    record_type: str | None = None,
    record: Model | None = None,
    right: str | None = None,
    context: dict[str, Any] | None = None,
) -> Decision:
    """`check`, raising AccessDenied (403, with the reason and deciding policies) on a no."""
    decision = check(
        principal, action, record_type=record_type, record=record, right=right, context=context
    )
    if not decision.allowed:
        raise AccessDenied(decision.reason, policies=list(decision.policy_names))
    return decision


# --- Cedar entities -------------------------------------------------------------------


def _local_now(tenant: Tenant) -> dt.datetime:
    try:
        zone = zoneinfo.ZoneInfo(getattr(tenant, "time_zone", "") or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    return timezone.now().astimezone(zone)


def _user_entity(
    user_id: int | None,
    *,
    email: str = "",
    roles: tuple[str, ...] = (),
    team_ids: frozenset[int] | set[int] = frozenset(),
    managed: frozenset[int] | set[int] = frozenset(),
) -> dict[str, Any]:
    return {
        "uid": cedar.uid("User", user_id or 0),
        "attrs": {
            "email": email,
            "roles": list(roles),
            "managed_teams": [cedar.ref("Team", t) for t in sorted(managed)],
        },
        "parents": [cedar.uid("Team", t) for t in sorted(team_ids)],
    }


def _record_attrs(record_type: str, record: Model, owner: dict[str, Any]) -> dict[str, Any]:
    attrs: dict[str, Any] = {"owner": owner}
    if record_type == "deal":
        stage = getattr(record, "stage", None)
        kind = "won" if stage and stage.is_won else "lost" if stage and stage.is_lost else "open"
        pipeline = getattr(record, "pipeline", None)
        attrs |= {
            "amount": int(getattr(record, "amount", 0) or 0),
            "currency": getattr(record, "currency", "") or "",
            "pipeline": pipeline.name if pipeline else "",
            "stage": stage.name if stage else "",
            "stage_kind": kind,
        }
    elif record_type == "lead":
        attrs |= {
            "status": getattr(record, "status", "") or "",
            "source": getattr(record, "source", "") or "",
        }
    elif record_type == "activity":
        attrs |= {"kind": getattr(record, "kind", "") or ""}
    return attrs


def _owner_teams(owner_id: int, tenant: Tenant) -> set[int]:
    """The teams a record's owner is in or manages: their entity's parents, so `owner in
    Team` holds for both, as it does for the principal and in lists."""
    from iam.models import Team, TeamMember

    members = TeamMember.objects.filter(team__tenant=tenant, user_id=owner_id)
    managed = Team.objects.filter(tenant=tenant, manager_id=owner_id)
    return set(
        members.values_list("team_id", flat=True).union(managed.values_list("pk", flat=True))
    )


def _context(
    principal: Principal,
    *,
    granted: bool,
    record_type: str | None,
    right: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    now = _local_now(principal.tenant)
    return {
        "granted": granted,
        "hour": now.hour,
        "weekday": now.isoweekday(),
        "via": principal.via,
        "record_type": record_type or "",
        "to_stage_kind": str((extra or {}).get("to_stage_kind", "")),
        "right": right or "",
    }


def _principal_entities(principal: Principal) -> list[dict[str, Any]]:
    """The principal's entity first, then the teams it is in or manages."""
    me = _user_entity(
        principal.user_id,
        email=principal.email,
        roles=principal.role_keys,
        team_ids=principal.team_ids,
        managed=principal.managed_team_ids,
    )
    return [me] + [
        {"uid": cedar.uid("Team", t), "attrs": {"name": ""}, "parents": []}
        for t in sorted(principal.team_ids | principal.managed_team_ids)
    ]


def _cedar(
    principal: Principal,
    action: str,
    record_type: str | None,
    record: Model | None,
    right: str | None,
    granted: bool,
    extra: dict[str, Any],
) -> cedar.Outcome:
    context = _context(
        principal, granted=granted, record_type=record_type, right=right, extra=extra
    )
    entities = _principal_entities(principal)
    me = entities[0]
    if record is None:
        resource = cedar.uid("Organization", principal.tenant.slug)
        entities.append({"uid": resource, "attrs": {"slug": principal.tenant.slug}, "parents": []})
        cedar_action = "manage" if right is not None else action
    else:
        assert record_type is not None  # noqa: S101
        cedar_type = next(t.cedar_type for t in catalog.RECORD_TYPES if t.key == record_type)
        owner_id = owner_of(record)
        if owner_id is not None and owner_id != principal.user_id:
            owner_teams = _owner_teams(owner_id, principal.tenant)
            entities.append(_user_entity(owner_id, team_ids=owner_teams))
            entities += [
                {"uid": cedar.uid("Team", t), "attrs": {"name": ""}, "parents": []}
                for t in sorted(owner_teams - principal.team_ids - principal.managed_team_ids)
            ]
        elif owner_id is None:
            entities.append(_user_entity(None))
        resource = cedar.uid(cedar_type, record.pk or 0)
        attrs = _record_attrs(record_type, record, cedar.ref("User", owner_id or 0))
        entities.append({"uid": resource, "attrs": attrs, "parents": []})
        cedar_action = action
    return cedar.evaluate(
        policies=_policies(principal),
        principal=me["uid"],
        action=cedar_action,
        resource=resource,
        context=context,
        entities=entities,
    )
