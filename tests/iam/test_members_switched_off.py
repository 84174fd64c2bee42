"""Switched-off members (SCIM `active: false`): listed apart on the Members page with when and
by whom, switched back on by people admins through a service that is audited and asks the
plan for a seat (a switched-off member holds none), except members the identity provider
manages, who are switched on there. The members API shows who is on."""

import json
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from billing.exceptions import PlanLimitReached
from billing.models import Plan, Subscription
from billing.receivers import _seats
from billing.services.changes import seat_count_billable
from iam.exceptions import ManagedByIdentityProvider, NotAllowed
from iam.models import Membership, Role, User
from iam.org.models import AuditEvent
from iam.scim.services import scim_token_create
from iam.services import membership_reactivate
from tenants.models import Tenant
from tests.conftest import host_of, token_client
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SCIM = "application/scim+json"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class Scim:
    def __init__(self, tenant: Tenant) -> None:
        _, raw = scim_token_create(tenant=tenant, by=None, name="Okta")
        self.client = Client(HTTP_HOST=host_of(tenant), HTTP_AUTHORIZATION=f"Bearer {raw}")

    def send(self, method: str, path: str, body: Any) -> Any:
        return getattr(self.client, method)(f"/scim/v2/{path}", json.dumps(body), content_type=SCIM)

    def active(self, membership: Membership, value: bool) -> Any:
        return self.send(
            "patch",
            f"Users/{membership.pk}",
            {
                "schemas": [PATCH],
                "Operations": [{"op": "replace", "path": "active", "value": value}],
            },
        )


def _browser(tenant: Tenant, user: User) -> Client:
    client = Client(HTTP_HOST=host_of(tenant))
    client.force_login(user)
    return client


def _membership(tenant: Tenant, user: User) -> Membership:
    return Membership.objects.get(tenant=tenant, user=user)


@pytest.fixture
def switched_off(tenant_a: Tenant, member_a: User) -> Membership:
    """Alpha's member, switched off by the identity provider (which sent no externalId)."""
    membership = _membership(tenant_a, member_a)
    response = Scim(tenant_a).active(membership, False)
    assert response.status_code == 200, response.content
    membership.refresh_from_db()
    assert membership.deactivated_at is not None
    return membership


def _free_plan(tenant: Tenant) -> None:
    Subscription.objects.filter(organization_id=tenant.pk).update(
        plan=Plan.objects.get(code="free")  # two seats
    )


# The page ----------------------------------------------------------------------------------


def test_the_page_lists_switched_off_members_apart_with_when_and_by_whom(
    tenant_a: Tenant, owner_a: User, switched_off: Membership
) -> None:
    page = _browser(tenant_a, owner_a).get("/settings/members/")
    assert page.status_code == 200
    assert [m.user.email for m in page.context["members"]] == ["owner@alpha.test"]
    rows = page.context["switched_off"]
    assert [(m.pk, can) for m, _, can in rows] == [(switched_off.pk, True)]
    event = rows[0][1]
    assert event.via == "scim" and "Okta" in event.actor_label
    html = page.content.decode()
    section = html[html.index('data-testid="switched-off"') :]
    assert "member@alpha.test" in section and "by your identity provider" in section
    assert f'action="/settings/members/{switched_off.pk}/reactivate/"' in section
    members_table = html[html.index('data-testid="members"') : html.index("switched-off-title")]
    assert "member@alpha.test" not in members_table


def test_members_the_identity_provider_manages_say_so_and_offer_no_switch(
    tenant_a: Tenant, owner_a: User, switched_off: Membership
) -> None:
    Membership.objects.filter(pk=switched_off.pk).update(external_id="00u1okta")
    html = _browser(tenant_a, owner_a).get("/settings/members/").content.decode()
    assert 'data-testid="managed"' in html
    assert "Managed by your identity provider" in html
    assert f"/settings/members/{switched_off.pk}/reactivate/" not in html


def test_without_switched_off_members_there_is_no_section(tenant_a: Tenant, owner_a: User) -> None:
    page = _browser(tenant_a, owner_a).get("/settings/members/")
    assert page.context["switched_off"] == []
    assert b'data-testid="switched-off"' not in page.content


