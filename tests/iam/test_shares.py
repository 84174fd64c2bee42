"""Sharing one record with a member or a team, to view or to edit: whoever may edit the
record shares it, the share opens the record from the next decision, and the Share panel and
the API list, add, change and remove shares. Never across organizations."""

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from iam import authz
from iam.exceptions import AccessDenied
from iam.models import Membership, Role, User
from iam.org.models import AuditEvent, RecordShare
from iam.services_access import record_share_remove, record_share_set, team_create
from problems.exceptions import InvalidFields
from tenants.models import Tenant
from tests.conftest import host_of, token_client
from tests.crm.factories import DealFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def biller(tenant_a: Tenant) -> User:
    """A member whose role opens no records: only shares open them."""
    user = UserFactory(email="biller@alpha.test")
    Membership.objects.create(user=user, tenant=tenant_a, role=Role.BILLING)
    return user


@pytest.fixture
def deal_id(tenant_a: Tenant, owner_a: User) -> int:
    with tenant_context(tenant_a):
        return int(DealFactory(owner_id=owner_a.pk, name="Shared deal").pk)


def _browser(tenant: Tenant, user: User) -> Client:
    client = Client(HTTP_HOST=host_of(tenant))
    client.force_login(user)
    return client


def _may(user: User, tenant: Tenant, action: str, deal_id: int) -> bool:
    from crm.models import Deal

    deal = Deal.objects.get(pk=deal_id)
    return authz.check(authz.principal_for(user=user, tenant=tenant), action, record=deal).allowed


def test_a_share_opens_the_record_at_its_level(
    tenant_a: Tenant, member_a: User, biller: User, deal_id: int
) -> None:
    with tenant_context(tenant_a):
        assert not _may(biller, tenant_a, "view", deal_id)
        sharer = authz.principal_for(user=member_a, tenant=tenant_a)
        share = record_share_set(
            principal=sharer, record_type="deal", record_id=deal_id, user_id=biller.pk, level="view"
        )
        assert _may(biller, tenant_a, "view", deal_id)
        assert not _may(biller, tenant_a, "edit", deal_id)
        again = record_share_set(
            principal=sharer, record_type="deal", record_id=deal_id, user_id=biller.pk, level="edit"
        )
        assert again.pk == share.pk  # sharing again changes the level
        assert _may(biller, tenant_a, "edit", deal_id)
        record_share_remove(principal=sharer, share=again)
        assert not _may(biller, tenant_a, "view", deal_id)
        actions = list(AuditEvent.objects.order_by("seq").values_list("action", flat=True))
    assert [a for a in actions if a.startswith("share.")] == [
        "share.added",
        "share.changed",
        "share.removed",
    ]


def test_a_share_with_a_team_opens_the_record_to_its_members(
    tenant_a: Tenant, owner_a: User, biller: User, deal_id: int
) -> None:
    team = team_create(tenant=tenant_a, by=owner_a, name="Finance", member_ids=[biller.pk])
    with tenant_context(tenant_a):
        record_share_set(
            principal=authz.principal_for(user=owner_a, tenant=tenant_a),
            record_type="deal",
            record_id=deal_id,
            team_id=team.pk,
            level="view",
        )
        assert _may(biller, tenant_a, "view", deal_id)


def test_only_those_who_may_edit_share_and_grantees_must_belong_here(
    tenant_a: Tenant, owner_a: User, owner_b: User, member_a: User, biller: User, deal_id: int
) -> None:
    with tenant_context(tenant_a):
        with pytest.raises(AccessDenied):
            record_share_set(
                principal=authz.principal_for(user=biller, tenant=tenant_a),
                record_type="deal",
                record_id=deal_id,
                user_id=biller.pk,
                level="edit",
            )
        owner = authz.principal_for(user=owner_a, tenant=tenant_a)
        with pytest.raises(InvalidFields) as caught:
            record_share_set(
                principal=owner,
                record_type="deal",
                record_id=deal_id,
                user_id=owner_b.pk,
                level="view",
            )
        assert "user" in caught.value.errors
        with pytest.raises(InvalidFields):
            record_share_set(
                principal=owner,
                record_type="deal",
                record_id=deal_id,
                user_id=member_a.pk,
                level="admin",
            )
        assert not RecordShare.objects.exists()


