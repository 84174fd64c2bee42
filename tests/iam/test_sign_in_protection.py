"""Sign-in protection: failed attempts lock out an account and a client address for a while,
with an answer that says so; sign-in and password reset answer alike whether or not an
account exists (and do the same work); signing in starts a new session id."""

import re

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.test import Client, override_settings
from django.utils import timezone

from iam.models import User
from tenants.models import Tenant
from tests.conftest import host_of
from tests.factories import PASSWORD

from .hashers import CountingMD5Hasher

pytestmark = pytest.mark.django_db

LOCKED = "Too many failed login attempts for this account or from your network"
# CSRF tokens (in forms and in htmx's headers) differ on every page.
_CSRF = re.compile(r"\b[A-Za-z0-9]{64}\b")


def _post_login(host: str, email: str, password: str, address: str = "127.0.0.1") -> Client:
    client = Client(HTTP_HOST=host, REMOTE_ADDR=address)
    client.post("/accounts/login/", {"login": email, "password": password})
    return client


def _answer(host: str, email: str, password: str, address: str = "192.0.2.1") -> tuple[int, str]:
    """Status and page of a sign-in, with the address typed and the CSRF token left out."""
    response = Client(HTTP_HOST=host, REMOTE_ADDR=address).post(
        "/accounts/login/", {"login": email, "password": password}
    )
    body = _CSRF.sub("", response.content.decode()).replace(email, "EMAIL")
    return response.status_code, body


def _signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("on", ["public", "tenant"])
def test_a_wrong_password_and_an_unknown_account_get_the_same_answer(
    tenant_a: Tenant, member_a: User, on: str
) -> None:
    host = host_of(tenant_a) if on == "tenant" else settings.BASE_DOMAIN
    wrong = _answer(host, member_a.email, "not-the-password")
    unknown = _answer(host, "nobody-here@example.test", "not-the-password")
    assert wrong[0] == unknown[0] == 200
    assert wrong[1] == unknown[1]
    assert "not correct" in wrong[1]


@override_settings(PASSWORD_HASHERS=["tests.iam.hashers.CountingMD5Hasher"])
def test_an_unknown_account_costs_as_many_password_hashes_as_a_wrong_password(
    tenant_a: Tenant, member_a: User
) -> None:
    CountingMD5Hasher.calls.clear()
    _answer(host_of(tenant_a), member_a.email, "not-the-password")
    wrong = len(CountingMD5Hasher.calls)
    CountingMD5Hasher.calls.clear()
    _answer(host_of(tenant_a), "nobody-here@example.test", "not-the-password")
    unknown = len(CountingMD5Hasher.calls)
    assert wrong >= 1
    assert unknown == wrong


def test_an_account_is_locked_for_a_while_after_five_failures_with_a_clear_answer(
    tenant_a: Tenant, member_a: User
) -> None:
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        for n in range(5):
            _post_login(host_of(tenant_a), member_a.email, "wrong", f"203.0.113.{n}")
        locked = _answer(host_of(tenant_a), member_a.email, PASSWORD, "198.51.100.9")
        assert locked[0] == 200
        assert LOCKED in locked[1] and "Wait and try again" in locked[1]
        assert not _signed_in(_post_login(host_of(tenant_a), member_a.email, PASSWORD))
        clock.shift(6 * 60)
        assert _signed_in(_post_login(host_of(tenant_a), member_a.email, PASSWORD))


def test_an_unknown_account_locks_with_the_same_answer(tenant_a: Tenant, member_a: User) -> None:
    for n in range(5):
        _post_login(host_of(tenant_a), member_a.email, "wrong", f"203.0.113.{n}")
        _post_login(host_of(tenant_a), "ghost@example.test", "wrong", f"203.0.113.{n + 10}")
    known = _answer(host_of(tenant_a), member_a.email, "wrong", "198.51.100.1")
    unknown = _answer(host_of(tenant_a), "ghost@example.test", "wrong", "198.51.100.2")
    assert known == unknown
    assert LOCKED in known[1]


def test_a_client_address_is_locked_for_a_minute_after_ten_failures(
    tenant_a: Tenant, member_a: User
) -> None:
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        for n in range(10):
            _post_login(host_of(tenant_a), f"guess{n}@example.test", "wrong", "203.0.113.50")
        locked = _answer(host_of(tenant_a), member_a.email, PASSWORD, "203.0.113.50")
        assert LOCKED in locked[1]
        # The account itself is not locked: from elsewhere it signs in.
        assert _signed_in(_post_login(host_of(tenant_a), member_a.email, PASSWORD, "203.0.113.51"))
        clock.shift(61)
        assert _signed_in(_post_login(host_of(tenant_a), member_a.email, PASSWORD, "203.0.113.50"))


def _reset(email: str) -> tuple[int, str, str, str]:
    client = Client(HTTP_HOST=settings.BASE_DOMAIN)
    asked = client.post("/accounts/password/reset/", {"email": email})
    done = client.get(asked["Location"])
    body = _CSRF.sub("", done.content.decode()).replace(email, "EMAIL")
    return asked.status_code, asked["Location"], str(done.status_code), body


def test_password_reset_answers_alike_whether_or_not_the_account_exists(
    member_a: User,
) -> None:
    mail.outbox.clear()
    known = _reset(member_a.email)
    unknown = _reset("nobody-here@example.test")
    assert known == unknown
    assert known[0] == 302
    # Each address gets one e-mail: a reset link, or a note that it has no account.
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        [member_a.email, "nobody-here@example.test"]
    )


@pytest.mark.parametrize("on", ["public", "tenant"])
def test_password_reset_on_any_host_answers_alike(
    tenant_a: Tenant, member_a: User, on: str
) -> None:
    host = host_of(tenant_a) if on == "tenant" else settings.BASE_DOMAIN
    answers = []
    for email in (member_a.email, "nobody-here@example.test"):
        response = Client(HTTP_HOST=host).post("/accounts/password/reset/", {"email": email})
        answers.append((response.status_code, response.get("Location")))
    assert answers[0] == answers[1]


def test_the_organization_sign_up_page_answers_alike_for_any_address(
    tenant_a: Tenant, member_a: User
) -> None:
    """On an organization's host accounts start with an invitation: the page is the same
    whoever asks, with or without an account."""
    host = host_of(tenant_a)
    known = Client(HTTP_HOST=host).post("/accounts/signup/", {"email": member_a.email})
    unknown = Client(HTTP_HOST=host).post("/accounts/signup/", {"email": "new@example.test"})
    assert known.status_code == unknown.status_code
    assert known.content == unknown.content


def test_signing_in_starts_a_new_session_id(tenant_a: Tenant, member_a: User) -> None:
    client = Client(HTTP_HOST=host_of(tenant_a))
    session = client.session
    session["visited"] = True
    session.save()
    before = session.session_key
    assert before
    client.cookies[settings.SESSION_COOKIE_NAME] = before
    client.post("/accounts/login/", {"login": member_a.email, "password": PASSWORD})
    after = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert _signed_in(client)
    assert before and after and before != after
    from django.contrib.sessions.models import Session

    assert not Session.objects.filter(session_key=before).exists()