def test_switching_back_on_from_the_page_restores_access_and_is_audited(
    tenant_a: Tenant, owner_a: User, member_a: User, switched_off: Membership
) -> None:
    theirs = _browser(tenant_a, member_a)
    assert theirs.get("/").status_code == 403

    response = _browser(tenant_a, owner_a).post(
        f"/settings/members/{switched_off.pk}/reactivate/", follow=True
    )

    assert response.status_code == 200
    assert "switched on again" in response.content.decode()
    switched_off.refresh_from_db()
    assert switched_off.deactivated_at is None
    assert theirs.get("/").status_code == 200
    with tenant_context(tenant_a):
        event = AuditEvent.objects.get(action="member.reactivated")
    assert (event.actor_id, event.via, event.target_id) == (owner_a.pk, "session", str(member_a.pk))
    assert event.changes["active"] == [False, True]


def test_a_member_cannot_switch_anyone_on(
    tenant_a: Tenant, owner_a: User, switched_off: Membership
) -> None:
    other = UserFactory(email="plain@alpha.test")
    Membership.objects.create(user=other, tenant=tenant_a, role=Role.MEMBER)
    response = _browser(tenant_a, other).post(f"/settings/members/{switched_off.pk}/reactivate/")
    assert response.status_code == 403
    switched_off.refresh_from_db()
    assert switched_off.deactivated_at is not None


def test_b_cannot_switch_on_a_member_of_a(
    tenant_a: Tenant, owner_b: User, switched_off: Membership
) -> None:
    b_host = Client(HTTP_HOST=host_of(Tenant.objects.get(slug="beta")))
    b_host.force_login(owner_b)
    assert b_host.post(f"/settings/members/{switched_off.pk}/reactivate/").status_code == 404
    switched_off.refresh_from_db()
    assert switched_off.deactivated_at is not None
    b_api = token_client(owner_b, Tenant.objects.get(slug="beta"))
    assert b_api.post(f"/api/v1/members/{switched_off.pk}/reactivate/").status_code == 404
    b_members = b_api.get("/api/v1/members/").json()["results"]
    assert switched_off.pk not in {m["id"] for m in b_members}


# The service -------------------------------------------------------------------------------


def test_a_managed_member_is_switched_on_at_the_identity_provider_only(
    tenant_a: Tenant, owner_a: User, switched_off: Membership
) -> None:
    Membership.objects.filter(pk=switched_off.pk).update(external_id="00u1okta")
    with pytest.raises(ManagedByIdentityProvider):
        membership_reactivate(membership=switched_off, by=owner_a)
    switched_off.refresh_from_db()
    assert switched_off.deactivated_at is not None


def test_only_owners_switch_an_owner_back_on(tenant_a: Tenant, owner_a: User) -> None:
    admin = UserFactory(email="admin@alpha.test")
    Membership.objects.create(user=admin, tenant=tenant_a, role=Role.ADMIN)
    second = UserFactory(email="second-owner@alpha.test")
    owner2 = Membership.objects.create(
        user=second, tenant=tenant_a, role=Role.OWNER, deactivated_at=timezone.now()
    )
    with pytest.raises(NotAllowed):
        membership_reactivate(membership=owner2, by=admin)
    membership_reactivate(membership=owner2, by=owner_a)
    owner2.refresh_from_db()
    assert owner2.deactivated_at is None


def test_a_switched_off_member_holds_no_seat_and_taking_one_back_asks_the_plan(
    tenant_a: Tenant, owner_a: User, switched_off: Membership
) -> None:
    _free_plan(tenant_a)
    assert _seats(tenant_a, None) == 1 and seat_count_billable(tenant=tenant_a) == 1
    # The freed seat goes to someone new...
    created = Scim(tenant_a).send(
        "post",
        "Users",
        {
            "schemas": [USER],
            "userName": "ada@example.org",
            "emails": [{"value": "ada@example.org"}],
        },
    )
    assert created.status_code == 201, created.content

    # ...so switching the member back on finds none, on the page as through the service.
    page = _browser(tenant_a, owner_a).post(f"/settings/members/{switched_off.pk}/reactivate/")
    assert page.status_code == 402
    with pytest.raises(PlanLimitReached):
        membership_reactivate(membership=switched_off, by=owner_a)
    switched_off.refresh_from_db()
    assert switched_off.deactivated_at is not None
    with tenant_context(tenant_a):
        assert not AuditEvent.objects.filter(action="member.reactivated").exists()


