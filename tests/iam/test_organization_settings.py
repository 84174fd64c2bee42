"""Owners and admins name the organization and pick its time zone; every request on its
host then counts days and shows times in that zone."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from crm.models import Activity, Contact
from iam.models import User
from tenants.models import Tenant
from tenants.services import tenant_profile_update
from tests.conftest import host_of

pytestmark = pytest.mark.django_db

URL = "/settings/organization/"


@pytest.fixture
def owner_client(tenant_a: Tenant, owner_a: User) -> Client:
    client = Client(HTTP_HOST=host_of(tenant_a))
    client.force_login(owner_a)
    return client


def test_an_owner_renames_the_organization_and_picks_its_time_zone(
    owner_client: Client, tenant_a: Tenant
) -> None:
    page = owner_client.get(URL)
    assert page.status_code == 200 and b'value="UTC" selected' in page.content
    saved = owner_client.post(URL, {"name": "  Alpha   Labs ", "time_zone": "Asia/Kathmandu"})
    assert saved.status_code == 302
    tenant_a.refresh_from_db()
    assert (tenant_a.name, tenant_a.time_zone) == ("Alpha Labs", "Asia/Kathmandu")
    # Every process's cached row follows: the next page already shows the new name.
    assert b"Alpha Labs" in owner_client.get("/").content


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "Alpha", "time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"name": "   ", "time_zone": "UTC"}, "name"),
        ({"name": "A" * 201, "time_zone": "UTC"}, "name"),
    ],
)
def test_bad_settings_get_field_errors_and_change_nothing(
    owner_client: Client, tenant_a: Tenant, data: dict[str, str], field: str
) -> None:
    response = owner_client.post(URL, data)
    assert response.status_code == 400
    assert field in response.context["form"].errors
    name = tenant_a.name
    tenant_a.refresh_from_db()
    assert (tenant_a.name, tenant_a.time_zone) == (name, "UTC")


def test_a_member_may_not_change_the_settings(client_a: Client, tenant_a: Tenant) -> None:
    assert client_a.get(URL).status_code == 403
    assert client_a.post(URL, {"name": "Mine now", "time_zone": "UTC"}).status_code == 403
    tenant_a.refresh_from_db()
    assert tenant_a.name != "Mine now"


def test_a_member_of_another_organization_cant_reach_them(tenant_a: Tenant, owner_b: User) -> None:
    stranger = Client(HTTP_HOST=host_of(tenant_a))
    stranger.force_login(owner_b)
    response = stranger.post(URL, {"name": "Taken", "time_zone": "UTC"})
    assert response.status_code in (403, 404)
    tenant_a.refresh_from_db()
    assert tenant_a.name != "Taken"


def test_pages_show_times_in_the_organizations_zone(owner_client: Client, tenant_a: Tenant) -> None:
    tenant_profile_update(tenant=tenant_a, name=tenant_a.name, time_zone="Asia/Kathmandu")
    before = timezone.now().astimezone(ZoneInfo("Asia/Kathmandu"))
    page = owner_client.get(URL).content.decode()
    after = timezone.now().astimezone(ZoneInfo("Asia/Kathmandu"))
    shown = {f"It is now {t:%-d %b %Y, %H:%M} in Asia/Kathmandu" for t in (before, after)}
    assert any(text in page for text in shown)
    assert timezone.get_current_timezone_name() == "UTC"  # nothing outlives the request


def _group(due: datetime, zone: str) -> str:
    """Where My tasks should put an open task due at `due` (after now), seen from `zone`."""
    now = timezone.now().astimezone(ZoneInfo(zone))
    return "today" if due.astimezone(ZoneInfo(zone)).date() == now.date() else "upcoming"


def test_my_tasks_count_today_in_the_organizations_zone(
    client_a: Client, tenant_a: Tenant, member_a: User
) -> None:
    """A task due in two hours is 'today' or 'upcoming' by the organization's own calendar:
    a zone is picked whose answer differs from UTC's at the moment the test runs."""
    due = timezone.now() + timedelta(hours=2)
    zones = [f"Etc/GMT{offset:+d}" for offset in range(-14, 13)]
    zone = next(z for z in zones if _group(due, z) != _group(due, "UTC"))
    with tenant_context(tenant_a):
        contact = Contact.objects.create(first_name="Due", last_name="Soon")
        Activity.objects.create(
            kind=Activity.Kind.TASK,
            subject="Call back",
            contact=contact,
            due_at=due,
            assignee_id=member_a.pk,
        )

    def group_shown() -> str:
        page = client_a.get("/tasks/")
        return next(key for key, _, items in page.context["groups"] if items)

    assert group_shown() == _group(due, "UTC")
    tenant_profile_update(tenant=tenant_a, name=tenant_a.name, time_zone=zone)
    assert group_shown() == _group(due, zone)


def test_the_api_reads_and_changes_the_organization(
    tenant_a: Tenant, owner_a: User, member_a: User, tenant_b: Tenant
) -> None:
    from tests.conftest import token_client

    owner, member = token_client(owner_a, tenant_a), token_client(member_a, tenant_a)
    read = member.get("/api/v1/organization/")
    assert read.status_code == 200
    assert read.json() == {"slug": "alpha", "name": tenant_a.name, "time_zone": "UTC"}
    refused = member.patch("/api/v1/organization/", {"name": "X"}, "application/json")
    assert refused.status_code == 403
    bad = owner.patch("/api/v1/organization/", {"time_zone": "Nowhere/City"}, "application/json")
    assert bad.status_code == 400 and "time_zone" in bad.json()["errors"]
    changed = owner.patch(
        "/api/v1/organization/", {"time_zone": "America/Sao_Paulo"}, "application/json"
    )
    assert changed.status_code == 200
    assert changed.json()["time_zone"] == "America/Sao_Paulo"
    assert changed.json()["name"] == tenant_a.name
    tenant_b.refresh_from_db()
    assert tenant_b.time_zone == "UTC"  # another organization's row is never touched


def test_another_organizations_token_cant_change_it(
    tenant_a: Tenant, tenant_b: Tenant, owner_b: User
) -> None:
    from tests.conftest import token_client

    stranger = token_client(owner_b, tenant_b, host=tenant_a)
    response = stranger.patch("/api/v1/organization/", {"name": "Taken"}, "application/json")
    assert response.status_code in (401, 403, 404)
    tenant_a.refresh_from_db()
    assert tenant_a.name != "Taken"
