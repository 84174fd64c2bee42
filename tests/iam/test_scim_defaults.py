"""The role of the members SCIM creates: chosen per organization on the SCIM settings page
(a built-in role, never owner, and optionally a custom role), used by every creation, and
never a way for whoever chooses it to hand out rights they don't hold."""

import json
from typing import Any

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from iam.exceptions import NotAllowed
from iam.models import CustomRole, Membership, Role, User
from iam.org.models import AuditEvent
from iam.scim.models import ScimSettings
from iam.scim.services import scim_defaults_get, scim_defaults_set, scim_token_create
from problems.exceptions import InvalidFields
from tenants.models import Tenant
from tests.conftest import host_of
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SCIM = "application/scim+json"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
EXPORTER = {"contact.view": "all", "contact.export": "all"}
PEOPLE_ADMIN = {"admin.people": "all"}


def _member(tenant: Tenant, role: str, email: str, **grants: Any) -> User:
    user = UserFactory(email=email)
    membership = Membership.objects.create(user=user, tenant=tenant, role=role)
    if grants:
        custom = CustomRole.objects.create(tenant=tenant, name=f"{email} role", permissions=grants)
        membership.custom_roles.add(custom)
    return user


def _browser(tenant: Tenant, user: User) -> Client:
    client = Client(HTTP_HOST=host_of(tenant))
    client.force_login(user)
    return client


def _scim_create(tenant: Tenant, email: str) -> Membership:
    _, raw = scim_token_create(tenant=tenant, by=None, name="IdP")
    client = Client(HTTP_HOST=host_of(tenant), HTTP_AUTHORIZATION=f"Bearer {raw}")
    body = {"schemas": [USER], "userName": email, "emails": [{"value": email, "primary": True}]}
    response = client.post("/scim/v2/Users", json.dumps(body), content_type=SCIM)
    assert response.status_code == 201, response.content
    return Membership.objects.get(pk=response.json()["id"])


@pytest.fixture
def admin_a(tenant_a: Tenant) -> User:
    return _member(tenant_a, Role.ADMIN, "admin@alpha.test")


@pytest.fixture
def exporter(tenant_a: Tenant) -> CustomRole:
    return CustomRole.objects.create(tenant=tenant_a, name="Exporter", permissions=EXPORTER)


# Services ----------------------------------------------------------------------------------


def test_without_a_choice_new_scim_members_are_members(tenant_a: Tenant) -> None:
    assert scim_defaults_get(tenant=tenant_a).default_role == Role.MEMBER
    membership = _scim_create(tenant_a, "ada@example.org")
    assert membership.role == Role.MEMBER
    assert not membership.custom_roles.exists()


def test_scim_creates_members_with_the_chosen_role_and_custom_role(
    tenant_a: Tenant, owner_a: User, exporter: CustomRole
) -> None:
    scim_defaults_set(
        tenant=tenant_a,
        by=owner_a,
        default_role=Role.READ_ONLY,
        default_custom_role_id=exporter.pk,
    )

    membership = _scim_create(tenant_a, "ada@example.org")

    assert membership.role == Role.READ_ONLY
    assert list(membership.custom_roles.all()) == [exporter]
    with tenant_context(tenant_a):
        changed = AuditEvent.objects.get(action="scim.defaults_changed")
        provisioned = AuditEvent.objects.get(action="member.provisioned")
    assert changed.actor_id == owner_a.pk
    assert changed.changes == {
        "role": [Role.MEMBER, Role.READ_ONLY],
        "custom_role": [None, exporter.pk],
    }
    assert provisioned.changes["role"] == [None, Role.READ_ONLY]
    assert provisioned.changes["custom_roles"] == [[], [exporter.pk]]


def test_nobody_makes_new_members_owners(tenant_a: Tenant, owner_a: User) -> None:
    with pytest.raises(InvalidFields) as raised:
        scim_defaults_set(tenant=tenant_a, by=owner_a, default_role=Role.OWNER)
    assert "default_role" in raised.value.errors
    assert not ScimSettings.objects.filter(tenant=tenant_a).exists()


@pytest.mark.parametrize("role", [Role.ADMIN, Role.BILLING])
def test_an_admin_cannot_make_new_members_admins_or_billing_but_an_owner_can(
    tenant_a: Tenant, owner_a: User, admin_a: User, role: str
) -> None:
    with pytest.raises(NotAllowed) as raised:
        scim_defaults_set(tenant=tenant_a, by=admin_a, default_role=role)
    assert raised.value.field == "default_role"
    assert scim_defaults_get(tenant=tenant_a).default_role == Role.MEMBER

    scim_defaults_set(tenant=tenant_a, by=owner_a, default_role=role)
    assert _scim_create(tenant_a, "ada@example.org").role == role


