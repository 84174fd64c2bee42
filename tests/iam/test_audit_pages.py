"""The audit log page, its CSV export, its retention setting and `GET /api/v1/audit-events/`:
owners and admins only, each organization its own log."""

import csv
import datetime as dt
import io

import pytest
from django.test import Client
from django.utils import timezone

from iam.audit import audit_record
from iam.models import SecuritySettings, User
from tenants.models import Tenant
from tests.conftest import host_of, token_client

pytestmark = pytest.mark.django_db


def _owner_client(tenant: Tenant, owner: User) -> Client:
    client = Client(HTTP_HOST=host_of(tenant))
    client.force_login(owner)
    return client


def _seed(tenant: Tenant, owner: User, member: User | None = None) -> None:
    audit_record(
        action="contact.updated", target=("contact", 1, "Ann Lee"), actor=owner, tenant=tenant
    )
    audit_record(action="deal.created", target=("deal", 7, "Big deal"), actor=owner, tenant=tenant)
    audit_record(
        action="member.role_changed",
        target=("member", 99, "x@alpha.test"),
        changes={"role": ["member", "admin"]},
        actor=member or owner,
        tenant=tenant,
    )


def _actions(response_html: str) -> list[str]:
    marker = 'font-mono text-xs font-medium text-ink">'
    return [part.split("<", 1)[0] for part in response_html.split(marker)[1:]]


