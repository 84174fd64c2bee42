"""What the access tests of the CRM's record families share: members with a built-in role
and custom roles, their browser and API clients, and the organization policies they meet."""

from typing import Any

from django.test import Client

from iam.models import CustomRole, Membership, Role, Team, TeamMember, User
from tenants.models import Tenant
from tests.conftest import host_of, token_client
from tests.factories import UserFactory

# "Members edit only deals they own", and the same for leads: Cedar forbids on top of roles.
OWN_DEALS = """
forbid (principal, action == MyCRM::Action::"edit", resource is MyCRM::Deal)
when { resource.owner != principal }
unless { principal.roles.contains("admin") || principal.roles.contains("owner") };
"""
OWN_LEADS = """
forbid (principal, action == MyCRM::Action::"edit", resource is MyCRM::Lead)
when { resource.owner != principal }
unless { principal.roles.contains("admin") || principal.roles.contains("owner") };
"""
BIG_WINS = """
forbid (principal, action == MyCRM::Action::"move", resource is MyCRM::Deal)
when { resource.amount > 100000 && context.to_stage_kind == "won" }
unless { principal.roles.contains("manager") };
"""


def scoped(record_type: str, scope: str, *actions: str) -> dict[str, str]:
    """A custom role's matrix: `actions` on `record_type` at `scope` (view at least)."""
    return {f"{record_type}.{action}": scope for action in ("view", *actions)}


def member(tenant: Tenant, role: str = Role.MEMBER, **custom: dict[str, Any]) -> User:
    """A new member of `tenant` with the built-in `role` and the custom roles given by name.
    (The billing role grants no record: with a custom role, only that role's rights.)"""
    user = UserFactory()
    membership = Membership.objects.create(user=user, tenant=tenant, role=role)
    for name, permissions in custom.items():
        made = CustomRole.objects.create(tenant=tenant, name=name, permissions=permissions)
        membership.custom_roles.add(made)
    return user


def team_of(tenant: Tenant, *users: User, name: str = "North") -> Team:
    team = Team.objects.create(tenant=tenant, name=name)
    for user in users:
        TeamMember.objects.create(team=team, user=user)
    return team


def browser(user: User, tenant: Tenant) -> Client:
    client = Client(HTTP_HOST=host_of(tenant))
    client.force_login(user)
    return client


def api(user: User, tenant: Tenant) -> Client:
    return token_client(user, tenant)


def denied(response: Any) -> dict[str, Any]:
    """The problem of a refused API call, checked to be the decision point's."""
    assert response.status_code == 403, response.content
    body: dict[str, Any] = response.json()
    assert body["code"] == "access-denied", body
    return body
