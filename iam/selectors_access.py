"""Reads of the access model: custom roles, teams, policies, the shares of a record, and
the "why?" of a decision. Roles, teams and policies live in the shared schema, so every read
filters by the organization."""

from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import models
from django.db.models import Count, Prefetch, QuerySet

from problems.exceptions import InvalidFields
from tenants.models import Tenant

from . import authz, record_finder
from .access_errors import RecordNotFound
from .authz import catalog
from .exceptions import AccessDenied
from .models import AccessPolicy, CustomRole, Membership, Team, TeamMember, User
from .org.models import RecordShare

# The model of each record type of the catalog. Named through the app registry: the
# records are the CRM's, which identity and access do not import.
_RECORD_MODELS = {
    "contact": "Contact",
    "company": "Company",
    "lead": "Lead",
    "deal": "Deal",
    "activity": "Activity",
}


def custom_role_list(*, tenant: Tenant) -> QuerySet[CustomRole]:
    """The organization's custom roles with how many members hold each."""
    return CustomRole.objects.filter(tenant=tenant).annotate(member_count=Count("memberships"))


def custom_role_get(*, tenant: Tenant, pk: int) -> CustomRole | None:
    return CustomRole.objects.filter(tenant=tenant, pk=pk).first()


def team_list(*, tenant: Tenant) -> QuerySet[Team]:
    """The organization's teams, each with its manager and members read along."""
    return (
        Team.objects.filter(tenant=tenant)
        .select_related("manager")
        .prefetch_related(
            Prefetch(
                "memberships",
                queryset=TeamMember.objects.select_related("user").order_by("user__email"),
            )
        )
    )


def team_get(*, tenant: Tenant, pk: int) -> Team | None:
    return team_list(tenant=tenant).filter(pk=pk).first()


def policy_list(*, tenant: Tenant) -> QuerySet[AccessPolicy]:
    return AccessPolicy.objects.filter(tenant=tenant).select_related("created_by")


def policy_get(*, tenant: Tenant, pk: int) -> AccessPolicy | None:
    return policy_list(tenant=tenant).filter(pk=pk).first()


def active_member_list(*, tenant: Tenant) -> QuerySet[User]:
    """The people who can be put in teams, given roles, or shared with."""
    return User.objects.filter(
        memberships__tenant=tenant, memberships__deactivated_at=None
    ).order_by("email")


def membership_access_list(*, tenant: Tenant) -> dict[int, dict[str, Any]]:
    """Per membership id: its custom role ids and team ids, for the Members page (two
    statements whatever the number of members)."""
    found: dict[int, dict[str, Any]] = {}
    through = Membership.custom_roles.through
    for membership_id, role_id in through.objects.filter(membership__tenant=tenant).values_list(
        "membership_id", "customrole_id"
    ):
        found.setdefault(membership_id, {"roles": set(), "teams": set()})["roles"].add(role_id)
    memberships = dict(Membership.objects.filter(tenant=tenant).values_list("user_id", "pk"))
    for user_id, team_id in TeamMember.objects.filter(team__tenant=tenant).values_list(
        "user_id", "team_id"
    ):
        if user_id in memberships:
            found.setdefault(memberships[user_id], {"roles": set(), "teams": set()})["teams"].add(
                team_id
            )
    return found


def record_model(record_type: str) -> type[models.Model]:
    if record_type not in _RECORD_MODELS:
        raise InvalidFields({"record_type": ["No such record type."]})
    return apps.get_model("crm", _RECORD_MODELS[record_type])


def record_get(*, record_type: str, record_id: object) -> Any:
    """A record of the organization the connection is on, by type and id (not in the trash);
    RecordNotFound when there is none."""
    model = record_model(record_type)
    try:
        pk = int(str(record_id))
    except ValueError:
        raise RecordNotFound() from None
    if not -(2**63) <= pk < 2**63:
        raise RecordNotFound()
    record = model._default_manager.filter(pk=pk).first()
    if record is None:
        raise RecordNotFound()
    return record


def record_label(record: Any) -> str:
    for attr in ("name", "title", "subject", "full_name"):
        value = getattr(record, attr, None)
        if isinstance(value, str) and value:
            return value
    return f"#{record.pk}"


