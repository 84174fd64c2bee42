"""Access policies: written in Cedar by members with the "policies" right, validated against
the schema before anything is saved, switched on and off, and applied from the next request.
Pages, API and services; another organization's policies are out of reach."""

import pytest
from django.test import Client
from django.utils.html import escape
from django_tenants.utils import tenant_context

from iam import authz
from iam.authz.cedar import policy_validate
from iam.exceptions import NotAllowed
from iam.models import AccessPolicy, User
from iam.org.models import AuditEvent
from iam.policy_examples import POLICY_EXAMPLES
from iam.services_access import policy_create, policy_delete, policy_set_enabled, policy_update
from problems.exceptions import InvalidFields
from tenants.models import Tenant
from tests.conftest import host_of, token_client

pytestmark = pytest.mark.django_db

OWN_DEALS = next(e for e in POLICY_EXAMPLES if e.key == "members-edit-own-deals")
INVALID = 'forbid (principal, action == MyCRM::Action::"edit", resource) when { resource.colour == "red" };'


def _browser(tenant: Tenant, user: User) -> Client:
    client = Client(HTTP_HOST=host_of(tenant))
    client.force_login(user)
    return client


@pytest.mark.parametrize("example", POLICY_EXAMPLES, ids=lambda e: e.key)
def test_every_ready_made_example_is_valid_against_the_schema(example: object) -> None:
    assert policy_validate(example.source) == []  # type: ignore[attr-defined]


def test_a_policy_is_saved_switched_and_deleted_with_an_audit_trail(
    tenant_a: Tenant, owner_a: User
) -> None:
    policy = policy_create(
        tenant=tenant_a, by=owner_a, name=OWN_DEALS.name, source=OWN_DEALS.source
    )
    assert policy.is_enabled and policy.created_by == owner_a
    policy_set_enabled(policy=policy, by=owner_a, is_enabled=False)
    assert not AccessPolicy.objects.get(pk=policy.pk).is_enabled
    policy_update(policy=policy, by=owner_a, name="Own deals", source=OWN_DEALS.source)
    policy_delete(policy=policy, by=owner_a)
    assert not AccessPolicy.objects.filter(tenant=tenant_a).exists()
    with tenant_context(tenant_a):
        actions = [a for a in AuditEvent.objects.order_by("seq").values_list("action", flat=True)]
    assert [a for a in actions if a.startswith("policy.")] == [
        "policy.created",
        "policy.disabled",
        "policy.changed",
        "policy.deleted",
    ]


@pytest.mark.parametrize(
    "source",
    [
        INVALID,
        "permit (principal, action, resource",  # cannot be read
        'permit (principal, action == MyCRM::Action::"fly", resource);',  # no such action
        "   ",
    ],
)
def test_an_invalid_policy_gets_field_errors_and_nothing_is_saved(
    tenant_a: Tenant, owner_a: User, source: str
) -> None:
    with pytest.raises(InvalidFields) as caught:
        policy_create(tenant=tenant_a, by=owner_a, name="Bad", source=source)
    assert caught.value.errors["source"]
    assert not AccessPolicy.objects.filter(tenant=tenant_a).exists()


def test_members_do_not_write_policies(tenant_a: Tenant, owner_a: User, member_a: User) -> None:
    with pytest.raises(NotAllowed, match="Access policies"):
        policy_create(tenant=tenant_a, by=member_a, name="Mine", source=OWN_DEALS.source)
    policy = policy_create(tenant=tenant_a, by=owner_a, name="Theirs", source=OWN_DEALS.source)
    with pytest.raises(NotAllowed):
        policy_set_enabled(policy=policy, by=member_a, is_enabled=False)
    with pytest.raises(NotAllowed):
        policy_delete(policy=policy, by=member_a)
    assert AccessPolicy.objects.get(pk=policy.pk).is_enabled


