"""The "why?" tool: for a member, an action and a record, the decision point's answer with its
reason, the role grant and the policies that decided, on a settings page and in the API.
Only for those who manage people or policies; never about another organization's people."""

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from iam.models import User
from iam.policy_examples import POLICY_EXAMPLES
from iam.services_access import policy_create
from tenants.models import Tenant
from tests.conftest import host_of, token_client
from tests.crm.factories import DealFactory

pytestmark = pytest.mark.django_db

OWN_DEALS = next(e for e in POLICY_EXAMPLES if e.key == "members-edit-own-deals")


@pytest.fixture
def owners_deal(tenant_a: Tenant, owner_a: User) -> int:
    with tenant_context(tenant_a):
        return int(DealFactory(owner_id=owner_a.pk, name="Big one").pk)


def _browser(tenant: Tenant, user: User) -> Client:
    client = Client(HTTP_HOST=host_of(tenant))
    client.force_login(user)
    return client


def test_the_page_shows_an_allowed_decision_and_the_grant(
    tenant_a: Tenant, owner_a: User, member_a: User, owners_deal: int
) -> None:
    page = _browser(tenant_a, owner_a).get(
        "/settings/access/why/",
        {"user": member_a.pk, "action": "edit", "record_type": "deal", "record_id": owners_deal},
    )
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-allowed="true"' in html
    assert "Big one" in html
    assert "Your roles (Member) allow you to edit deals" in html
    assert "None: roles alone decided." in html


def test_the_page_names_the_policy_that_denied_with_a_link(
    tenant_a: Tenant, owner_a: User, member_a: User, owners_deal: int
) -> None:
    policy = policy_create(
        tenant=tenant_a, by=owner_a, name=OWN_DEALS.name, source=OWN_DEALS.source
    )
    page = _browser(tenant_a, owner_a).get(
        "/settings/access/why/",
        {"user": member_a.pk, "action": "edit", "record_type": "deal", "record_id": owners_deal},
    )
    html = page.content.decode()
    assert 'data-allowed="false"' in html
    assert f"Denied by the policy “{OWN_DEALS.name}”" in html
    assert f'href="/settings/policies/{policy.pk}/"' in html
    # The owner of the deal is not held back by it.
    mine = _browser(tenant_a, owner_a).get(
        "/settings/access/why/",
        {"user": owner_a.pk, "action": "edit", "record_type": "deal", "record_id": owners_deal},
    )
    assert 'data-allowed="true"' in mine.content.decode()


def test_an_action_on_the_whole_record_type_needs_no_record(
    tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    page = _browser(tenant_a, owner_a).get(
        "/settings/access/why/", {"user": member_a.pk, "action": "export", "record_type": "contact"}
    )
    assert page.status_code == 200
    assert 'data-allowed="false"' in page.content.decode()  # members don't export


def test_bad_questions_are_field_errors(
    tenant_a: Tenant, owner_a: User, owner_b: User, member_a: User
) -> None:
    browser = _browser(tenant_a, owner_a)
    stranger = browser.get(
        "/settings/access/why/",
        {"user": owner_b.pk, "action": "view", "record_type": "deal", "record_id": "1"},
    )
    assert stranger.status_code == 400
    assert "Choose a member of this organization." in stranger.content.decode()
    missing = browser.get(
        "/settings/access/why/",
        {"user": member_a.pk, "action": "edit", "record_type": "deal", "record_id": "99999999"},
    )
    assert missing.status_code == 400
    assert "No such record in this organization." in missing.content.decode()
    odd = browser.get(
        "/settings/access/why/",
        {"user": "x", "action": "fly", "record_type": "planet", "record_id": "y"},
    )
    assert odd.status_code == 400


def test_members_cannot_ask_why(client_a: Client, tenant_a: Tenant, member_a: User) -> None:
    assert client_a.get("/settings/access/why/").status_code == 403
    api = token_client(member_a, tenant_a)
    refused = api.get(
        "/api/v1/access/why/", {"user": member_a.pk, "action": "view", "record_type": "deal"}
    )
    assert refused.status_code == 403
    assert refused["Content-Type"] == "application/problem+json"
    assert "People" in refused.json()["detail"]


def test_the_api_answers_why_with_the_deciding_policies(
    tenant_a: Tenant, owner_a: User, member_a: User, owners_deal: int
) -> None:
    policy = policy_create(
        tenant=tenant_a, by=owner_a, name=OWN_DEALS.name, source=OWN_DEALS.source
    )
    api = token_client(owner_a, tenant_a)
    answer = api.get(
        "/api/v1/access/why/",
        {"user": member_a.pk, "action": "edit", "record_type": "deal", "record_id": owners_deal},
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["allowed"] is False
    assert OWN_DEALS.name in body["reason"]
    assert body["policies"] == [{"id": policy.pk, "name": OWN_DEALS.name}]
    assert "Member" in body["grant"]
    view = api.get(
        "/api/v1/access/why/",
        {"user": member_a.pk, "action": "view", "record_type": "deal", "record_id": owners_deal},
    )
    assert view.json()["allowed"] is True and view.json()["policies"] == []


def test_the_api_never_answers_about_another_organizations_people(
    tenant_a: Tenant, owner_a: User, owner_b: User
) -> None:
    api = token_client(owner_a, tenant_a)
    stranger = api.get(
        "/api/v1/access/why/", {"user": owner_b.pk, "action": "create", "record_type": "deal"}
    )
    assert stranger.status_code == 404
    assert "Choose a member of this organization." in stranger.json()["detail"]