def test_scim_switching_back_on_past_the_seats_is_refused_too(
    tenant_a: Tenant, switched_off: Membership
) -> None:
    _free_plan(tenant_a)
    scim = Scim(tenant_a)
    body = {
        "schemas": [USER],
        "userName": "ada@example.org",
        "emails": [{"value": "ada@example.org"}],
    }
    assert scim.send("post", "Users", body).status_code == 201
    refused = scim.active(switched_off, True)
    assert refused.status_code == 403
    assert "plan allows" in refused.json()["detail"]
    switched_off.refresh_from_db()
    assert switched_off.deactivated_at is not None


def test_switching_on_a_member_who_is_on_changes_nothing(
    tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    membership = _membership(tenant_a, member_a)
    assert membership_reactivate(membership=membership, by=owner_a).deactivated_at is None
    with tenant_context(tenant_a):
        assert not AuditEvent.objects.filter(action="member.reactivated").exists()


# The API -----------------------------------------------------------------------------------


def test_the_api_shows_who_is_on_and_switches_a_member_back_on(
    tenant_a: Tenant, owner_a: User, switched_off: Membership
) -> None:
    api = token_client(owner_a, tenant_a)
    listed = {m["id"]: m for m in api.get("/api/v1/members/").json()["results"]}
    assert listed[switched_off.pk]["active"] is False
    assert listed[switched_off.pk]["deactivated_at"] is not None
    assert listed[switched_off.pk]["managed_by_identity_provider"] is False
    owner = _membership(tenant_a, owner_a)
    assert listed[owner.pk]["active"] is True and listed[owner.pk]["deactivated_at"] is None

    response = api.post(f"/api/v1/members/{switched_off.pk}/reactivate/")

    assert response.status_code == 200, response.content
    assert response.json()["active"] is True and response.json()["deactivated_at"] is None


def test_the_api_refuses_a_managed_member_as_problem_json(
    tenant_a: Tenant, owner_a: User, switched_off: Membership
) -> None:
    Membership.objects.filter(pk=switched_off.pk).update(external_id="00u1okta")
    response = token_client(owner_a, tenant_a).post(
        f"/api/v1/members/{switched_off.pk}/reactivate/"
    )
    assert response.status_code == 409
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "managed-by-identity-provider"


def test_the_api_makes_no_member_by_post(tenant_a: Tenant, owner_a: User) -> None:
    response = token_client(owner_a, tenant_a).post(
        "/api/v1/members/", {"role": "member"}, content_type="application/json"
    )
    assert response.status_code == 405
    assert Membership.objects.filter(tenant=tenant_a).count() == 2


def test_a_member_gets_403_from_the_api(tenant_a: Tenant, member_a: User) -> None:
    other = UserFactory(email="off@alpha.test")
    off = Membership.objects.create(
        user=other, tenant=tenant_a, role=Role.MEMBER, deactivated_at=timezone.now()
    )
    response = token_client(member_a, tenant_a).post(f"/api/v1/members/{off.pk}/reactivate/")
    assert response.status_code == 403
    off.refresh_from_db()
    assert off.deactivated_at is not None


def test_the_billing_page_counts_only_members_who_are_on(
    tenant_a: Tenant, owner_a: User, switched_off: Membership
) -> None:
    page = _browser(tenant_a, owner_a).get("/settings/billing/")
    assert page.status_code == 200
    assert page.context["members"] == 1
    api = token_client(owner_a, tenant_a).get("/api/v1/billing/subscription/")
    assert api.status_code == 200, api.content
    assert api.json()["members"] == 1


def test_a_switched_off_member_the_provider_does_not_manage_can_be_removed(
    tenant_a: Tenant, owner_a: User, switched_off: Membership
) -> None:
    browser = _browser(tenant_a, owner_a)
    html = browser.get("/settings/members/").content.decode()
    section = html[html.index('data-testid="switched-off"') :]
    assert f'action="/settings/members/{switched_off.pk}/remove/"' in section
    response = browser.post(f"/settings/members/{switched_off.pk}/remove/", follow=True)
    assert response.status_code == 200
    assert not Membership.objects.filter(pk=switched_off.pk).exists()
    assert response.context["switched_off"] == []
