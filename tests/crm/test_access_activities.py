"""Activities behind the decision point: My tasks, timelines (pages and API) and the
activities API show what the member may view, in their query; changes decide on the task."""

import datetime as dt

from django.utils import timezone
from django_tenants.utils import tenant_context

from crm.models import Activity
from iam.models import Role, User
from tenants.models import Tenant

from .access_support import api, browser, denied, member, scoped
from .factories import ActivityFactory, LeadFactory

SOON = timezone.now() + dt.timedelta(hours=3)


def _task(assignee: User, **fields: object) -> Activity:
    task: Activity = ActivityFactory(
        kind="task", body="", subject="Call back", due_at=SOON, assignee_id=assignee.pk, **fields
    )
    return task


def test_a_read_only_member_sees_their_tasks_but_ticks_none(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        reader = member(tenant_a, Role.READ_ONLY)
        task = _task(reader)
        lead = LeadFactory()
    page = browser(reader, tenant_a)

    tasks = page.get("/tasks/").content.decode()
    assert "Call back" in tasks and f"/tasks/{task.pk}/done/" not in tasks
    refused = page.post(f"/tasks/{task.pk}/done/")
    assert refused.status_code == 403
    assert "allows you to edit activities" in refused.content.decode()
    lead_page = page.get(f"/leads/{lead.pk}/").content.decode()
    assert 'data-testid="log-activity"' not in lead_page
    logged = page.post(
        "/activities/log/",
        {"record_type": "lead", "record_id": lead.pk, "kind": "note", "body": "Hi"},
    )
    assert logged.status_code == 403

    client = api(reader, tenant_a)
    denied(client.post(f"/api/v1/activities/{task.pk}/complete/"))
    denied(
        client.post(
            "/api/v1/activities/",
            {"kind": "note", "body": "Hi", "lead": lead.pk},
            "application/json",
        )
    )
    with tenant_context(tenant_a):
        assert Activity.objects.get(pk=task.pk).is_done is False
        assert not Activity.objects.filter(lead=lead).exists()


def test_own_scope_shows_own_activities_on_timelines_and_in_the_api(
    tenant_a: Tenant, member_a: User
) -> None:
    rights = {**scoped("activity", "own", "create", "edit"), "lead.view": "all"}
    with tenant_context(tenant_a):
        rep = member(tenant_a, Role.BILLING, rep=rights)
        lead = LeadFactory()
        mine = ActivityFactory(contact=None, lead=lead, body="Mine to see", created_by_id=rep.pk)
        theirs = ActivityFactory(
            contact=None, lead=lead, body="Not for rep", created_by_id=member_a.pk
        )
        other_task = _task(member_a, contact=None, lead=lead)
    client = api(rep, tenant_a)

    timeline = client.get(f"/api/v1/leads/{lead.pk}/timeline/").json()
    shown = {e["activity"]["id"] for e in timeline if e["activity"]}
    assert shown == {mine.pk}
    listed = {a["id"] for a in client.get("/api/v1/activities/").json()["results"]}
    assert listed == {mine.pk}
    assert client.get(f"/api/v1/activities/{theirs.pk}/").status_code == 404
    assert client.post(f"/api/v1/activities/{other_task.pk}/complete/").status_code == 404

    page = browser(rep, tenant_a).get(f"/leads/{lead.pk}/").content.decode()
    assert "Mine to see" in page and "Not for rep" not in page


def test_an_activity_about_a_record_one_cannot_see_is_refused(tenant_a: Tenant) -> None:
    rights = {**scoped("activity", "all", "create"), **scoped("lead", "own")}
    with tenant_context(tenant_a):
        rep = member(tenant_a, Role.BILLING, rep=rights)
        hidden = LeadFactory(owner_id=None)
    response = api(rep, tenant_a).post(
        "/api/v1/activities/", {"kind": "note", "body": "Hi", "lead": hidden.pk}, "application/json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"lead": ["Not found."]}
    logged = browser(rep, tenant_a).post(
        "/activities/log/",
        {"record_type": "lead", "record_id": hidden.pk, "kind": "note", "body": "Hi"},
    )
    assert logged.status_code == 404
    with tenant_context(tenant_a):
        assert not Activity.objects.filter(lead=hidden).exists()


def test_handing_a_task_to_someone_else_needs_the_assign_right(
    tenant_a: Tenant, member_a: User
) -> None:
    with tenant_context(tenant_a):
        rep = member(tenant_a, Role.BILLING, rep=scoped("activity", "all", "edit"))
        task = _task(rep)
    body = denied(
        api(rep, tenant_a).patch(
            f"/api/v1/activities/{task.pk}/", {"assignee_id": member_a.pk}, "application/json"
        )
    )
    assert "assign activities" in body["detail"]


def test_another_organization_reaches_none_of_our_activities(
    tenant_a: Tenant, tenant_b: Tenant, owner_b: User
) -> None:
    with tenant_context(tenant_a):
        lead = LeadFactory()
        note = ActivityFactory(contact=None, lead=lead, body="Alpha secret")
    client = api(owner_b, tenant_b)
    assert client.get(f"/api/v1/activities/{note.pk}/").status_code == 404
    assert client.get(f"/api/v1/leads/{lead.pk}/timeline/").status_code == 404
    assert "Alpha secret" not in client.get("/api/v1/activities/").content.decode()
