"""What the Members page shows of the access model: the organization's custom roles and
teams, and which of them each member holds, read once for the whole page."""

from typing import Any

from django import template

from iam.selectors_access import custom_role_list, membership_access_list, team_list
from tenants.models import Tenant

register = template.Library()


@register.simple_tag
def member_access_data(tenant: Tenant) -> dict[str, Any]:
    """The custom roles and teams to offer, and per membership id the ones it holds."""
    return {
        "custom_roles": list(custom_role_list(tenant=tenant)),
        "teams": list(team_list(tenant=tenant)),
        "by_membership": membership_access_list(tenant=tenant),
    }


@register.filter
def access_of(data: dict[str, Any], membership_id: int) -> dict[str, Any]:
    """One membership's custom role ids and team ids (empty sets when it holds none)."""
    found: dict[str, Any] = data["by_membership"].get(membership_id, {})
    return {"roles": found.get("roles", set()), "teams": found.get("teams", set())}
