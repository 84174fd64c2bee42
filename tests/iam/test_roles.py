"""Custom roles: made from the permission matrix by members with the "roles" right, given to
members by those with the "people" right, and never a way to more admin rights than the
giver holds (role escalation). Pages, API and services; another organization's roles are
out of reach."""

import pytest
from django.test import Client

from iam import authz
from iam.access_errors import NameTaken
from iam.exceptions import NotAllowed
from iam.models import CustomRole, Membership, Role, User
from iam.services import membership_role_change
from iam.services_access import (
    custom_role_create,
    custom_role_delete,
    custom_role_update,
    membership_custom_roles_set,
)
from problems.exceptions import InvalidFields
from tenants.models import Tenant
from tests.conftest import host_of, token_client
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

EXPORTER = {"contact.view": "all", "contact.export": "all", "deal.edit": "own"}


def _member(tenant: Tenant, role: str, email: str) -> User:
    user = UserFactory(email=email)
    Membership.objects.create(user=user, tenant=tenant, role=role)
    return user


def _browser(tenant: Tenant, user: User) -> Client:
    client = Client(HTTP_HOST=host_of(tenant))
    client.force_login(user)
    return client


@pytest.fixture
def admin_a(tenant_a: Tenant) -> User:
    return _member(tenant_a, Role.ADMIN, "admin@alpha.test")


# Services --------------------------------------------------------------------------------


