"""The "SSO required" wall: whatever signed a person in on an organization's host (a
password, a passkey, a sign-in carried over from the public site), only single sign-on
counts there when the organization requires it, except for its owners."""

from typing import Any

from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest

from iam.models import User

from .exceptions import PasswordSignInRefused
from .services import password_sign_in_allowed

# Set on the request by the single sign-on callback just before it signs someone in.
SSO_SIGN_IN = "iam_sso_signing_in"


@receiver(user_logged_in, dispatch_uid="iam.sso.required_wall")
def sso_required_wall(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    tenant = getattr(request, "tenant", None)
    if request is None or tenant is None or getattr(request, SSO_SIGN_IN, False):
        return
    if password_sign_in_allowed(user=user, tenant=tenant):
        return
    logout(request)
    raise PasswordSignInRefused(
        f"{tenant.name} signs its members in through single sign-on; use it instead."
    )
