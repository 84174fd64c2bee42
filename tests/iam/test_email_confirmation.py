"""Confirming one's e-mail address: a link on the public site's host, pages show a banner
until it is followed, and the link can be sent again (rate-limited). Sign-up needs none: its
own link reached the inbox (tests/public_site/test_signup.py)."""

import re
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client

from iam.models import User
from iam.services import user_create
from tenants.models import Tenant
from tests.conftest import host_of

pytestmark = pytest.mark.django_db

_LINK = re.compile(r"(https?://[^/\s]+)(/accounts/confirm-email/[^/\s]+/)")


def _link(message: Any) -> tuple[str, str]:
    """(origin, path) of the confirmation link in an e-mail."""
    found = _LINK.search(message.body)
    assert found, message.body
    return found.group(1), found.group(2)


def test_the_link_is_on_the_public_host_and_confirms_the_address_in_any_browser(
    public_client: Client,
) -> None:
    """People whose address no link has reached yet (sign-up's own link confirms it) ask
    for one; it points at the public site and works wherever it is opened."""
    user = user_create(email="cora@confirm.test", password="pl3nty-of-Entropy-here")
    public_client.force_login(user)
    assert public_client.post("/account/confirm-email/send/").status_code == 302
    assert not EmailAddress.objects.get(user=user).verified
    assert [m.to for m in mail.outbox] == [["cora@confirm.test"]]
    origin, path = _link(mail.outbox[0])
    assert origin == "http://localhost:8000"  # never a tenant host or the request's Host

    visitor = Client(HTTP_HOST="localhost")  # any browser, signed in or not
    assert visitor.get(path).status_code == 200
    assert visitor.post(path).status_code == 302
    assert EmailAddress.objects.get(user=user).verified


def test_pages_show_a_banner_until_the_address_is_confirmed(tenant_a: Tenant) -> None:
    user = user_create(email="new@alpha.test", password="pl3nty-of-Entropy-here")
    tenant_a.memberships.create(user=user, role="member")
    client = Client(HTTP_HOST=host_of(tenant_a))
    client.force_login(user)
    page = client.get("/contacts/")
    assert b'data-testid="email-unconfirmed"' in page.content
    assert b"new@alpha.test" in page.content
    EmailAddress.objects.filter(user=user).update(verified=True)
    assert b'data-testid="email-unconfirmed"' not in client.get("/contacts/").content


def test_the_link_is_sent_again_from_a_tenant_host_but_not_twice_in_a_row(
    tenant_a: Tenant,
) -> None:
    user = user_create(email="again@alpha.test", password="pl3nty-of-Entropy-here")
    tenant_a.memberships.create(user=user, role="member")
    client = Client(HTTP_HOST=host_of(tenant_a))
    client.force_login(user)

    sent = client.post("/account/confirm-email/send/", {"next": "/contacts/"})
    assert sent.status_code == 302 and sent["Location"] == "/contacts/"
    assert len(mail.outbox) == 1
    assert _link(mail.outbox[0])[0] == "http://localhost:8000"
    assert b"We sent a new link to again@alpha.test" in client.get("/contacts/").content

    again = client.post("/account/confirm-email/send/", {"next": "/contacts/"}, follow=True)
    assert len(mail.outbox) == 1  # the first link still works; no second mail yet
    page = again.content.decode()
    assert "We sent a link to again@alpha.test a moment ago and it still works" in page
    assert "confirmed already" not in page


def test_asking_again_once_confirmed_says_the_address_is_confirmed(
    client_a: Client, member_a: User
) -> None:
    EmailAddress.objects.update_or_create(
        user=member_a, email=member_a.email, defaults={"verified": True, "primary": True}
    )
    page = client_a.post("/account/confirm-email/send/", {"next": "/contacts/"}, follow=True)
    assert f"Your address {member_a.email} is confirmed already.".encode() in page.content
    assert mail.outbox == []


def test_the_banner_is_put_away_until_the_next_sign_in(tenant_a: Tenant) -> None:
    user = user_create(email="later@alpha.test", password="pl3nty-of-Entropy-here")
    tenant_a.memberships.create(user=user, role="member")
    client = Client(HTTP_HOST=host_of(tenant_a))
    client.force_login(user)
    page = client.get("/contacts/").content.decode()
    assert 'action="/account/confirm-email/dismiss/"' in page

    put_away = client.post("/account/confirm-email/dismiss/", HTTP_HX_REQUEST="true")
    assert put_away.status_code == 200 and put_away.content == b""  # htmx removes the banner
    assert b'data-testid="email-unconfirmed"' not in client.get("/contacts/").content
    assert b'data-testid="email-unconfirmed"' not in client.get("/").content

    without_js = Client(HTTP_HOST=host_of(tenant_a))
    without_js.force_login(user)  # another sign-in: the banner is back
    assert b'data-testid="email-unconfirmed"' in without_js.get("/contacts/").content
    back = without_js.post("/account/confirm-email/dismiss/", {"next": "https://evil.test/"})
    assert back.status_code == 302 and back["Location"] == "/"
    assert b'data-testid="email-unconfirmed"' not in without_js.get("/contacts/").content
    assert not EmailAddress.objects.get(user=user).verified  # put away, not confirmed


def test_the_banner_is_put_away_on_the_public_site_too(public_client: Client) -> None:
    user = user_create(email="public@alpha.test", password="pl3nty-of-Entropy-here")
    public_client.force_login(user)
    assert b'data-testid="email-unconfirmed"' in public_client.get("/workspaces/").content
    public_client.post("/account/confirm-email/dismiss/", {"next": "/workspaces/"})
    assert b'data-testid="email-unconfirmed"' not in public_client.get("/workspaces/").content


def test_a_non_member_cannot_put_the_banner_away_on_another_organizations_host(
    tenant_b: Tenant, member_a: User
) -> None:
    client = Client(HTTP_HOST=host_of(tenant_b))
    client.force_login(member_a)
    assert client.post("/account/confirm-email/dismiss/").status_code == 403
    anonymous = Client(HTTP_HOST=host_of(tenant_b)).post("/account/confirm-email/dismiss/")
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


def test_sending_again_goes_back_only_to_this_host(tenant_a: Tenant) -> None:
    user = user_create(email="back@alpha.test", password="pl3nty-of-Entropy-here")
    tenant_a.memberships.create(user=user, role="member")
    client = Client(HTTP_HOST=host_of(tenant_a))
    client.force_login(user)
    response = client.post("/account/confirm-email/send/", {"next": "https://evil.test/"})
    assert response["Location"] == "/"


def test_a_confirmed_address_gets_no_banner_and_no_mail(client_a: Client, member_a: User) -> None:
    EmailAddress.objects.update_or_create(
        user=member_a, email=member_a.email, defaults={"verified": True, "primary": True}
    )
    assert b'data-testid="email-unconfirmed"' not in client_a.get("/contacts/").content
    client_a.post("/account/confirm-email/send/")
    assert mail.outbox == []


def test_a_non_member_cannot_use_another_organizations_host_to_send_links(
    tenant_b: Tenant, member_a: User
) -> None:
    client = Client(HTTP_HOST=host_of(tenant_b))
    client.force_login(member_a)
    assert client.post("/account/confirm-email/send/").status_code == 403
    assert mail.outbox == []


def test_anonymous_visitors_are_sent_to_sign_in(tenant_a: Tenant) -> None:
    response = Client(HTTP_HOST=host_of(tenant_a)).post("/account/confirm-email/send/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    assert mail.outbox == []