def test_an_owner_searches_the_log_by_person_action_and_record(
    tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    _seed(tenant_a, owner_a, member_a)
    client = _owner_client(tenant_a, owner_a)
    page = client.get("/settings/audit/")
    assert page.status_code == 200
    assert _actions(page.content.decode()) == [
        "member.role_changed",
        "deal.created",
        "contact.updated",
    ]
    by_person = client.get("/settings/audit/", {"person": "member@alpha"})
    assert _actions(by_person.content.decode()) == ["member.role_changed"]
    by_action = client.get("/settings/audit/", {"action": "deal."})
    assert _actions(by_action.content.decode()) == ["deal.created"]
    by_record = client.get("/settings/audit/", {"record_type": "contact", "record_id": "1"})
    assert _actions(by_record.content.decode()) == ["contact.updated"]
    tomorrow = (timezone.now() + dt.timedelta(days=2)).date().isoformat()
    assert _actions(client.get("/settings/audit/", {"since": tomorrow}).content.decode()) == []


def test_a_backwards_date_range_is_a_field_error(tenant_a: Tenant, owner_a: User) -> None:
    page = _owner_client(tenant_a, owner_a).get(
        "/settings/audit/", {"since": "2026-05-02", "until": "2026-05-01"}
    )
    assert page.status_code == 200
    assert "Choose a day on or after the first one." in page.content.decode()


def test_the_csv_export_holds_the_filtered_rows(tenant_a: Tenant, owner_a: User) -> None:
    _seed(tenant_a, owner_a)
    response = _owner_client(tenant_a, owner_a).get(
        "/settings/audit/export/", {"action": "deal.created"}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [(r["action"], r["target_id"], r["actor"]) for r in rows] == [
        ("deal.created", "7", owner_a.email)
    ]


def test_pages_are_paginated(tenant_a: Tenant, owner_a: User) -> None:
    for i in range(55):
        audit_record(action="contact.viewed", target=("contact", i, "c"), tenant=tenant_a)
    client = _owner_client(tenant_a, owner_a)
    first = client.get("/settings/audit/").content.decode()
    second = client.get("/settings/audit/", {"page": 2}).content.decode()
    assert len(_actions(first)) == 50 and len(_actions(second)) == 5
    assert "Next" in first


def test_an_owner_sets_the_retention_and_it_is_logged(tenant_a: Tenant, owner_a: User) -> None:
    client = _owner_client(tenant_a, owner_a)
    refused = client.post("/settings/audit/", {"audit_retention_days": "5"})
    assert refused.status_code == 400
    assert not SecuritySettings.objects.filter(tenant=tenant_a).exists()
    saved = client.post("/settings/audit/", {"audit_retention_days": "90"})
    assert saved.status_code == 302
    assert SecuritySettings.objects.get(tenant=tenant_a).audit_retention_days == 90
    page = client.get("/settings/audit/").content.decode()
    assert "security.audit_retention_changed" in page
    assert 'value="90"' in page


def test_a_member_gets_403_on_the_page_the_export_and_the_api(
    tenant_a: Tenant, owner_a: User, client_a: Client, member_a: User
) -> None:
    _seed(tenant_a, owner_a)
    assert client_a.get("/settings/audit/").status_code == 403
    assert client_a.post("/settings/audit/", {"audit_retention_days": "90"}).status_code == 403
    assert client_a.get("/settings/audit/export/").status_code == 403
    answer = token_client(member_a, tenant_a).get("/api/v1/audit-events/")
    assert answer.status_code == 403
    assert answer["Content-Type"].startswith("application/problem+json")
    assert not SecuritySettings.objects.filter(tenant=tenant_a).exists()


def test_an_admin_of_one_organization_never_sees_another_ones_log(
    tenant_a: Tenant, tenant_b: Tenant, owner_a: User, owner_b: User
) -> None:
    audit_record(
        action="deal.created", target=("deal", 1, "Alpha deal"), actor=owner_a, tenant=tenant_a
    )
    audit_record(
        action="deal.created", target=("deal", 1, "Beta secret"), actor=owner_b, tenant=tenant_b
    )
    page = _owner_client(tenant_a, owner_a).get("/settings/audit/").content.decode()
    assert "Alpha deal" in page and "Beta secret" not in page
    api = token_client(owner_a, tenant_a).get("/api/v1/audit-events/", {"action": "deal."})
    assert [e["target_label"] for e in api.json()["results"]] == ["Alpha deal"]
    # Alpha's session and token on beta's host get nothing of beta's.
    crossing = Client(HTTP_HOST=host_of(tenant_b))
    crossing.force_login(owner_a)
    assert crossing.get("/settings/audit/").status_code == 403
    assert (
        token_client(owner_a, tenant_a, host=tenant_b).get("/api/v1/audit-events/").status_code
        == 401
    )


def test_the_api_filters_and_pages_with_a_cursor(tenant_a: Tenant, owner_a: User) -> None:
    client = token_client(owner_a, tenant_a)  # its making is the log's first row
    _seed(tenant_a, owner_a)
    first = client.get("/api/v1/audit-events/", {"page_size": 2})
    assert first.status_code == 200
    body = first.json()
    assert [e["action"] for e in body["results"]] == ["member.role_changed", "deal.created"]
    assert body["results"][0]["changes"] == {"role": ["member", "admin"]}
    assert len(body["results"][0]["hash"]) == 64
    rest = client.get(body["next"]).json()
    assert [e["action"] for e in rest["results"]] == ["contact.updated", "api_token.created"]
    filtered = client.get("/api/v1/audit-events/", {"record_type": "deal", "record_id": "7"})
    assert [e["target_label"] for e in filtered.json()["results"]] == ["Big deal"]
    by_person = client.get("/api/v1/audit-events/", {"person": owner_a.email})
    assert len(by_person.json()["results"]) == 4


def test_the_api_answers_a_bad_day_with_a_problem_and_a_backwards_range_with_nothing(
    tenant_a: Tenant, owner_a: User
) -> None:
    client = token_client(owner_a, tenant_a)
    bad_date = client.get("/api/v1/audit-events/", {"since": "yesterday"})
    assert bad_date.status_code == 400
    assert bad_date["Content-Type"].startswith("application/problem+json")
    backwards = client.get("/api/v1/audit-events/", {"since": "2026-05-02", "until": "2026-05-01"})
    assert backwards.status_code == 200 and backwards.json()["results"] == []


def test_the_api_list_takes_a_fixed_number_of_queries(
    tenant_a: Tenant, owner_a: User, django_assert_max_num_queries: object
) -> None:
    for i in range(20):
        audit_record(action="contact.viewed", target=("contact", i, "c"), tenant=tenant_a)
    client = token_client(owner_a, tenant_a)
    client.get("/api/v1/audit-events/")  # warm the caches of the token and the principal
    with django_assert_max_num_queries(12):  # type: ignore[operator]
        assert client.get("/api/v1/audit-events/").status_code == 200


def test_days_at_the_calendars_edges_leave_the_range_open(tenant_a: Tenant, owner_a: User) -> None:
    _seed(tenant_a, owner_a)
    edges = {"since": "0001-01-01", "until": "9999-12-31", "person": "9" * 30}
    page = _owner_client(tenant_a, owner_a).get("/settings/audit/", {**edges, "person": ""})
    assert page.status_code == 200
    assert len(_actions(page.content.decode())) == 3
    api = token_client(owner_a, tenant_a).get("/api/v1/audit-events/", edges)
    assert api.status_code == 200 and api.json()["results"] == []
