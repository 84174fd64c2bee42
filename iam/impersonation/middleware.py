"""Every request of an impersonated session: it still holds (not ended, within its time
limit, on the organization it was started for), it is marked for the audit log and the
banner, and the few things an operator may never do as a member are refused here, in one
place, whatever page or API route they are asked through."""

from collections.abc import Callable
from dataclasses import dataclass

import structlog
from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from problems.responses import problem_response, wants_problem_json
from tenants.services import public_url

from .models import Impersonation
from .services import impersonation_end
from .session import SESSION_KEY, ImpersonationMark

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class _OperatorChannel:
    """An impersonated session's credentials for the decision point: the member's own
    rights (no token scopes), through "operator"."""

    via: str = "operator"
    scopes: None = None


OPERATOR_CHANNEL = _OperatorChannel()

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OWN_PATH = "/auth/handoff/operator/"
# Refused whatever the method: the member's own credentials (reading recovery codes would be
# a way back in), and carrying the sign-in to the public site or another organization.
REFUSED_ALWAYS: tuple[tuple[str, str], ...] = (
    ("/accounts/password/", "the member's password"),
    ("/accounts/2fa/", "the member's two-step verification"),
    ("/accounts/email/", "the member's e-mail address"),
    ("/auth/handoff/", "signing in on other hosts"),
    ("/auth/sso/", "single sign-on"),
)
# Refused when they would change something: sessions, tokens, billing, people and roles,
# and the organization's own security rules (the switch that refuses operators included).
REFUSED_WRITES: tuple[tuple[str, str], ...] = (
    ("/accounts/logout/", ""),  # signing out ends the impersonation: allowed
    ("/accounts/", "the member's account"),  # signing in as someone else, reauthenticating
    ("/account/security/", "the member's sessions"),
    ("/settings/api-tokens/", "API tokens"),
    ("/settings/service-tokens/", "API tokens"),
    ("/api/v1/api-tokens/", "API tokens"),
    ("/api/v1/service-tokens/", "API tokens"),
    ("/settings/scim/", "SCIM tokens"),
    ("/settings/billing/", "billing"),
    ("/api/v1/billing/", "billing"),
    ("/settings/members/", "members and their roles"),
    ("/api/v1/members/", "members and their roles"),
    ("/settings/invitations/", "invitations"),
    ("/api/v1/invitations/", "invitations"),
    ("/settings/roles/", "roles"),
    ("/api/v1/roles/", "roles"),
    ("/settings/security/", "the organization's security settings"),
    ("/settings/sso/", "single sign-on settings"),
    ("/settings/audit/", "the audit log's retention"),
)


def refused_subject(method: str, path: str) -> str | None:
    """What an impersonated session may not touch at `path` with `method`, or None."""
    if path.startswith(OWN_PATH):
        return None
    for prefix, subject in REFUSED_ALWAYS:
        if path.startswith(prefix):
            return subject
    if method in _WRITES:
        for prefix, subject in REFUSED_WRITES:
            if path.startswith(prefix):
                return subject or None
    return None


class ImpersonationMiddleware:
    """Checks and marks impersonated sessions (`request.impersonation`); others pass with no
    query. It sits after the audit context, so the sign-out it may cause is logged."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.impersonation = None  # type: ignore[attr-defined]
        if settings.SESSION_COOKIE_NAME not in request.COOKIES:
            return self.get_response(request)
        data = request.session.get(SESSION_KEY)
        if data is None:
            return self.get_response(request)
        mark = ImpersonationMark.from_session(data)
        tenant = getattr(request, "tenant", None)
        if (
            mark is None
            or tenant is None
            or tenant.pk != mark.tenant_id
            or request.user.pk != mark.member_id
        ):
            # Seen on another host (a cookie spanning subdomains): the session is ended.
            log.warning(
                "impersonation.elsewhere",
                impersonation=getattr(mark, "id", None),
                tenant=getattr(tenant, "slug", None),
            )
            return self._out(request, mark, "This operator session belongs elsewhere.", 403)
        row = Impersonation.objects.filter(pk=mark.id).values("ended_at", "expires_at").first()
        request.impersonation = mark  # type: ignore[attr-defined]
        # How the decision point names the channel (`Principal.via`, Cedar's `context.via`).
        request._authz_credentials = OPERATOR_CHANNEL  # type: ignore[attr-defined]
        if row is None or row["ended_at"] is not None:
            return self._out(request, mark, "This operator session has ended.", 401)
        if timezone.now() >= row["expires_at"]:
            impersonation_end(impersonation_id=mark.id, reason=Impersonation.EndReason.EXPIRED)
            return self._out(
                request, mark, "This operator session reached its time limit and ended.", 401
            )
        subject = refused_subject(request.method or "GET", request.path)
        if subject is not None:
            return self._refuse(request, mark, subject)
        return self.get_response(request)

    def _out(
        self, request: HttpRequest, mark: ImpersonationMark | None, message: str, status: int
    ) -> HttpResponse:
        """Sign the session out (its sign-out is logged with the operator named) and say so."""
        logout(request)
        request.membership = None  # type: ignore[attr-defined]
        if wants_problem_json(request.path, request.headers.get("Accept", "")):
            return problem_response(
                status=status, code="impersonation-ended", title=message, detail=message
            )
        return render(
            request,
            "iam_impersonation/ended.html",
            {"message": message, "mark": mark, "admin_url": public_url("/admin/")},
            status=200 if status == 401 else status,
        )

    def _refuse(self, request: HttpRequest, mark: ImpersonationMark, subject: str) -> HttpResponse:
        detail = (
            f"An operator acting as {mark.member_email} can't change {subject}. "
            "Nothing was changed."
        )
        log.info("impersonation.refused_action", impersonation=mark.id, path=request.path)
        if wants_problem_json(request.path, request.headers.get("Accept", "")):
            return problem_response(
                status=403,
                code="impersonation-refused-action",
                title="Not while an operator acts as this member.",
                detail=detail,
            )
        return render(
            request,
            "problem.html",
            {"title": "Not while an operator acts as this member.", "detail": detail},
            status=403,
        )
