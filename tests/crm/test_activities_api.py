"""The activities and timeline API: CRUD, complete and reopen, filters, problem+json,
query counts, and organizations kept apart."""

import datetime as dt

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from crm.models import Activity
from iam.models import User
from tenants.models import Tenant
from tests.conftest import token_client

from .factories import ActivityFactory, CompanyFactory, ContactFactory

pytestmark = pytest.mark.django_db

DUE = "2026-03-10T09:00:00Z"


@pytest.fixture
def api(tenant_a: Tenant, member_a: User) -> Client:
    return token_client(member_a, tenant_a)


def _post(api: Client, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    response = api.post("/api/v1/activities/", body, content_type="application/json")
    return response.status_code, response.json()


def test_activity_crud_round_trip(api: Client, tenant_a: Tenant, member_a: User) -> None:
    with tenant_context(tenant_a):
        contact = ContactFactory()
    status, body = _post(
        api,
        {"kind": "call", "direction": "outbound", "outcome": "Reached", "contact": contact.pk},
    )
    assert status == 201, body
    assert body["created_by_id"] == member_a.pk
    assert body["contact"] == contact.pk
    url = f"/api/v1/activities/{body['id']}/"
    assert api.get(url).json()["outcome"] == "Reached"
    patched = api.patch(url, {"duration_seconds": 120}, content_type="application/json")
    assert patched.status_code == 200, patched.content
    assert patched.json()["duration_seconds"] == 120
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404


def test_a_field_of_another_kind_is_a_problem(api: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        contact = ContactFactory()
    response = api.post(
        "/api/v1/activities/",
        {"kind": "note", "body": "Hi", "due_at": DUE, "contact": contact.pk},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert "due_at" in response.json()["errors"]


def test_an_activity_needs_exactly_one_record(api: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        contact, company = ContactFactory(), CompanyFactory()
    status, body = _post(
        api, {"kind": "note", "body": "Hi", "contact": contact.pk, "company": company.pk}
    )
    assert status == 400
    assert "record" in body["errors"]  # type: ignore[operator]


def test_kind_and_record_stay_fixed_on_update(api: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        note = ActivityFactory()
        other = ContactFactory()
    response = api.patch(
        f"/api/v1/activities/{note.pk}/",
        {"kind": "call", "contact": other.pk, "body": "Changed"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert (response.json()["kind"], response.json()["contact"]) == ("note", note.contact_id)
    assert response.json()["body"] == "Changed"


def test_a_task_is_completed_and_reopened(api: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        contact = ContactFactory()
    _, task = _post(
        api, {"kind": "task", "subject": "Send offer", "due_at": DUE, "contact": contact.pk}
    )
    done = api.post(f"/api/v1/activities/{task['id']}/complete/")
    assert done.status_code == 200, done.content
    assert done.json()["is_done"] and done.json()["done_at"]
    reopened = api.post(f"/api/v1/activities/{task['id']}/reopen/")
    assert reopened.json()["is_done"] is False and reopened.json()["done_at"] is None


def test_completing_a_note_is_a_problem(api: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        note = ActivityFactory()
    response = api.post(f"/api/v1/activities/{note.pk}/complete/")
    assert response.status_code == 400
    assert "kind" in response.json()["errors"]


def test_the_list_is_filtered(api: Client, tenant_a: Tenant, member_a: User, owner_a: User) -> None:
    due = dt.datetime(2026, 3, 10, 9, tzinfo=dt.UTC)
    with tenant_context(tenant_a):
        contact = ContactFactory()
        mine = ActivityFactory(
            kind="task", body="", subject="a", due_at=due, assignee_id=member_a.pk, contact=contact
        )
        ActivityFactory(
            kind="task",
            body="",
            subject="b",
            due_at=due + dt.timedelta(days=2),
            assignee_id=owner_a.pk,
            contact=contact,
        )
        ActivityFactory(contact=contact)
        ActivityFactory()

    def ids(query: str) -> list[int]:
        response = api.get(f"/api/v1/activities/?{query}")
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert len(ids(f"contact={contact.pk}")) == 3
    assert len(ids(f"contact={contact.pk}&kind=task")) == 2
    assert ids("mine=true&kind=task") == [mine.pk]
    assert ids(f"assignee={member_a.pk}") == [mine.pk]
    assert ids("kind=task&due_before=2026-03-11T00:00:00Z") == [mine.pk]
    assert len(ids("kind=task&due_after=2026-03-11T00:00:00Z&done=false")) == 1


@pytest.mark.parametrize(
    "query",
    [
        "contact=abc",
        "assignee=1.5",
        "done=maybe",
        "mine=null",
        "due_after=soon",
        "due_before=",
        "kind=fax",
    ],
)
def test_a_malformed_filter_is_a_problem(api: Client, query: str) -> None:
    response = api.get(f"/api/v1/activities/?{query}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"


def test_listing_costs_a_fixed_number_of_statements(
    api: Client, tenant_a: Tenant, django_assert_max_num_queries: object
) -> None:
    with tenant_context(tenant_a):
        people = [ContactFactory(), ContactFactory()]
        for _ in range(10):
            meeting = ActivityFactory(kind="meeting", body="", starts_at="2026-03-10T10:00Z")
            meeting.attendees.set(people)
    with django_assert_max_num_queries(12):  # type: ignore[operator]
        response = api.get("/api/v1/activities/")
    assert len(response.json()["results"]) == 10
    assert len(response.json()["results"][0]["attendees"]) == 2


def test_the_timeline_of_a_contact(api: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        contact = ContactFactory()
        note = ActivityFactory(contact=contact)
    response = api.get(f"/api/v1/contacts/{contact.pk}/timeline/")
    assert response.status_code == 200, response.content
    kinds = [(e["kind"], (e["activity"] or {}).get("id")) for e in response.json()]
    assert kinds == [("activity", note.pk), ("created", None)]


def test_the_timeline_of_a_missing_record_is_not_found(api: Client) -> None:
    response = api.get("/api/v1/companies/999999/timeline/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_another_organizations_activity_and_record_are_not_found(
    api: Client, tenant_b: Tenant
) -> None:
    with tenant_context(tenant_b):
        note = ActivityFactory()
        theirs = ContactFactory()
        task = ActivityFactory(kind="task", body="", subject="x", due_at=DUE, contact=theirs)
    for method, url in [
        ("get", f"/api/v1/activities/{note.pk}/"),
        ("patch", f"/api/v1/activities/{note.pk}/"),
        ("delete", f"/api/v1/activities/{note.pk}/"),
        ("post", f"/api/v1/activities/{task.pk}/complete/"),
        ("post", f"/api/v1/activities/{task.pk}/reopen/"),
        ("get", f"/api/v1/contacts/{theirs.pk}/timeline/"),
    ]:
        response = getattr(api, method)(url, {}, content_type="application/json")
        assert response.status_code == 404, (method, url)
    status, body = _post(api, {"kind": "note", "body": "x", "contact": theirs.pk})
    assert status == 400 and "contact" in body["errors"]  # type: ignore[operator]
    with tenant_context(tenant_b):
        assert Activity.objects.get(pk=note.pk).body == note.body
        assert Activity.objects.get(pk=task.pk).is_done is False


def test_a_token_of_another_organization_reads_nothing(
    tenant_a: Tenant, tenant_b: Tenant, owner_b: User
) -> None:
    with tenant_context(tenant_a):
        ActivityFactory()
    response = token_client(owner_b, tenant_b, host=tenant_a).get("/api/v1/activities/")
    assert response.status_code in (401, 403)