def test_a_custom_role_with_admin_rights_the_chooser_lacks_is_refused(
    tenant_a: Tenant, owner_a: User
) -> None:
    sso_only = _member(tenant_a, Role.MEMBER, "sso@alpha.test", **{"admin.sso": "all"})
    people = CustomRole.objects.create(tenant=tenant_a, name="People", permissions=PEOPLE_ADMIN)
    with pytest.raises(NotAllowed) as raised:
        scim_defaults_set(
            tenant=tenant_a, by=sso_only, default_role=Role.MEMBER, default_custom_role_id=people.pk
        )
    assert raised.value.field == "default_custom_role" and "people" in raised.value.detail
    # What they hold themselves they may hand out.
    scim_defaults_set(tenant=tenant_a, by=sso_only, default_role=Role.MANAGER)
    assert scim_defaults_get(tenant=tenant_a).default_role == Role.MANAGER


def test_without_the_sso_right_nobody_chooses(tenant_a: Tenant, member_a: User) -> None:
    with pytest.raises(NotAllowed):
        scim_defaults_set(tenant=tenant_a, by=member_a, default_role=Role.READ_ONLY)
    assert not ScimSettings.objects.filter(tenant=tenant_a).exists()


def test_a_custom_role_of_another_organization_is_not_found(
    tenant_a: Tenant, tenant_b: Tenant, owner_a: User
) -> None:
    theirs = CustomRole.objects.create(tenant=tenant_b, name="B role", permissions=EXPORTER)
    for bad in (theirs.pk, "abc", "9" * 30):
        with pytest.raises(InvalidFields) as raised:
            scim_defaults_set(
                tenant=tenant_a, by=owner_a, default_role=Role.MEMBER, default_custom_role_id=bad
            )
        assert "default_custom_role" in raised.value.errors


def test_one_organization_s_choice_leaves_the_other_s_scim_members_alone(
    tenant_a: Tenant, tenant_b: Tenant, owner_a: User
) -> None:
    scim_defaults_set(tenant=tenant_a, by=owner_a, default_role=Role.READ_ONLY)
    assert _scim_create(tenant_b, "bea@example.org").role == Role.MEMBER
    assert _scim_create(tenant_a, "ada@example.org").role == Role.READ_ONLY


# The settings page -------------------------------------------------------------------------


def test_the_page_shows_and_saves_the_role_of_new_members(
    tenant_a: Tenant, owner_a: User, exporter: CustomRole
) -> None:
    browser = _browser(tenant_a, owner_a)
    page = browser.get("/settings/scim/")
    html = page.content.decode()
    assert page.status_code == 200 and 'data-testid="scim-defaults"' in html
    assert '<option value="owner"' not in html
    assert '<option value="admin"' in html  # an owner may choose it

    saved = browser.post(
        "/settings/scim/defaults/",
        {"default_role": Role.MANAGER, "default_custom_role": exporter.pk},
        follow=True,
    )

    assert saved.status_code == 200
    assert saved.context["defaults_form"].initial == {
        "default_role": Role.MANAGER,
        "default_custom_role": exporter.pk,
    }
    current = scim_defaults_get(tenant=tenant_a)
    assert (current.default_role, current.default_custom_role_id) == (Role.MANAGER, exporter.pk)


def test_an_admin_is_not_offered_admin_and_a_forged_choice_is_a_field_error(
    tenant_a: Tenant, admin_a: User
) -> None:
    browser = _browser(tenant_a, admin_a)
    html = browser.get("/settings/scim/").content.decode()
    assert '<option value="admin"' not in html and '<option value="billing"' not in html
    for role in (Role.OWNER, Role.ADMIN, "nonsense"):
        refused = browser.post("/settings/scim/defaults/", {"default_role": role})
        assert refused.status_code == 400
        assert refused.context["defaults_form"].errors["default_role"]
    assert not ScimSettings.objects.filter(tenant=tenant_a).exists()


def test_a_custom_role_of_b_is_a_field_error_on_a_page(
    tenant_a: Tenant, tenant_b: Tenant, owner_a: User
) -> None:
    theirs = CustomRole.objects.create(tenant=tenant_b, name="B role", permissions=EXPORTER)
    refused = _browser(tenant_a, owner_a).post(
        "/settings/scim/defaults/",
        {"default_role": Role.MEMBER, "default_custom_role": theirs.pk},
    )
    assert refused.status_code == 400
    assert refused.context["defaults_form"].errors["default_custom_role"]
    assert b"B role" not in refused.content


def test_a_member_cannot_choose_and_b_s_owner_cannot_change_a(
    tenant_a: Tenant, tenant_b: Tenant, owner_b: User, client_a: Client
) -> None:
    assert client_a.post("/settings/scim/defaults/", {"default_role": "read_only"}).status_code == (
        403
    )
    # B's owner on B's host changes B's choice only.
    assert (
        _browser(tenant_b, owner_b)
        .post("/settings/scim/defaults/", {"default_role": Role.READ_ONLY})
        .status_code
        == 302
    )
    assert scim_defaults_get(tenant=tenant_a).default_role == Role.MEMBER
    # And on A's host they are no member at all.
    on_a = Client(HTTP_HOST=host_of(tenant_a))
    on_a.force_login(owner_b)
    assert on_a.post("/settings/scim/defaults/", {"default_role": "read_only"}).status_code in (
        302,
        403,
    )
    assert scim_defaults_get(tenant=tenant_a).default_role == Role.MEMBER
