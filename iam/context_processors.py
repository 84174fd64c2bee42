from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from . import authz
from .services import user_email_is_confirmed

# Session key: the user has put the confirmation banner away for this sign-in.
EMAIL_BANNER_DISMISSED = "iam.email_banner_dismissed"


def identity(request: HttpRequest) -> dict[str, Any]:
    """`email_unconfirmed`: the signed-in user has not confirmed their address yet and has
    not put the banner saying so away in this session (looked up only when a template asks,
    at most once per page)."""
    user = getattr(request, "user", None)

    def unconfirmed() -> bool:
        if not (user and user.is_authenticated):
            return False
        session = getattr(request, "session", None)
        if session is not None and session.get(EMAIL_BANNER_DISMISSED):
            return False
        return not user_email_is_confirmed(user=user)

    return {"email_unconfirmed": SimpleLazyObject(unconfirmed), "access": Access(request)}


class Access:
    """What the signed-in member may do here, for templates: `{% if access.deal_edit %}`,
    `{% if access.admin_billing %}` (a permission of `iam.authz.catalog` with its dot
    written as the first underscore). Any scope counts; a record needs `authz.check`."""

    def __init__(self, request: HttpRequest):
        self._request = request

    def __getitem__(self, key: str) -> bool:
        area, _, action = key.partition("_")
        return authz.may(authz.principal_for_request(self._request), f"{area}.{action}")

    def __contains__(self, key: str) -> bool:
        return True
