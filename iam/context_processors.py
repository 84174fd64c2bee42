from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .services import user_email_is_confirmed


def identity(request: HttpRequest) -> dict[str, Any]:
    """`email_unconfirmed`: the signed-in user has not confirmed their address yet (looked up
    only when a template asks, at most once per page)."""
    user = getattr(request, "user", None)

    def unconfirmed() -> bool:
        return bool(user and user.is_authenticated and not user_email_is_confirmed(user=user))

    return {"email_unconfirmed": SimpleLazyObject(unconfirmed)}
