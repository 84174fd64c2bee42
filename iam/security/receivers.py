"""Sessions enter the index at sign-in and leave it at sign-out; a password change or reset
signs the user out of their other sessions."""

from typing import Any

import structlog
from allauth.account.signals import password_changed, password_reset
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.http import HttpRequest
from django.utils import timezone

from iam.models import User

from . import middleware
from .services import session_end_all, session_forget, session_record

log = structlog.get_logger(__name__)


def _signed_in(sender: Any, *, request: HttpRequest, user: User, **_: Any) -> None:
    session = getattr(request, "session", None)
    if session is None or not session.session_key:
        return
    now = timezone.now()
    middleware.session_times_start(session, now)
    session_record(
        user=user,
        session_key=session.session_key,
        tenant=getattr(request, "tenant", None),
        ip=middleware.client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        at=now,
        signed_in_at=now,
    )
    log.info(
        "session.signed_in",
        user=user.pk,
        tenant=getattr(getattr(request, "tenant", None), "slug", None),
    )


def _signed_out(sender: Any, *, request: HttpRequest, **_: Any) -> None:
    session = getattr(request, "session", None)
    if session is not None and session.session_key:
        session_forget(session_key=session.session_key)


def _password_changed(sender: Any, *, request: HttpRequest, user: User, **_: Any) -> None:
    """Keep the session that changed it (under its new key, which Django just gave it)."""
    session = getattr(request, "session", None)
    current = session.session_key if session is not None else None
    session_end_all(user=user, except_key=current)
    if session is not None and current:
        session_record(
            user=user,
            session_key=current,
            tenant=getattr(request, "tenant", None),
            ip=middleware.client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
            at=timezone.now(),
            signed_in_at=middleware.session_signed_in_at(session) or timezone.now(),
        )


def _password_reset(sender: Any, *, request: HttpRequest, user: User, **_: Any) -> None:
    session_end_all(user=user)


user_logged_in.connect(_signed_in, dispatch_uid="iam.security.signed_in")
user_logged_out.connect(_signed_out, dispatch_uid="iam.security.signed_out")
password_changed.connect(_password_changed, dispatch_uid="iam.security.password_changed")
password_reset.connect(_password_reset, dispatch_uid="iam.security.password_reset")
