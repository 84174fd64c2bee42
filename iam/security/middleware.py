"""Per request: a session ends after the organization's idle or absolute timeout, and an
organization that requires MFA sends a member without it to set it up before anything else."""

from collections.abc import Callable
from datetime import datetime

import structlog
from allauth.core.internal.httpkit import get_client_ip
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from problems.responses import problem_response, wants_problem_json

from .selectors import session_rules, user_has_mfa
from .services import session_record

log = structlog.get_logger(__name__)

# Session keys: when the user signed in, and when the session was last used (written at
# most once a minute, so a busy user does not rewrite their session on every request).
SIGNED_IN_AT = "iam.signed_in_at"
ACTIVE_AT = "iam.active_at"
ACTIVITY_EVERY_SECONDS = 60

# Reachable by a member who has yet to set up the MFA their organization requires: setting
# it up (allauth's pages, the reauthentication they may ask for, confirming the address
# they ask for), the Security page that explains it, signing out, health and static files.
MFA_SETUP_PREFIXES = (
    "/accounts/2fa/",
    "/accounts/reauthenticate/",
    "/accounts/logout/",
    "/accounts/login/",
    "/accounts/confirm-email/",
    "/account/confirm-email/",
    "/account/security/",
    "/healthz",
    "/readyz",
    "/static/",
)
SECURITY_PAGE = "/account/security/"


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, behind as many proxies as the settings trust (as the sign-in
    rate limits count it)."""
    try:
        return get_client_ip(request) or None
    except Exception:  # noqa: BLE001 - a malformed forwarding header names no address
        return None


def session_times_start(session: SessionBase, now: datetime) -> None:
    session[SIGNED_IN_AT] = now.isoformat()
    session[ACTIVE_AT] = now.isoformat()


def _time(session: SessionBase, key: str) -> datetime | None:
    value = session.get(key)
    return parse_datetime(value) if isinstance(value, str) else None


def session_signed_in_at(session: SessionBase) -> datetime | None:
    return _time(session, SIGNED_IN_AT)


class SessionTimeoutMiddleware:
    """Ends a session idle longer than the host's `idle_minutes`, or signed in longer ago
    than its `max_hours` (the organization's settings on its host, the platform's defaults
    elsewhere), and keeps the session index's "last active" current."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Without a session cookie there is no session to end (and it is left unread).
        if settings.SESSION_COOKIE_NAME not in request.COOKIES:
            return self.get_response(request)
        user = request.user
        if not user.is_authenticated:
            return self.get_response(request)
        session = request.session
        now = timezone.now()
        signed_in_at = _time(session, SIGNED_IN_AT)
        active_at = _time(session, ACTIVE_AT)
        if signed_in_at is None or active_at is None:  # opened before sessions were timed
            session_times_start(session, now)
            signed_in_at = active_at = now
        tenant = getattr(request, "tenant", None)
        rules = session_rules(tenant=tenant)
        ended = ""
        if (now - signed_in_at).total_seconds() > rules.max_hours * 3600:
            ended = (
                f"You were signed out: sessions here last at most {rules.max_hours} hours. "
                "Sign in again to go on."
            )
        elif (now - active_at).total_seconds() > rules.idle_minutes * 60:
            ended = (
                f"You were signed out after {rules.idle_minutes} minutes without activity. "
                "Sign in again to go on."
            )
        if ended:
            return self._end(request, ended)
        if (now - active_at).total_seconds() >= ACTIVITY_EVERY_SECONDS:
            session[ACTIVE_AT] = now.isoformat()
            if session.session_key:
                session_record(
                    user=user,
                    session_key=session.session_key,
                    tenant=tenant,
                    ip=client_ip(request),
                    user_agent=request.META.get("HTTP_USER_AGENT", ""),
                    at=now,
                )
        return self.get_response(request)

    def _end(self, request: HttpRequest, message: str) -> HttpResponse:
        log.info("session.timed_out", user=request.user.pk)
        logout(request)
        request.membership = None  # type: ignore[attr-defined]
        if wants_problem_json(request.path, request.headers.get("Accept", "")):
            if request.path.startswith("/api/") and "HTTP_AUTHORIZATION" in request.META:
                return self.get_response(request)  # a token call: the token decides
            return problem_response(
                status=401, code="session-expired", title="Your session has ended.", detail=message
            )
        messages.info(request, message)
        return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)


class MfaRequiredMiddleware:
    """In an organization that requires MFA, a member signed in without a second factor may
    only set one up: pages send them to the Security page, and API calls made with their
    session get 403 `mfa-required`. Calls with an API token are not sessions and pass."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        membership = getattr(request, "membership", None)
        if membership is None or request.path.startswith(MFA_SETUP_PREFIXES):
            return self.get_response(request)
        if getattr(request, "impersonation", None) is not None:
            # An operator acting as a member can't set up the member's second factor; the
            # operator admin is where the operator proved who they are.
            return self.get_response(request)
        if request.path.startswith("/api/") and "HTTP_AUTHORIZATION" in request.META:
            return self.get_response(request)
        tenant = request.tenant  # type: ignore[attr-defined]
        if not session_rules(tenant=tenant).mfa_required:
            return self.get_response(request)
        if user_has_mfa(user=request.user):  # type: ignore[arg-type]
            return self.get_response(request)
        detail = f"{tenant.name} requires two-step verification: set it up to go on."
        if wants_problem_json(request.path, request.headers.get("Accept", "")):
            return problem_response(
                status=403,
                code="mfa-required",
                title="This organization requires two-step verification.",
                detail=detail,
            )
        return redirect(SECURITY_PAGE)
