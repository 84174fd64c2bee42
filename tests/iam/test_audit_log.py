"""What lands in the audit log: a row for each action the services take, with who, through
what, before and after, and encrypted values only as "changed"."""

import json

import pytest
from django.db import transaction
from django.test import Client
from django_tenants.utils import schema_context, tenant_context

from crm.models import Pipeline, Stage
from crm.services import company_create, contact_create, contact_delete, contact_update
from crm.services.activities import activity_create
from crm.services.bulk import records_tag_add
from crm.services.deals import deal_create, deal_move, deal_update
from crm.services.leads import lead_create, lead_update
from crm.services.merge import contact_merge
from crm.services.trash import record_restore
from iam.audit import acting_as, audit_record
from iam.models import Membership, Role, User
from iam.org.models import AuditEvent
from iam.services import (
    invitation_accept,
    invitation_create,
    invitation_revoke,
    membership_leave,
    membership_remove,
    membership_role_change,
)
from tenants.models import Tenant
from tests.conftest import host_of
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def _events(tenant: Tenant, action: str | None = None) -> list[AuditEvent]:
    with schema_context(tenant.schema_name):
        events = AuditEvent.objects.order_by("seq")
        return list(events.filter(action=action) if action else events)


def _one(tenant: Tenant, action: str) -> AuditEvent:
    found = _events(tenant, action)
    assert len(found) == 1, [e.action for e in _events(tenant)]
    return found[0]


def _everything(tenant: Tenant) -> str:
    with schema_context(tenant.schema_name):
        return json.dumps(list(AuditEvent.objects.values()), default=str)


def test_a_contact_change_keeps_before_and_after_and_hides_encrypted_values(
    tenant_a: Tenant, owner_a: User
) -> None:
    with tenant_context(tenant_a):
        contact = contact_create(
            by=owner_a, first_name="Ann", last_name="Lee", email="ann.lee@secret.test"
        )
        contact_update(contact=contact, by=owner_a, title="CEO", email="ann@elsewhere.test")
    created = _one(tenant_a, "contact.created")
    assert created.changes["first_name"] == [None, "Ann"]
    assert created.changes["email"] == "changed"
    assert (created.target_type, created.target_id) == ("contact", str(contact.pk))
    assert (created.actor_id, created.actor_label, created.via) == (
        owner_a.pk,
        owner_a.email,
        "task",  # a service called outside a request
    )
    updated = _one(tenant_a, "contact.updated")
    assert updated.changes == {"email": "changed", "title": ["", "CEO"]}
    log = _everything(tenant_a)
    assert "secret.test" not in log and "elsewhere.test" not in log


def test_a_change_rolled_back_leaves_no_row(tenant_a: Tenant, owner_a: User) -> None:
    with pytest.raises(RuntimeError), tenant_context(tenant_a), transaction.atomic():
        contact_create(by=owner_a, first_name="Gone", last_name="Soon")
        raise RuntimeError("the request failed after the change")
    assert _events(tenant_a) == []


def test_trash_restore_merge_and_tags_are_logged(tenant_a: Tenant, owner_a: User) -> None:
    with tenant_context(tenant_a):
        kept = contact_create(by=owner_a, first_name="Kim", last_name="Ho")
        twin = contact_create(by=owner_a, first_name="Kim", last_name="Ho", title="CTO")
        contact_delete(contact=twin, by=owner_a)
        record_restore(record=twin, by=owner_a)
        contact_merge(survivor=kept, others=[twin], fields={"title": twin.pk}, by=owner_a)
        records_tag_add(records="contacts", items=[kept], name="vip", by=owner_a)
    assert [e.action for e in _events(tenant_a)] == [
        "contact.created",
        "contact.created",
        "contact.deleted",
        "contact.restored",
        "contact.deleted",
        "contact.merged",
        "contact.tagged",
    ]
    merged = _one(tenant_a, "contact.merged")
    assert merged.changes["title"] == ["", "CTO"]
    assert merged.changes["merged"] == [None, [twin.pk]]
    assert _one(tenant_a, "contact.tagged").changes == {"tags": [None, "vip"]}


