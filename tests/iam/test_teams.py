"""Teams: members with the "people" right make, rename and delete teams, set their manager
and members; a team's members see each other's records where their roles reach team
records. Pages, API and services; another organization's teams are out of reach."""

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from iam import authz
from iam.access_errors import NameTaken
from iam.exceptions import NotAllowed
from iam.models import Membership, Role, Team, TeamMember, User
from iam.org.models import AuditEvent
from iam.services_access import (
    membership_teams_set,
    team_create,
    team_delete,
    team_member_add,
    team_member_remove,
    team_update,
)
from problems.exceptions import InvalidFields
from tenants.models import Tenant
from tests.conftest import host_of, token_client
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _browser(tenant: Tenant, user: User) -> Client:
    client = Client(HTTP_HOST=host_of(tenant))
    client.force_login(user)
    return client


def _members(team: Team) -> set[int]:
    return set(TeamMember.objects.filter(team=team).values_list("user_id", flat=True))


def test_a_team_with_a_manager_makes_its_members_teammates(
    tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    colleague = UserFactory(email="colleague@alpha.test")
    Membership.objects.create(user=colleague, tenant=tenant_a, role=Role.MANAGER)
    team = team_create(
        tenant=tenant_a, by=owner_a, name="Sales", manager_id=colleague.pk, member_ids=[member_a.pk]
    )
    assert _members(team) == {colleague.pk, member_a.pk}  # the manager is in the team
    principal = authz.principal_for(user=colleague, tenant=tenant_a)
    assert team.pk in principal.managed_team_ids
    assert member_a.pk in principal.teammate_ids


def test_renaming_changing_the_manager_and_membership(
    tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    team = team_create(tenant=tenant_a, by=owner_a, name="Sales")
    team_update(team=team, by=owner_a, name="Field sales", manager_id=member_a.pk)
    team.refresh_from_db()
    assert (team.name, team.manager_id) == ("Field sales", member_a.pk)
    assert _members(team) == {member_a.pk}
    team_member_add(team=team, by=owner_a, user_id=owner_a.pk)
    team_member_remove(team=team, by=owner_a, user_id=member_a.pk)
    team.refresh_from_db()
    assert _members(team) == {owner_a.pk}
    assert team.manager_id is None  # a manager who leaves the team stops managing it
    with tenant_context(tenant_a):
        actions = list(AuditEvent.objects.order_by("seq").values_list("action", flat=True))
    assert [a for a in actions if a.startswith("team.")] == [
        "team.created",
        "team.changed",
        "team.member_added",
        "team.member_removed",
    ]


def test_team_names_are_unique_and_managers_must_be_members(
    tenant_a: Tenant, tenant_b: Tenant, owner_a: User, owner_b: User
) -> None:
    team_create(tenant=tenant_a, by=owner_a, name="Sales")
    with pytest.raises(NameTaken):
        team_create(tenant=tenant_a, by=owner_a, name="SALES")
    with pytest.raises(InvalidFields) as caught:
        team_create(tenant=tenant_a, by=owner_a, name="Other", manager_id=owner_b.pk)
    assert "manager" in caught.value.errors
    with pytest.raises(InvalidFields):
        team_create(tenant=tenant_a, by=owner_a, name="Bad\x00name")
    assert list(Team.objects.filter(tenant=tenant_a).values_list("name", flat=True)) == ["Sales"]


def test_members_do_not_manage_teams(tenant_a: Tenant, owner_a: User, member_a: User) -> None:
    with pytest.raises(NotAllowed, match="People"):
        team_create(tenant=tenant_a, by=member_a, name="Mine")
    team = team_create(tenant=tenant_a, by=owner_a, name="Sales")
    with pytest.raises(NotAllowed):
        team_member_add(team=team, by=member_a, user_id=member_a.pk)
    with pytest.raises(NotAllowed):
        team_delete(team=team, by=member_a)
    mine = Membership.objects.get(user=member_a, tenant=tenant_a)
    with pytest.raises(NotAllowed):
        membership_teams_set(membership=mine, by=member_a, team_ids=[team.pk])
    assert _members(team) == set()


def test_the_members_page_puts_someone_in_teams(
    tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    sales = team_create(tenant=tenant_a, by=owner_a, name="Sales")
    support = team_create(tenant=tenant_a, by=owner_a, name="Support", member_ids=[member_a.pk])
    browser = _browser(tenant_a, owner_a)
    assert "Support" in browser.get("/settings/members/").content.decode()
    mine = Membership.objects.get(user=member_a, tenant=tenant_a)
    response = browser.post(f"/settings/members/{mine.pk}/access/", {"teams": [sales.pk]})
    assert response.status_code == 302
    assert _members(sales) == {member_a.pk}
    assert _members(support) == set()


def test_the_teams_pages_create_rename_fill_and_delete_a_team(
    tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    browser = _browser(tenant_a, owner_a)
    assert browser.get("/settings/teams/").status_code == 200
    created = browser.post("/settings/teams/", {"name": "Sales", "manager": str(owner_a.pk)})
    assert created.status_code == 302
    team = Team.objects.get(tenant=tenant_a, name="Sales")
    page = browser.get(f"/settings/teams/{team.pk}/")
    assert page.status_code == 200 and member_a.email in page.content.decode()
    added = browser.post(f"/settings/teams/{team.pk}/members/", {"user": str(member_a.pk)})
    assert added.status_code == 302
    assert _members(team) == {owner_a.pk, member_a.pk}
    renamed = browser.post(f"/settings/teams/{team.pk}/", {"name": "Field sales", "manager": ""})
    assert renamed.status_code == 302
    team.refresh_from_db()
    assert (team.name, team.manager_id) == ("Field sales", None)
    removed = browser.post(f"/settings/teams/{team.pk}/members/{member_a.pk}/remove/")
    assert removed.status_code == 302 and _members(team) == {owner_a.pk}
    assert browser.post(f"/settings/teams/{team.pk}/delete/").status_code == 302
    assert not Team.objects.filter(pk=team.pk).exists()


def test_the_teams_page_shows_a_taken_name_next_to_the_field(
    tenant_a: Tenant, owner_a: User
) -> None:
    team_create(tenant=tenant_a, by=owner_a, name="Sales")
    response = _browser(tenant_a, owner_a).post("/settings/teams/", {"name": "sales"})
    assert response.status_code == 400
    assert "A team with this name exists already." in response.content.decode()


def test_members_cannot_open_the_teams_pages(client_a: Client) -> None:
    assert client_a.get("/settings/teams/").status_code == 403
    assert client_a.post("/settings/teams/", {"name": "Mine"}).status_code == 403


def test_another_organizations_teams_answer_404(
    tenant_a: Tenant, tenant_b: Tenant, owner_a: User, owner_b: User, member_a: User
) -> None:
    theirs = team_create(tenant=tenant_b, by=owner_b, name="Theirs")
    browser = _browser(tenant_a, owner_a)
    assert browser.get(f"/settings/teams/{theirs.pk}/").status_code == 404
    assert browser.post(f"/settings/teams/{theirs.pk}/delete/").status_code == 404
    assert (
        browser.post(f"/settings/teams/{theirs.pk}/members/", {"user": member_a.pk}).status_code
        == 404
    )
    api = token_client(owner_a, tenant_a)
    assert api.get(f"/api/v1/teams/{theirs.pk}/").status_code == 404
    assert api.delete(f"/api/v1/teams/{theirs.pk}/").status_code == 404
    assert (
        api.post(
            f"/api/v1/teams/{theirs.pk}/members/",
            {"user": member_a.pk},
            content_type="application/json",
        ).status_code
        == 404
    )
    mine = Membership.objects.get(user=member_a, tenant=tenant_a)
    with pytest.raises(InvalidFields):
        membership_teams_set(membership=mine, by=owner_a, team_ids=[theirs.pk])
    assert Team.objects.filter(pk=theirs.pk).exists() and _members(theirs) == set()


def test_the_api_manages_teams(tenant_a: Tenant, owner_a: User, member_a: User) -> None:
    api = token_client(owner_a, tenant_a)
    created = api.post(
        "/api/v1/teams/",
        {"name": "Sales", "manager": owner_a.pk, "members": [member_a.pk]},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["manager"] == owner_a.pk
    assert body["members"] == sorted([owner_a.pk, member_a.pk])
    pk = body["id"]
    assert [t["name"] for t in api.get("/api/v1/teams/").json()["results"]] == ["Sales"]
    renamed = api.patch(
        f"/api/v1/teams/{pk}/", {"name": "Field", "manager": None}, content_type="application/json"
    )
    assert renamed.status_code == 200 and renamed.json()["manager"] is None
    assert api.delete(f"/api/v1/teams/{pk}/members/{member_a.pk}/").status_code == 204
    added = api.post(
        f"/api/v1/teams/{pk}/members/", {"user": member_a.pk}, content_type="application/json"
    )
    assert added.status_code == 200 and member_a.pk in added.json()["members"]
    taken = api.post("/api/v1/teams/", {"name": "field"}, content_type="application/json")
    assert taken.status_code == 409 and taken.json()["code"] == "name-taken"
    stranger = api.post(
        "/api/v1/teams/", {"name": "X", "manager": 10**12}, content_type="application/json"
    )
    assert stranger.status_code == 400 and "manager" in stranger.json()["errors"]
    assert api.delete(f"/api/v1/teams/{pk}/").status_code == 204
    assert not Team.objects.filter(tenant=tenant_a).exists()


def test_members_get_403_from_the_teams_api(tenant_a: Tenant, member_a: User) -> None:
    api = token_client(member_a, tenant_a)
    refused = api.post("/api/v1/teams/", {"name": "Mine"}, content_type="application/json")
    assert refused.status_code == 403
    assert refused["Content-Type"] == "application/problem+json"
    assert not Team.objects.filter(tenant=tenant_a).exists()


def test_the_team_list_reads_its_members_in_a_fixed_number_of_statements(
    tenant_a: Tenant, owner_a: User, member_a: User, django_assert_max_num_queries: object
) -> None:
    for n in range(5):
        team_create(tenant=tenant_a, by=owner_a, name=f"Team {n}", member_ids=[member_a.pk])
    api = token_client(owner_a, tenant_a)
    with django_assert_max_num_queries(12):  # type: ignore[operator]
        listed = api.get("/api/v1/teams/")
    assert len(listed.json()["results"]) == 5
    assert all(t["members"] == [member_a.pk] for t in listed.json()["results"])