def test_an_owner_creates_a_role_and_its_members_get_its_rights(
    tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    role = custom_role_create(
        tenant=tenant_a, by=owner_a, name="Exporter", permissions={**EXPORTER, "lead.view": "none"}
    )
    assert role.permissions == EXPORTER  # "none" grants nothing and is not kept
    assert not authz.may(authz.principal_for(user=member_a, tenant=tenant_a), "contact.export")

    membership = Membership.objects.get(user=member_a, tenant=tenant_a)
    membership_custom_roles_set(membership=membership, by=owner_a, role_ids=[role.pk])
    principal = authz.principal_for(user=member_a, tenant=tenant_a)
    assert authz.may(principal, "contact.export")
    assert "Exporter" in principal.role_keys


def test_unknown_permissions_and_scopes_are_field_errors(tenant_a: Tenant, owner_a: User) -> None:
    with pytest.raises(InvalidFields) as caught:
        custom_role_create(
            tenant=tenant_a,
            by=owner_a,
            name="Odd",
            permissions={
                "deal.fly": "all",
                "deal.export": "own",
                "admin.people": "team",
                "lead.view": None,
            },
        )
    assert set(caught.value.errors) == {
        "permissions.deal.fly",
        "permissions.deal.export",
        "permissions.admin.people",
        "permissions.lead.view",
    }
    assert not CustomRole.objects.filter(tenant=tenant_a).exists()


def test_a_role_name_is_unique_and_may_not_be_a_built_in_one(
    tenant_a: Tenant, owner_a: User
) -> None:
    custom_role_create(tenant=tenant_a, by=owner_a, name="Exporter", permissions={})
    with pytest.raises(NameTaken):
        custom_role_create(tenant=tenant_a, by=owner_a, name="exporter", permissions={})
    with pytest.raises(InvalidFields) as caught:
        custom_role_create(tenant=tenant_a, by=owner_a, name="Admin", permissions={})
    assert "name" in caught.value.errors


def test_a_member_can_neither_make_roles_nor_give_them(
    tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    with pytest.raises(NotAllowed, match="Custom roles"):
        custom_role_create(tenant=tenant_a, by=member_a, name="Mine", permissions=EXPORTER)
    role = custom_role_create(tenant=tenant_a, by=owner_a, name="Exporter", permissions=EXPORTER)
    mine = Membership.objects.get(user=member_a, tenant=tenant_a)
    with pytest.raises(NotAllowed, match="People"):
        membership_custom_roles_set(membership=mine, by=member_a, role_ids=[role.pk])
    with pytest.raises(NotAllowed):
        membership_role_change(membership=mine, by=member_a, role=Role.ADMIN)
    assert not mine.custom_roles.exists()


def test_an_admin_cannot_grant_owner(tenant_a: Tenant, admin_a: User, member_a: User) -> None:
    mine = Membership.objects.get(user=member_a, tenant=tenant_a)
    with pytest.raises(NotAllowed, match="Only owners"):
        membership_role_change(membership=mine, by=admin_a, role=Role.OWNER)
    for role in (Role.MANAGER, Role.READ_ONLY, Role.ADMIN, Role.MEMBER):
        membership_role_change(membership=mine, by=admin_a, role=role)
        mine.refresh_from_db()
        assert mine.role == role


def test_only_owners_give_the_billing_role(
    tenant_a: Tenant, owner_a: User, admin_a: User, member_a: User
) -> None:
    mine = Membership.objects.get(user=member_a, tenant=tenant_a)
    with pytest.raises(NotAllowed, match="Only owners give the billing role"):
        membership_role_change(membership=mine, by=admin_a, role=Role.BILLING)
    mine.refresh_from_db()
    assert mine.role == Role.MEMBER
    membership_role_change(membership=mine, by=owner_a, role=Role.BILLING)
    mine.refresh_from_db()
    assert mine.role == Role.BILLING


def test_nobody_gives_admin_rights_they_do_not_hold(
    tenant_a: Tenant, owner_a: User, admin_a: User, member_a: User
) -> None:
    # Admins hold every admin right but billing.
    with pytest.raises(NotAllowed, match="billing"):
        custom_role_create(
            tenant=tenant_a, by=admin_a, name="Payer", permissions={"admin.billing": "all"}
        )
    payer = custom_role_create(
        tenant=tenant_a, by=owner_a, name="Payer", permissions={"admin.billing": "all"}
    )
    mine = Membership.objects.get(user=member_a, tenant=tenant_a)
    with pytest.raises(NotAllowed, match="billing"):
        membership_custom_roles_set(membership=mine, by=admin_a, role_ids=[payer.pk])
    with pytest.raises(NotAllowed):
        custom_role_update(
            role=payer, by=admin_a, name="Payer", permissions={"admin.billing": "all"}
        )
    with pytest.raises(NotAllowed):
        custom_role_delete(role=payer, by=admin_a)
    assert not mine.custom_roles.exists()
    # The owner may; and an admin may then take it away again.
    membership_custom_roles_set(membership=mine, by=owner_a, role_ids=[payer.pk])
    membership_custom_roles_set(membership=mine, by=admin_a, role_ids=[])
    assert not mine.custom_roles.exists()


def test_deleting_a_role_in_use_takes_its_rights_from_its_members(
    tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    role = custom_role_create(tenant=tenant_a, by=owner_a, name="Exporter", permissions=EXPORTER)
    mine = Membership.objects.get(user=member_a, tenant=tenant_a)
    membership_custom_roles_set(membership=mine, by=owner_a, role_ids=[role.pk])
    custom_role_delete(role=role, by=owner_a)
    assert Membership.objects.filter(pk=mine.pk, role=Role.MEMBER).exists()
    assert not authz.may(authz.principal_for(user=member_a, tenant=tenant_a), "contact.export")


def test_roles_of_another_organization_cannot_be_given(
    tenant_a: Tenant, tenant_b: Tenant, owner_a: User, owner_b: User, member_a: User
) -> None:
    theirs = custom_role_create(tenant=tenant_b, by=owner_b, name="Theirs", permissions={})
    mine = Membership.objects.get(user=member_a, tenant=tenant_a)
    with pytest.raises(InvalidFields):
        membership_custom_roles_set(membership=mine, by=owner_a, role_ids=[theirs.pk])


# Pages -----------------------------------------------------------------------------------


def test_the_roles_page_lists_built_in_and_custom_roles(tenant_a: Tenant, owner_a: User) -> None:
    custom_role_create(tenant=tenant_a, by=owner_a, name="Exporter", permissions=EXPORTER)
    page = _browser(tenant_a, owner_a).get("/settings/roles/")
    assert page.status_code == 200
    html = page.content.decode()
    for label in ("Owner", "Manager", "Read-only", "Billing", "Exporter"):
        assert label in html
    assert "The plan, seats and invoices; no records." in html


def test_an_owner_creates_a_role_from_the_matrix_page(tenant_a: Tenant, owner_a: User) -> None:
    browser = _browser(tenant_a, owner_a)
    assert browser.get("/settings/roles/new/").status_code == 200
    response = browser.post(
        "/settings/roles/new/",
        {
            "name": "Deal desk",
            "description": "Edits deals of the team",
            "p_deal_view": "all",
            "p_deal_edit": "team",
            "p_deal_export": "all",
            "p_admin_people": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    role = CustomRole.objects.get(tenant=tenant_a, name="Deal desk")
    assert role.permissions == {
        "admin.people": "all",
        "deal.edit": "team",
        "deal.export": "all",
        "deal.view": "all",
    }
    edited = browser.post(
        f"/settings/roles/{role.pk}/", {"name": "Deal desk", "p_deal_view": "own"}
    )
    assert edited.status_code == 302
    role.refresh_from_db()
    assert role.permissions == {"deal.view": "own"}


def test_the_matrix_page_shows_a_bad_scope_next_to_its_field(
    tenant_a: Tenant, owner_a: User
) -> None:
    response = _browser(tenant_a, owner_a).post(
        "/settings/roles/new/", {"name": "Odd", "p_deal_export": "team"}
    )
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not CustomRole.objects.filter(tenant=tenant_a).exists()


def test_an_admin_page_refuses_to_give_billing_with_the_reason(
    tenant_a: Tenant, admin_a: User
) -> None:
    response = _browser(tenant_a, admin_a).post(
        "/settings/roles/new/", {"name": "Payer", "p_admin_billing": "on"}
    )
    assert response.status_code == 403
    assert "admin rights you do not hold (billing)" in response.content.decode()
    assert not CustomRole.objects.filter(tenant=tenant_a).exists()


def test_members_cannot_open_the_roles_pages(client_a: Client) -> None:
    assert client_a.get("/settings/roles/").status_code == 403
    assert client_a.post("/settings/roles/new/", {"name": "X"}).status_code == 403


def test_the_members_page_gives_custom_roles_and_offers_the_new_built_in_roles(
    tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    role = custom_role_create(tenant=tenant_a, by=owner_a, name="Exporter", permissions=EXPORTER)
    browser = _browser(tenant_a, owner_a)
    page = browser.get("/settings/members/").content.decode()
    for label in ("Manager", "Read-only", "Billing", "Exporter"):
        assert label in page
    mine = Membership.objects.get(user=member_a, tenant=tenant_a)
    response = browser.post(f"/settings/members/{mine.pk}/access/", {"custom_roles": [role.pk]})
    assert response.status_code == 302
    assert list(mine.custom_roles.all()) == [role]


def test_an_admin_on_the_members_page_cannot_give_a_role_with_billing(
    tenant_a: Tenant, owner_a: User, admin_a: User, member_a: User
) -> None:
    payer = custom_role_create(
        tenant=tenant_a, by=owner_a, name="Payer", permissions={"admin.billing": "all"}
    )
    mine = Membership.objects.get(user=member_a, tenant=tenant_a)
    browser = _browser(tenant_a, admin_a)
    response = browser.post(
        f"/settings/members/{mine.pk}/access/", {"custom_roles": [payer.pk]}, follow=True
    )
    assert "admin rights you do not hold (billing)" in response.content.decode()
    assert not mine.custom_roles.exists()


def test_the_roles_pages_of_another_organization_answer_404(
    tenant_a: Tenant, tenant_b: Tenant, owner_a: User, owner_b: User
) -> None:
    theirs = custom_role_create(tenant=tenant_b, by=owner_b, name="Theirs", permissions={})
    browser = _browser(tenant_a, owner_a)
    assert browser.get(f"/settings/roles/{theirs.pk}/").status_code == 404
    assert browser.post(f"/settings/roles/{theirs.pk}/delete/").status_code == 404
    assert CustomRole.objects.filter(pk=theirs.pk).exists()


# API -------------------------------------------------------------------------------------


def test_the_api_creates_lists_changes_and_deletes_roles(tenant_a: Tenant, owner_a: User) -> None:
    api = token_client(owner_a, tenant_a)
    created = api.post(
        "/api/v1/roles/",
        {"name": "Exporter", "permissions": EXPORTER},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert created.json()["permissions"] == EXPORTER
    listed = api.get("/api/v1/roles/").json()["results"]
    assert [r["name"] for r in listed] == ["Exporter"]
    changed = api.patch(
        f"/api/v1/roles/{pk}/",
        {"permissions": {"deal.view": "team"}},
        content_type="application/json",
    )
    assert changed.status_code == 200
    assert changed.json()["permissions"] == {"deal.view": "team"}
    built_in = {r["key"]: r for r in api.get("/api/v1/roles/built-in/").json()}
    assert built_in["read_only"]["permissions"]["deal.view"] == "all"
    assert "admin.billing" not in built_in["admin"]["permissions"]
    assert api.delete(f"/api/v1/roles/{pk}/").status_code == 204
    assert not CustomRole.objects.filter(pk=pk).exists()


def test_the_api_answers_bad_permissions_with_field_errors(tenant_a: Tenant, owner_a: User) -> None:
    api = token_client(owner_a, tenant_a)
    bad = api.post(
        "/api/v1/roles/",
        {"name": "Odd", "permissions": {"deal.fly": "all"}},
        content_type="application/json",
    )
    assert bad.status_code == 400
    assert bad["Content-Type"] == "application/problem+json"
    assert "permissions.deal.fly" in bad.json()["errors"]
    nul = api.post(
        "/api/v1/roles/", {"name": "A\x00B", "permissions": {}}, content_type="application/json"
    )
    assert nul.status_code == 400
    assert not CustomRole.objects.filter(tenant=tenant_a).exists()


def test_the_api_refuses_escalation_with_the_reason(
    tenant_a: Tenant, owner_a: User, admin_a: User, member_a: User
) -> None:
    payer = custom_role_create(
        tenant=tenant_a, by=owner_a, name="Payer", permissions={"admin.billing": "all"}
    )
    mine = Membership.objects.get(user=member_a, tenant=tenant_a)
    admin_api = token_client(admin_a, tenant_a)
    given = admin_api.patch(
        f"/api/v1/members/{mine.pk}/access/",
        {"custom_roles": [payer.pk]},
        content_type="application/json",
    )
    assert given.status_code == 403
    assert given["Content-Type"] == "application/problem+json"
    assert "billing" in given.json()["detail"]
    owner = Membership.objects.get(user=owner_a, tenant=tenant_a)
    made_owner = admin_api.patch(
        f"/api/v1/members/{mine.pk}/", {"role": "owner"}, content_type="application/json"
    )
    assert made_owner.status_code == 403
    assert "owner" in made_owner.json()["detail"]

    member_api = token_client(member_a, tenant_a)
    refused = member_api.patch(
        f"/api/v1/members/{owner.pk}/access/", {"custom_roles": []}, content_type="application/json"
    )
    assert refused.status_code == 403
    assert refused.json()["detail"]
    assert (
        member_api.post(
            "/api/v1/roles/", {"name": "Mine", "permissions": {}}, content_type="application/json"
        ).status_code
        == 403
    )
    mine.refresh_from_db()
    assert mine.role == Role.MEMBER and not mine.custom_roles.exists()


def test_the_api_gives_a_member_roles_and_teams(
    tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    role = custom_role_create(tenant=tenant_a, by=owner_a, name="Exporter", permissions=EXPORTER)
    mine = Membership.objects.get(user=member_a, tenant=tenant_a)
    api = token_client(owner_a, tenant_a)
    answer = api.patch(
        f"/api/v1/members/{mine.pk}/access/",
        {"custom_roles": [role.pk]},
        content_type="application/json",
    )
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"custom_roles": [role.pk], "teams": []}
    assert api.get(f"/api/v1/members/{mine.pk}/access/").json()["custom_roles"] == [role.pk]


def test_the_api_never_shows_or_changes_another_organizations_roles(
    tenant_a: Tenant, tenant_b: Tenant, owner_a: User, owner_b: User
) -> None:
    theirs = custom_role_create(tenant=tenant_b, by=owner_b, name="Theirs", permissions={})
    api = token_client(owner_a, tenant_a)
    assert api.get(f"/api/v1/roles/{theirs.pk}/").status_code == 404
    assert (
        api.patch(
            f"/api/v1/roles/{theirs.pk}/", {"name": "Mine"}, content_type="application/json"
        ).status_code
        == 404
    )
    assert api.delete(f"/api/v1/roles/{theirs.pk}/").status_code == 404
    their_owner = Membership.objects.get(user=owner_b, tenant=tenant_b)
    assert api.get(f"/api/v1/members/{their_owner.pk}/access/").status_code == 404
    assert "Theirs" not in api.get("/api/v1/roles/").content.decode()
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"


def test_roles_and_teams_of_a_member_change_together_or_not_at_all(
    tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    role = custom_role_create(tenant=tenant_a, by=owner_a, name="Exporter", permissions=EXPORTER)
    mine = Membership.objects.get(user=member_a, tenant=tenant_a)
    response = _browser(tenant_a, owner_a).post(
        f"/settings/members/{mine.pk}/access/",
        {"custom_roles": [role.pk], "teams": [10**12]},
        follow=True,
    )
    assert "Choose teams of this organization." in response.content.decode()
    assert not mine.custom_roles.exists()  # the role given with the bad team was not kept