def test_deals_leads_companies_and_activities_are_logged(tenant_a: Tenant, owner_a: User) -> None:
    with tenant_context(tenant_a):
        company = company_create(by=owner_a, name="Acme")
        pipeline = Pipeline.objects.order_by("pk").first()
        assert pipeline is not None
        first, second = list(Stage.objects.filter(pipeline=pipeline).order_by("position")[:2])
        deal = deal_create(by=owner_a, name="Big one", pipeline=pipeline, stage=first)
        deal_update(deal=deal, by=owner_a, name="Bigger one")
        deal_move(deal=deal, stage=second, position=None, by=owner_a)
        lead = lead_create(by=owner_a, first_name="Lou", last_name="Park", email="lou@p.test")
        lead_update(lead=lead, by=owner_a, phone="+48 123 456 789", company_name="Park Ltd")
        activity_create(by=owner_a, kind="note", company=company, body="Called them")
    assert _one(tenant_a, "company.created").changes["name"] == [None, "Acme"]
    assert _one(tenant_a, "deal.updated").changes == {"name": ["Big one", "Bigger one"]}
    assert _one(tenant_a, "deal.stage_changed").changes == {"stage": [first.name, second.name]}
    assert _one(tenant_a, "lead.updated").changes == {
        "company_name": ["", "Park Ltd"],
        "phone": "changed",
    }
    assert _one(tenant_a, "lead.created").changes["email"] == "changed"
    activity = _one(tenant_a, "activity.created")
    assert activity.changes["body"] == [None, "Called them"]
    assert "lou@p.test" not in _everything(tenant_a)


def test_member_role_change_and_removal_are_logged_in_the_organization(
    tenant_a: Tenant, owner_a: User
) -> None:
    colleague: User = UserFactory(email="colleague@alpha.test")
    membership = Membership.objects.create(user=colleague, tenant=tenant_a, role=Role.MEMBER)
    membership_role_change(membership=membership, by=owner_a, role=Role.ADMIN)
    membership_remove(membership=membership, by=owner_a)
    changed = _one(tenant_a, "member.role_changed")
    assert changed.changes == {"role": ["member", "admin"]}
    assert (changed.target_type, changed.target_id, changed.target_label) == (
        "member",
        str(colleague.pk),
        "colleague@alpha.test",
    )
    assert changed.actor_label == owner_a.email
    assert _one(tenant_a, "member.removed").changes == {"role": ["admin", None]}


def test_leaving_is_logged_as_the_member_themselves(tenant_a: Tenant, member_a: User) -> None:
    membership_leave(user=member_a, tenant=tenant_a)
    left = _one(tenant_a, "member.left")
    assert (left.actor_id, left.target_id, left.changes) == (
        member_a.pk,
        str(member_a.pk),
        {"role": ["member", None]},
    )


def test_invitations_are_logged(tenant_a: Tenant, owner_a: User) -> None:
    withdrawn, _ = invitation_create(tenant=tenant_a, by=owner_a, email="first@invited.test")
    invitation_revoke(invitation=withdrawn, by=owner_a)
    _, link = invitation_create(tenant=tenant_a, by=owner_a, email="second@invited.test")
    joiner: User = UserFactory(email="second@invited.test")
    invitation_accept(raw=link.rstrip("/").rsplit("/", 1)[-1], user=joiner)
    actions = [e.action for e in _events(tenant_a)]
    assert actions == [
        "invitation.created",
        "invitation.revoked",
        "invitation.created",
        "invitation.accepted",
    ]
    accepted = _one(tenant_a, "invitation.accepted")
    assert (accepted.actor_id, accepted.changes) == (joiner.pk, {"role": [None, "member"]})


def test_a_session_request_names_who_and_from_where(tenant_a: Tenant, owner_a: User) -> None:
    client = Client(
        HTTP_HOST=host_of(tenant_a), HTTP_USER_AGENT="Firefox/140", REMOTE_ADDR="203.0.113.9"
    )
    client.force_login(owner_a)
    response = client.get("/api/v1/contacts/export/", HTTP_X_REQUEST_ID="req-12345678")
    assert response.status_code == 200
    b"".join(response.streaming_content)  # type: ignore[attr-defined]
    exported = _one(tenant_a, "contact.exported")
    assert (exported.actor_id, exported.via, exported.ip) == (owner_a.pk, "session", "203.0.113.9")
    assert (exported.user_agent, exported.request_id) == ("Firefox/140", "req-12345678")
    assert response["X-Request-ID"] == "req-12345678"