def record_share_list(*, record_type: str, record_id: int) -> QuerySet[RecordShare]:
    return RecordShare.objects.filter(record_type=record_type, record_id=record_id).order_by(
        "created_at", "pk"
    )


@dataclass(frozen=True)
class ShareRow:
    share: RecordShare
    grantee: str  # the member's e-mail or the team's name
    kind: str  # "member" or "team"


def record_share_rows(*, tenant: Tenant, record_type: str, record_id: int) -> list[ShareRow]:
    """The shares of one record with the names of whom they are with (three statements)."""
    shares = list(record_share_list(record_type=record_type, record_id=record_id))
    users = dict(
        User.objects.filter(
            pk__in=[s.user_id for s in shares if s.user_id], memberships__tenant=tenant
        ).values_list("pk", "email")
    )
    teams = dict(
        Team.objects.filter(
            tenant=tenant, pk__in=[s.team_id for s in shares if s.team_id]
        ).values_list("pk", "name")
    )
    rows = []
    for share in shares:
        if share.user_id:
            rows.append(ShareRow(share, users.get(share.user_id, "(former member)"), "member"))
        else:
            rows.append(ShareRow(share, teams.get(share.team_id or 0, "(deleted team)"), "team"))
    return rows


def require_why_right(principal: authz.Principal) -> None:
    """The "why?" tool shows what others may do: for those who manage people or policies."""
    if not (authz.may(principal, "admin.policies") or authz.may(principal, "admin.people")):
        raise AccessDenied(
            "Only members with the admin right “People” or “Access policies” ask why."
        )


@dataclass(frozen=True)
class WhyAnswer:
    """The decision for one member, action and record, with what the page shows of it."""

    member: User
    action: str
    record_type: str
    record: Any
    decision: "authz.Decision"
    policies: list[AccessPolicy]  # the deciding policies, as rows of this organization


def access_why(
    *, tenant: Tenant, user_id: object, action: str, record_type: str, record_id: object = None
) -> WhyAnswer:
    """What the decision point answers for a member doing `action` to a record (or to the
    record type as a whole, without one), with the reason and the policies that decided."""
    errors: dict[str, list[str]] = {}
    member = None
    try:
        member = active_member_list(tenant=tenant).filter(pk=int(str(user_id))).first()
    except ValueError:  # not a number: no such member, said as for any other
        member = None
    if member is None:
        errors["user"] = ["Choose a member of this organization."]
    if action not in catalog.RECORD_ACTION_KEYS:
        errors["action"] = [f"Choose one of: {', '.join(sorted(catalog.RECORD_ACTION_KEYS))}."]
    if record_type not in catalog.RECORD_TYPE_KEYS:
        errors["record_type"] = ["No such record type."]
    record = None
    if not errors and record_id not in (None, ""):
        try:
            record = record_get(record_type=record_type, record_id=record_id)
        except RecordNotFound:
            errors["record_id"] = ["No such record in this organization."]
    if errors or member is None:
        raise InvalidFields(errors)
    principal = authz.principal_for(user=member, tenant=tenant)
    decision = authz.check(principal, action, record_type=record_type, record=record)
    ids = [p.id for p in decision.policies]
    found = {p.pk: p for p in policy_list(tenant=tenant).filter(pk__in=ids)}
    return WhyAnswer(
        member=member,
        action=action,
        record_type=record_type,
        record=record,
        decision=decision,
        policies=[found[i] for i in ids if i in found],
    )


WHY_OPTIONS = 10  # records the "why?" picker offers for a typed name, at most
WHY_SEARCH_MAX = 200


def why_record_options(
    *, principal: authz.Principal, record_type: str, text: str
) -> list[record_finder.RecordOption]:
    """The records of `record_type` whose names best match `text`, for the "why?" tool's
    picker: at most WHY_OPTIONS, among those the person asking may view (as their search
    box would find them). InvalidFields for an unknown type or an overlong text."""
    errors: dict[str, list[str]] = {}
    if record_type not in catalog.RECORD_TYPE_KEYS:
        errors["record_type"] = ["No such record type."]
    if len(text) > WHY_SEARCH_MAX:
        errors["q"] = [f"Type at most {WHY_SEARCH_MAX} characters."]
    if errors:
        raise InvalidFields(errors)
    return record_finder.record_options(
        principal=principal, record_type=record_type, text=text, limit=WHY_OPTIONS
    )
