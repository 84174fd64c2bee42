"""Signing out of an impersonated session ends the impersonation (and logs its end)."""

from typing import Any

from django.contrib.auth.signals import user_logged_out
from django.http import HttpRequest

from .models import Impersonation
from .services import impersonation_end
from .session import SESSION_KEY, ImpersonationMark


def _signed_out(sender: Any, request: HttpRequest | None = None, **_: Any) -> None:
    session = getattr(request, "session", None)
    if session is None:
        return
    mark = ImpersonationMark.from_session(session.get(SESSION_KEY))
    if mark is not None:
        impersonation_end(impersonation_id=mark.id, reason=Impersonation.EndReason.SIGNED_OUT)


user_logged_out.connect(_signed_out, dispatch_uid="iam.impersonation.signed_out")
