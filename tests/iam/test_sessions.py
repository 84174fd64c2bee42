"""Sessions: the list of a user's own sessions, signing out one, the others or all of them,
password changes ending the others, and idle and absolute timeouts per organization."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from iam.models import Membership, Role, SecuritySettings, User, UserSession
from iam.security.selectors import device_label
from iam.security.services import session_end_all
from tenants.models import Tenant
from tests.conftest import host_of
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)


def _browser(host: str, email: str, *, agent: str = FIREFOX, address: str = "192.0.2.10") -> Client:
    client = Client(HTTP_HOST=host, HTTP_USER_AGENT=agent, REMOTE_ADDR=address)
    response = client.post("/accounts/login/", {"login": email, "password": PASSWORD})
    assert response.status_code == 302, response.status_code
    return client


def _signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _key(client: Client) -> str:
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def test_signing_in_records_the_session_with_device_address_and_place(
    tenant_a: Tenant, member_a: User
) -> None:
    client = _browser(host_of(tenant_a), member_a.email, address="198.51.100.7")
    row = UserSession.objects.get(session_key=_key(client))
    assert (row.user_id, row.tenant_id, row.ip) == (member_a.pk, tenant_a.pk, "198.51.100.7")
    page = client.get("/account/security/").content.decode()
    assert "Firefox on Windows" in page and "198.51.100.7" in page and "Alpha Inc" in page
    assert "This session" in page


def test_signing_out_drops_the_session_from_the_list(tenant_a: Tenant, member_a: User) -> None:
    client = _browser(host_of(tenant_a), member_a.email)
    key = _key(client)
    client.post("/accounts/logout/")
    assert not UserSession.objects.filter(session_key=key).exists()


def test_the_list_shows_only_your_own_sessions_wherever_they_are(
    tenant_a: Tenant, member_a: User, owner_a: User
) -> None:
    mine_here = _browser(host_of(tenant_a), member_a.email)
    _browser(settings.BASE_DOMAIN, member_a.email, agent=SAFARI_IPHONE)
    _browser(host_of(tenant_a), owner_a.email, address="203.0.113.99")
    page = mine_here.get("/account/security/")
    assert page.context["sessions"] and len(page.context["sessions"]) == 2
    body = page.content.decode()
    assert "Safari on iOS" in body and "MyCRM website" in body
    assert "203.0.113.99" not in body
    assert [row.is_current for row in page.context["sessions"]].count(True) == 1


def test_signing_out_one_other_session_ends_it(tenant_a: Tenant, member_a: User) -> None:
    here = _browser(host_of(tenant_a), member_a.email)
    there = _browser(settings.BASE_DOMAIN, member_a.email)
    row = UserSession.objects.get(session_key=_key(there))
    response = here.post(f"/account/security/sessions/{row.pk}/end/")
    assert response.status_code == 302 and response["Location"] == "/account/security/"
    assert not _signed_in(there)
    assert _signed_in(here)


def test_another_users_session_cannot_be_ended_by_its_id(
    tenant_a: Tenant, member_a: User, owner_a: User
) -> None:
    mine = _browser(host_of(tenant_a), member_a.email)
    theirs = _browser(host_of(tenant_a), owner_a.email)
    row = UserSession.objects.get(session_key=_key(theirs))
    assert mine.post(f"/account/security/sessions/{row.pk}/end/").status_code == 404
    assert mine.post("/account/security/sessions/999999/end/").status_code == 404
    assert _signed_in(theirs)
    assert UserSession.objects.filter(pk=row.pk).exists()


def test_signing_out_other_sessions_keeps_this_one(tenant_a: Tenant, member_a: User) -> None:
    here = _browser(host_of(tenant_a), member_a.email)
    others = [
        _browser(settings.BASE_DOMAIN, member_a.email),
        _browser(host_of(tenant_a), member_a.email, agent=SAFARI_IPHONE),
    ]
    assert here.post("/account/security/sessions/end-others/").status_code == 302
    assert _signed_in(here)
    assert not any(_signed_in(other) for other in others)
    assert list(
        UserSession.objects.filter(user=member_a).values_list("session_key", flat=True)
    ) == [_key(here)]


def test_signing_out_everywhere_ends_this_session_too(tenant_a: Tenant, member_a: User) -> None:
    here = _browser(host_of(tenant_a), member_a.email)
    there = _browser(settings.BASE_DOMAIN, member_a.email)
    response = here.post("/account/security/sessions/end-all/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert not _signed_in(here) and not _signed_in(there)
    assert not UserSession.objects.filter(user=member_a).exists()


def test_ending_all_sessions_leaves_other_users_alone(
    tenant_a: Tenant, member_a: User, owner_a: User
) -> None:
    theirs = _browser(host_of(tenant_a), owner_a.email)
    _browser(host_of(tenant_a), member_a.email)
    assert session_end_all(user=member_a) == 1
    assert _signed_in(theirs)


def test_changing_the_password_signs_out_the_other_sessions(
    tenant_a: Tenant, member_a: User
) -> None:
    here = _browser(host_of(tenant_a), member_a.email)
    there = _browser(settings.BASE_DOMAIN, member_a.email)
    new = "another-Long-passphrase-77"
    response = here.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": new, "password2": new},
    )
    assert response.status_code == 302
    assert _signed_in(here)
    assert not _signed_in(there)
    assert list(
        UserSession.objects.filter(user=member_a).values_list("session_key", flat=True)
    ) == [_key(here)]


def test_a_session_ends_after_the_platforms_idle_timeout(tenant_a: Tenant, member_a: User) -> None:
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        client = _browser(host_of(tenant_a), member_a.email)
        key = _key(client)
        clock.shift(timedelta(minutes=settings.SESSION_IDLE_MINUTES - 1))
        assert client.get("/").status_code == 200
        clock.shift(timedelta(minutes=settings.SESSION_IDLE_MINUTES + 1))
        response = client.get("/contacts/")
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=/contacts/")
        assert not _signed_in(client)
        assert not Session.objects.filter(session_key=key).exists()
        assert not UserSession.objects.filter(session_key=key).exists()
        page = client.get(response["Location"]).content.decode()
        assert f"after {settings.SESSION_IDLE_MINUTES} minutes without activity" in page


def test_a_session_ends_after_the_organizations_absolute_timeout_however_active(
    tenant_a: Tenant, member_a: User
) -> None:
    SecuritySettings.objects.create(tenant=tenant_a, session_idle_minutes=60, session_max_hours=2)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        client = _browser(host_of(tenant_a), member_a.email)
        for _ in range(3):  # active every 40 minutes: never idle
            clock.shift(timedelta(minutes=40))
            assert client.get("/").status_code == 200
        clock.shift(timedelta(minutes=1))  # 2 h 1 min after signing in
        assert client.get("/").status_code == 302
        assert not _signed_in(client)


def test_an_organizations_timeout_applies_on_its_host_only(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    both = UserFactory(email="both@example.test")
    Membership.objects.create(user=both, tenant=tenant_a, role=Role.MEMBER)
    Membership.objects.create(user=both, tenant=tenant_b, role=Role.MEMBER)
    SecuritySettings.objects.create(tenant=tenant_a, session_idle_minutes=10)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        at_a = _browser(host_of(tenant_a), both.email)
        at_b = _browser(host_of(tenant_b), both.email)
        clock.shift(timedelta(minutes=15))
        assert at_b.get("/").status_code == 200
        assert at_a.get("/").status_code == 302
        assert _signed_in(at_b) and not _signed_in(at_a)


def test_an_api_call_with_a_timed_out_session_gets_a_problem(
    tenant_a: Tenant, member_a: User
) -> None:
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        client = _browser(host_of(tenant_a), member_a.email)
        assert client.get("/api/v1/contacts/").status_code == 200
        clock.shift(timedelta(minutes=settings.SESSION_IDLE_MINUTES + 1))
        response = client.get("/api/v1/contacts/")
        assert response.status_code == 401
        assert json.loads(response.content)["code"] == "session-expired"


def test_activity_is_recorded_at_most_once_a_minute(tenant_a: Tenant, member_a: User) -> None:
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        client = _browser(host_of(tenant_a), member_a.email)
        row = UserSession.objects.get(session_key=_key(client))
        clock.shift(30)
        client.get("/")
        row.refresh_from_db()
        assert row.last_active_at == row.signed_in_at
        clock.shift(45)
        client.get("/")
        row.refresh_from_db()
        assert row.last_active_at - row.signed_in_at == timedelta(seconds=75)


@pytest.mark.parametrize(
    ("agent", "label"),
    [
        (FIREFOX, "Firefox on Windows"),
        (SAFARI_IPHONE, "Safari on iOS"),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like "
            "Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
            "Edge on macOS",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Mobile Safari/537.36",
            "Chrome on Android",
        ),
        ("curl/8.5.0", "Unknown device"),
        ("", "Unknown device"),
    ],
)
def test_the_device_is_told_from_the_user_agent(agent: str, label: str) -> None:
    assert device_label(agent) == label
