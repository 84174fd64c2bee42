"""Helpers for tests that set up and use two-step verification through its pages."""

import re
import time

from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.test import Client

from iam.models import User
from iam.services import user_email_confirm
from tests.factories import PASSWORD


def totp_code(secret: str, at: float | None = None) -> str:
    """The authenticator app's code for `secret` now (RFC 6238, 30-second steps)."""
    return format_hotp_value(hotp_value(secret, int(at if at is not None else time.time()) // 30))


def sign_in(host: str, email: str, password: str = PASSWORD) -> Client:
    """A browser that signed in with the password on `host`."""
    client = Client(HTTP_HOST=host)
    client.post("/accounts/login/", {"login": email, "password": password})
    return client


def reauthenticate(client: Client, password: str = PASSWORD) -> None:
    """Confirm the password again, as allauth asks before second factors change."""
    done = client.post("/accounts/reauthenticate/", {"password": password})
    assert done.status_code == 302, done.status_code


def totp_activate(client: Client, user: User) -> str:
    """Set up an authenticator app on the activation page, as a person would; returns the
    secret the page showed."""
    user_email_confirm(user=user)
    reauthenticate(client)
    page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200, (page.status_code, page.get("Location"))
    found = re.search(r'id="authenticator_secret"[^>]*value="([A-Z2-7=]+)"', page.content.decode())
    assert found, "the page shows the secret"
    secret = found.group(1)
    done = client.post("/accounts/2fa/totp/activate/", {"code": totp_code(secret)})
    assert done.status_code == 302, done.content.decode()[:2000]
    return secret