def test_a_policy_applies_from_the_next_decision_and_stops_when_switched_off(
    tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    from tests.crm.factories import DealFactory

    with tenant_context(tenant_a):
        deal = DealFactory(owner_id=owner_a.pk)
        before = authz.check(
            authz.principal_for(user=member_a, tenant=tenant_a), "edit", record=deal
        )
        assert before.allowed
        policy = policy_create(
            tenant=tenant_a, by=owner_a, name=OWN_DEALS.name, source=OWN_DEALS.source
        )
        after = authz.check(
            authz.principal_for(user=member_a, tenant=tenant_a), "edit", record=deal
        )
        assert not after.allowed
        assert OWN_DEALS.name in after.reason
        policy_set_enabled(policy=policy, by=owner_a, is_enabled=False)
        off = authz.check(authz.principal_for(user=member_a, tenant=tenant_a), "edit", record=deal)
        assert off.allowed


def test_the_policies_pages_offer_the_examples_and_save_one(
    tenant_a: Tenant, owner_a: User
) -> None:
    browser = _browser(tenant_a, owner_a)
    listing = browser.get("/settings/policies/").content.decode()
    for example in POLICY_EXAMPLES:
        assert escape(example.name) in listing
    form = browser.get(f"/settings/policies/new/?example={OWN_DEALS.key}")
    assert form.status_code == 200
    html = form.content.decode()
    assert "resource.owner == principal" in html and "managed_teams" in html  # the reference
    saved = browser.post(
        "/settings/policies/new/",
        {"name": OWN_DEALS.name, "description": "", "source": OWN_DEALS.source},
    )
    assert saved.status_code == 302
    policy = AccessPolicy.objects.get(tenant=tenant_a)
    switched = browser.post(f"/settings/policies/{policy.pk}/switch/", {"enabled": "false"})
    assert switched.status_code == 302
    assert not AccessPolicy.objects.get(pk=policy.pk).is_enabled
    assert browser.post(f"/settings/policies/{policy.pk}/delete/").status_code == 302
    assert not AccessPolicy.objects.filter(tenant=tenant_a).exists()


def test_the_policy_page_shows_validation_errors_at_the_source(
    tenant_a: Tenant, owner_a: User
) -> None:
    response = _browser(tenant_a, owner_a).post(
        "/settings/policies/new/", {"name": "Bad", "source": INVALID}
    )
    assert response.status_code == 400
    assert "colour" in response.content.decode()
    assert not AccessPolicy.objects.filter(tenant=tenant_a).exists()


def test_members_cannot_open_the_policies_pages(client_a: Client) -> None:
    assert client_a.get("/settings/policies/").status_code == 403
    assert client_a.post("/settings/policies/new/", {"name": "x"}).status_code == 403


def test_the_api_creates_switches_and_deletes_policies(tenant_a: Tenant, owner_a: User) -> None:
    api = token_client(owner_a, tenant_a)
    created = api.post(
        "/api/v1/policies/",
        {"name": OWN_DEALS.name, "source": OWN_DEALS.source},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert created.json()["is_enabled"] is True
    assert created.json()["created_by"] == owner_a.email
    off = api.patch(
        f"/api/v1/policies/{pk}/", {"is_enabled": False}, content_type="application/json"
    )
    assert off.status_code == 200 and off.json()["is_enabled"] is False
    assert [p["name"] for p in api.get("/api/v1/policies/").json()["results"]] == [OWN_DEALS.name]
    assert api.delete(f"/api/v1/policies/{pk}/").status_code == 204


def test_the_api_answers_an_invalid_policy_with_400_and_field_errors(
    tenant_a: Tenant, owner_a: User
) -> None:
    api = token_client(owner_a, tenant_a)
    bad = api.post(
        "/api/v1/policies/", {"name": "Bad", "source": INVALID}, content_type="application/json"
    )
    assert bad.status_code == 400
    assert bad["Content-Type"] == "application/problem+json"
    assert any("colour" in m for m in bad.json()["errors"]["source"])
    nul = api.post(
        "/api/v1/policies/",
        {"name": "Bad", "source": OWN_DEALS.source + "\x00"},
        content_type="application/json",
    )
    assert nul.status_code == 400
    good = api.post(
        "/api/v1/policies/",
        {"name": "Good", "source": OWN_DEALS.source},
        content_type="application/json",
    )
    pk = good.json()["id"]
    changed = api.patch(
        f"/api/v1/policies/{pk}/", {"source": INVALID}, content_type="application/json"
    )
    assert changed.status_code == 400
    assert AccessPolicy.objects.get(pk=pk).source == OWN_DEALS.source.strip()
    assert list(AccessPolicy.objects.filter(tenant=tenant_a).values_list("name", flat=True)) == [
        "Good"
    ]


def test_members_get_403_from_the_policies_api(tenant_a: Tenant, member_a: User) -> None:
    api = token_client(member_a, tenant_a)
    refused = api.post(
        "/api/v1/policies/",
        {"name": "Mine", "source": OWN_DEALS.source},
        content_type="application/json",
    )
    assert refused.status_code == 403 and refused.json()["code"] == "access-denied"
    assert api.get("/api/v1/policies/").status_code == 403


def test_another_organizations_policies_answer_404(
    tenant_a: Tenant, tenant_b: Tenant, owner_a: User, owner_b: User
) -> None:
    theirs = policy_create(tenant=tenant_b, by=owner_b, name="Theirs", source=OWN_DEALS.source)
    browser = _browser(tenant_a, owner_a)
    assert browser.get(f"/settings/policies/{theirs.pk}/").status_code == 404
    assert browser.post(f"/settings/policies/{theirs.pk}/switch/").status_code == 404
    assert browser.post(f"/settings/policies/{theirs.pk}/delete/").status_code == 404
    api = token_client(owner_a, tenant_a)
    assert api.get(f"/api/v1/policies/{theirs.pk}/").status_code == 404
    assert (
        api.patch(
            f"/api/v1/policies/{theirs.pk}/", {"is_enabled": False}, content_type="application/json"
        ).status_code
        == 404
    )
    assert api.delete(f"/api/v1/policies/{theirs.pk}/").status_code == 404
    assert "Theirs" not in api.get("/api/v1/policies/").content.decode()
    assert AccessPolicy.objects.get(pk=theirs.pk).is_enabled
