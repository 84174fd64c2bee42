"""Reads for SCIM: an organization's members and teams, found by id or by filter, and shown
as SCIM resources. Every query is filtered by the organization: ids of another one's
members or teams are simply not found."""

from typing import Any

from django.db.models import Q, QuerySet
from scim2_models import InvalidFilterException, Meta, ScimFilter
from scim2_models.path import CompareOperator, Comparison, LogicalExpr, LogicalOperator

from iam.models import Membership, Team, TeamMember
from tenants.models import Tenant

from .models import ScimProfile, ScimToken
from .resources import Email, Group, GroupMember, Name, User


def scim_token_list(*, tenant: Tenant) -> QuerySet[ScimToken]:
    """The organization's SCIM tokens, live ones first, with who made them."""
    return (
        ScimToken.objects.filter(tenant=tenant)
        .select_related("created_by")
        .order_by("revoked_at", "-created_at")
    )


def member_list(*, tenant: Tenant) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(tenant=tenant)
        .select_related("user", "scim_profile")
        .order_by("pk")
    )


def member_get(*, tenant: Tenant, resource_id: str) -> Membership | None:
    if not resource_id.isdigit():
        return None
    return member_list(tenant=tenant).filter(pk=int(resource_id)).first()


def team_list(*, tenant: Tenant) -> QuerySet[Team]:
    return Team.objects.filter(tenant=tenant).order_by("pk")


def team_get(*, tenant: Tenant, resource_id: str) -> Team | None:
    if not resource_id.isdigit():
        return None
    return team_list(tenant=tenant).filter(pk=int(resource_id)).first()


# Filters ----------------------------------------------------------------------------------
# Identity providers look people and groups up by one attribute before they create them
# (`userName eq "x"`, `externalId eq "y"`, `displayName eq "z"`); those comparisons, joined
# by `and`/`or`, are answered in the query. Anything else is an invalidFilter error.


def _comparison_q(node: Comparison, fields: dict[str, Any]) -> Q:
    path = node.attr_path
    name = (path.attr + (f".{path.sub_attr}" if path.sub_attr else "")).lower()
    build = fields.get(name)
    if build is None or node.op != CompareOperator.eq or not isinstance(node.value, str):
        raise InvalidFilterException(
            detail=f"Only `eq` comparisons of {', '.join(sorted(fields))} are supported."
        )
    q: Q = build(node.value)
    return q


def _filter_q(node: Any, fields: dict[str, Any]) -> Q:
    if isinstance(node, Comparison):
        return _comparison_q(node, fields)
    if isinstance(node, LogicalExpr) and node.terms:
        combined = _filter_q(node.terms[0], fields)
        for term in node.terms[1:]:
            q = _filter_q(term, fields)
            combined = combined & q if node.op == LogicalOperator.and_ else combined | q
        return combined
    raise InvalidFilterException(detail="Only `eq` comparisons joined by and/or are supported.")


_USER_FIELDS: dict[str, Any] = {
    "username": lambda v: (
        Q(scim_profile__user_name__iexact=v) | Q(scim_profile__isnull=True, user__email__iexact=v)
    ),
    "externalid": lambda v: Q(external_id=v),
    "emails": lambda v: Q(user__email__iexact=v),
    "emails.value": lambda v: Q(user__email__iexact=v),
    "id": lambda v: Q(pk=int(v)) if v.isdigit() else Q(pk__in=[]),
}
_GROUP_FIELDS: dict[str, Any] = {
    "displayname": lambda v: Q(name__iexact=v),
    "externalid": lambda v: Q(external_id=v),
    "id": lambda v: Q(pk=int(v)) if v.isdigit() else Q(pk__in=[]),
}


def member_filter(members: QuerySet[Membership], expression: str) -> QuerySet[Membership]:
    return members.filter(_filter_q(ScimFilter[User](expression).ast, _USER_FIELDS))


def team_filter(teams: QuerySet[Team], expression: str) -> QuerySet[Team]:
    return teams.filter(_filter_q(ScimFilter[Group](expression).ast, _GROUP_FIELDS))


# Resources ----------------------------------------------------------------------------------


def _profile(membership: Membership) -> ScimProfile | None:
    try:
        return membership.scim_profile
    except ScimProfile.DoesNotExist:
        return None


def user_resource(membership: Membership, *, base_url: str) -> User:
    """A member as the identity provider sees them: what it last sent where we keep it, and
    our own record for members it never provisioned (userName is then the e-mail)."""
    user = membership.user
    profile = _profile(membership)
    if profile is not None:
        user_name = profile.user_name
        parts = {
            "formatted": profile.formatted or None,
            "given_name": profile.given_name or None,
            "family_name": profile.family_name or None,
        }
        emails = [Email.model_validate(e) for e in profile.emails] or [
            Email(value=user.email, primary=True)
        ]
        active = (
            None
            if not profile.active_reported and membership.deactivated_at is None
            else (membership.deactivated_at is None)
        )
        last_modified = profile.updated_at
    else:
        user_name = user.email
        parts = {"formatted": user.full_name or None}
        emails = [Email(value=user.email, type=Email.Type.work, primary=True)]
        active = membership.deactivated_at is None
        last_modified = membership.created_at
    name = Name(**parts) if any(parts.values()) else None
    return User(
        id=str(membership.pk),
        external_id=membership.external_id or None,
        user_name=user_name,
        name=name,
        active=active,
        emails=emails,
        meta=Meta(
            resource_type="User",
            created=membership.created_at,
            last_modified=last_modified,
            location=f"{base_url}/Users/{membership.pk}",
        ),
    )


def group_members(*, tenant: Tenant, teams: list[Team]) -> dict[int, list[int]]:
    """For each team, the membership ids (SCIM User ids) of its members in this
    organization, in two queries whatever the number of teams."""
    rows = list(
        TeamMember.objects.filter(team__in=teams).values_list("team_id", "user_id").order_by("pk")
    )
    ids = dict(
        Membership.objects.filter(tenant=tenant, user_id__in={u for _, u in rows}).values_list(
            "user_id", "pk"
        )
    )
    found: dict[int, list[int]] = {team.pk: [] for team in teams}
    for team_id, user_id in rows:
        if user_id in ids:
            found[team_id].append(ids[user_id])
    return found


def group_resource(team: Team, *, member_ids: list[int], base_url: str) -> Group:
    return Group(
        id=str(team.pk),
        external_id=team.external_id or None,
        display_name=team.name,
        members=[
            GroupMember.model_validate(
                {"value": str(pk), "$ref": f"{base_url}/Users/{pk}", "type": "User"}
            )
            for pk in member_ids
        ]
        or None,
        meta=Meta(
            resource_type="Group",
            created=team.created_at,
            last_modified=team.created_at,
            location=f"{base_url}/Groups/{team.pk}",
        ),
    )