def test_the_share_panel_lists_adds_changes_and_removes_shares(
    tenant_a: Tenant, owner_a: User, biller: User, deal_id: int
) -> None:
    browser = _browser(tenant_a, owner_a)
    panel = browser.get(f"/share/deal/{deal_id}/")
    assert panel.status_code == 200
    assert biller.email in panel.content.decode()  # offered
    added = browser.post(
        f"/share/deal/{deal_id}/",
        {"grantee": f"user:{biller.pk}", "level": "view"},
        HTTP_HX_REQUEST="true",
    )
    assert added.status_code == 200
    assert f'data-share="{biller.email}"' in added.content.decode()
    changed = browser.post(
        f"/share/deal/{deal_id}/", {"grantee": f"user:{biller.pk}", "level": "edit"}
    )
    assert changed.status_code == 200
    with tenant_context(tenant_a):
        share = RecordShare.objects.get()
    assert share.level == "edit"
    removed = browser.post(f"/share/deal/{deal_id}/{share.pk}/remove/")
    assert removed.status_code == 200
    assert f'data-share="{biller.email}"' not in removed.content.decode()
    bad = browser.post(f"/share/deal/{deal_id}/", {"grantee": "user:nope", "level": "view"})
    assert bad.status_code == 400
    with tenant_context(tenant_a):
        assert not RecordShare.objects.exists()


def test_the_share_panel_refuses_those_who_may_not_share(
    tenant_a: Tenant, owner_a: User, biller: User, deal_id: int
) -> None:
    browser = _browser(tenant_a, biller)
    assert browser.get(f"/share/deal/{deal_id}/").status_code == 403  # may not even see it
    refused = browser.post(
        f"/share/deal/{deal_id}/", {"grantee": f"user:{biller.pk}", "level": "edit"}
    )
    assert refused.status_code == 403
    assert _browser(tenant_a, owner_a).get("/share/planet/1/").status_code == 404
    with tenant_context(tenant_a):
        assert not RecordShare.objects.exists()


def test_the_deal_page_includes_the_share_panel(
    tenant_a: Tenant, owner_a: User, deal_id: int
) -> None:
    page = _browser(tenant_a, owner_a).get(f"/deals/{deal_id}/")
    assert page.status_code == 200
    assert f'hx-get="/share/deal/{deal_id}/"' in page.content.decode()


def test_the_api_lists_adds_changes_and_removes_shares(
    tenant_a: Tenant, owner_a: User, biller: User, deal_id: int
) -> None:
    api = token_client(owner_a, tenant_a)
    created = api.post(
        "/api/v1/shares/",
        {"record_type": "deal", "record_id": deal_id, "user": biller.pk, "level": "view"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert created.json()["user"] == biller.pk and created.json()["team"] is None
    listed = api.get("/api/v1/shares/", {"record_type": "deal", "record_id": deal_id})
    assert [s["id"] for s in listed.json()["results"]] == [pk]
    changed = api.patch(f"/api/v1/shares/{pk}/", {"level": "edit"}, content_type="application/json")
    assert changed.status_code == 200 and changed.json()["level"] == "edit"
    assert api.delete(f"/api/v1/shares/{pk}/").status_code == 204
    assert (
        api.get("/api/v1/shares/", {"record_type": "deal", "record_id": deal_id}).json()["results"]
        == []
    )
    both = api.post(
        "/api/v1/shares/",
        {"record_type": "deal", "record_id": deal_id, "level": "view"},
        content_type="application/json",
    )
    assert both.status_code == 400


def test_the_api_refuses_sharing_without_the_edit_right(
    tenant_a: Tenant, biller: User, deal_id: int
) -> None:
    api = token_client(biller, tenant_a)
    refused = api.post(
        "/api/v1/shares/",
        {"record_type": "deal", "record_id": deal_id, "user": biller.pk, "level": "edit"},
        content_type="application/json",
    )
    assert refused.status_code == 404  # a record one may not see is answered as missing
    with tenant_context(tenant_a):
        assert not RecordShare.objects.exists()


def test_another_organization_reaches_no_share(
    tenant_a: Tenant, tenant_b: Tenant, owner_a: User, owner_b: User, biller: User, deal_id: int
) -> None:
    with tenant_context(tenant_a):
        share = record_share_set(
            principal=authz.principal_for(user=owner_a, tenant=tenant_a),
            record_type="deal",
            record_id=deal_id,
            user_id=biller.pk,
            level="view",
        )
    with tenant_context(tenant_b):
        from crm.models import Deal

        assert not Deal.objects.filter(pk=deal_id).exists()
    theirs = _browser(tenant_b, owner_b)
    assert theirs.get(f"/share/deal/{deal_id}/").status_code == 404
    assert theirs.post(f"/share/deal/{deal_id}/{share.pk}/remove/").status_code == 404
    api = token_client(owner_b, tenant_b)
    assert (
        api.get("/api/v1/shares/", {"record_type": "deal", "record_id": deal_id}).status_code == 404
    )
    assert api.get(f"/api/v1/shares/{share.pk}/").status_code == 404
    assert api.delete(f"/api/v1/shares/{share.pk}/").status_code == 404
    with tenant_context(tenant_a):
        assert RecordShare.objects.filter(pk=share.pk).exists()