def test_a_token_request_is_logged_as_through_a_token(tenant_a: Tenant, owner_a: User) -> None:
    from tests.conftest import token_client

    client = token_client(owner_a, tenant_a)
    response = client.post(
        "/api/v1/contacts/",
        data={"first_name": "Tok", "last_name": "En"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    created = _one(tenant_a, "contact.created")
    assert (created.actor_id, created.via) == (owner_a.pk, "token")
    assert len(created.request_id) >= 8


def test_sign_in_success_failure_and_sign_out_on_the_organization_host(
    tenant_a: Tenant, member_a: User
) -> None:
    client = Client(HTTP_HOST=host_of(tenant_a), REMOTE_ADDR="198.51.100.7")
    client.post("/accounts/login/", {"login": member_a.email, "password": "wrong"})
    client.post("/accounts/login/", {"login": member_a.email, "password": PASSWORD})
    client.post("/accounts/logout/")
    assert [e.action for e in _events(tenant_a)] == [
        "sign_in.failed",
        "sign_in.succeeded",
        "sign_out",
    ]
    failed = _one(tenant_a, "sign_in.failed")
    assert (failed.actor_id, failed.target_label, failed.ip) == (
        None,
        member_a.email,
        "198.51.100.7",
    )
    assert _one(tenant_a, "sign_in.succeeded").actor_id == member_a.pk


def test_signing_in_on_the_public_site_logs_nothing_in_an_organization(
    tenant_a: Tenant, member_a: User, public_client: Client
) -> None:
    public_client.post("/accounts/login/", {"login": member_a.email, "password": PASSWORD})
    assert _events(tenant_a) == []


def test_operator_actions_are_logged_in_the_organization(
    tenant_a: Tenant, tenant_b: Tenant, public_client: Client
) -> None:
    operator: User = UserFactory(email="operator@mycrm.test", is_staff=True, is_superuser=True)
    public_client.force_login(operator)
    response = public_client.post(
        "/admin/tenants/tenant/",
        {"action": "suspend", "_selected_action": [str(tenant_a.pk)]},
    )
    assert response.status_code == 302
    suspended = _one(tenant_a, "operator.suspended")
    assert (suspended.actor_id, suspended.actor_label, suspended.via) == (
        operator.pk,
        "operator@mycrm.test",
        "operator",
    )
    assert suspended.changes == {"status": ["active", "suspended"]}
    assert _events(tenant_b) == []


def test_acting_as_names_the_channel_of_rows_written_inside(tenant_a: Tenant) -> None:
    with acting_as(user=None, label="Okta SCIM", via="scim"):
        audit_record(
            action="scim.user_deactivated", target=("member", 7, "x@y.test"), tenant=tenant_a
        )
    row = _one(tenant_a, "scim.user_deactivated")
    assert (row.actor_id, row.actor_label, row.via) == (None, "Okta SCIM", "scim")


def test_an_edit_on_the_record_page_logs_the_values_before_and_after(
    tenant_a: Tenant, owner_a: User
) -> None:
    with tenant_context(tenant_a):
        contact = contact_create(by=owner_a, first_name="Ann", last_name="Lee", title="CTO")
        company = company_create(by=owner_a, name="Lee & Co")
    page = Client(HTTP_HOST=host_of(tenant_a))
    page.force_login(owner_a)
    posted = page.post(
        f"/contacts/{contact.pk}/edit/",
        {"first_name": "Ann", "last_name": "Lee", "title": "CEO", "email": "ann@lee.test"},
    )
    assert posted.status_code == 302, posted.content[:500]
    renamed = page.post(f"/companies/{company.pk}/edit/", {"name": "Lee Group"})
    assert renamed.status_code == 302, renamed.content[:500]
    assert _one(tenant_a, "contact.updated").changes == {
        "email": "changed",
        "title": ["CTO", "CEO"],
    }
    assert _one(tenant_a, "company.updated").changes == {"name": ["Lee & Co", "Lee Group"]}
