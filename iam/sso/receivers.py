"""The "SSO required" wall: whatever signed a person in on an organization's host (a
password, a passkey, a sign-in carried over from the public site), only single sign-on
counts there when the organization requires it, except for its owners."""

import time
from typing import Any

from allauth.account.authentication import get_authentication_records
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest

from iam.impersonation.session import OPERATOR_SIGN_IN
from iam.models import User

from .exceptions import PasswordSignInRefused
from .services import password_sign_in_allowed

# The step the single sign-on callback records in the session (allauth's record of how
# this sign-in went) before it hands the person to allauth's sign-in stages, which ask for
# their second factor when they have one.
SSO_METHOD = "sso"
# A second factor asked after single sign-on must follow it within this time (allauth's
# own time limit for a sign-in in progress).
SSO_STEP_MAX_AGE = 15 * 60


def signed_in_through_sso(request: HttpRequest, user: User) -> bool:
    """Whether the sign-in of `user` now completing began at the organization's identity
    provider: the session's latest step is single sign-on, or a second factor given right
    after it (a passkey that signs in on its own does not count), and recent."""
    records = list(get_authentication_records(request, user))
    if records and records[-1].get("method") == "mfa" and not records[-1].get("passwordless"):
        records.pop()
    if not records or records[-1].get("method") != SSO_METHOD:
        return False
    return time.time() - float(records[-1].get("at", 0)) < SSO_STEP_MAX_AGE


@receiver(user_logged_in, dispatch_uid="iam.sso.required_wall")
def sso_required_wall(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    tenant = getattr(request, "tenant", None)
    if request is None or tenant is None or signed_in_through_sso(request, user):
        return
    if getattr(request, OPERATOR_SIGN_IN, False):
        # An operator acting as the member (iam.impersonation): not the member's own
        # sign-in, and checked by its own rules (a permission, a reason, the owners' switch).
        return
    if password_sign_in_allowed(user=user, tenant=tenant):
        return
    logout(request)
    raise PasswordSignInRefused(
        f"{tenant.name} signs its members in through single sign-on; use it instead."
    )
