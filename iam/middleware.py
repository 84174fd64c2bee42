"""The wall between tenants for browser sessions: no membership, no entry."""

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from problems.responses import problem_response, wants_problem_json

from .models import Membership
from .selectors import membership_get

# Reachable on a tenant host without a membership: sign-in, health, static files. The API
# is not listed: its own authentication and permission classes apply the same rule.
_OPEN_PREFIXES = (
    "/accounts/",
    "/auth/handoff/",
    "/auth/sso/",  # single sign-on: its own checks (iam.sso.views)
    "/healthz",
    "/readyz",
    "/static/",
)
# Reachable by a signed-in non-member: signing out, health, and signing in from another host
# (the handoff views check membership themselves: a link signs in a member only, and a
# non-member may still carry their sign-in over to the public site).
_NON_MEMBER_PREFIXES = (
    "/accounts/",
    "/auth/handoff/",
    "/auth/sso/",  # someone signed in elsewhere may join here just in time
    "/healthz",
    "/readyz",
    "/static/",
)


# Authenticated by the view, never by a session: the API (its authentication and permission
# classes apply the same rule) and SCIM (the organization's SCIM token only).
_OWN_AUTHENTICATION = ("/api/", "/scim/")


_SWITCHED_OFF = (
    "Your membership of this organization has been switched off. Ask its administrators if "
    "you should have access."
)


class TenantMembershipMiddleware:
    """On a tenant host, a signed-in user who is not a member gets 403 on every path.

    The session cookie may span subdomains, so being signed in proves nothing about this
    tenant; the membership row does. Anonymous visitors of HTML pages go to sign-in.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tenant = getattr(request, "tenant", None)
        request.membership = None  # type: ignore[attr-defined]
        if tenant is None:
            return self.get_response(request)
        # Without a session cookie nobody is signed in, and the session is left unread (an
        # API call with a token never touches it, nor gets `Vary: Cookie`).
        signed_in = settings.SESSION_COOKIE_NAME in request.COOKIES
        user = request.user if signed_in else None
        if user is not None and user.is_authenticated:
            membership = membership_get(user=user, tenant=tenant)
            if membership is None and not request.path.startswith(_NON_MEMBER_PREFIXES):
                return self._forbidden(request)
            request.membership = membership  # type: ignore[attr-defined]
        elif not request.path.startswith(_OPEN_PREFIXES + _OWN_AUTHENTICATION):
            return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
        return self.get_response(request)

    def _forbidden(self, request: HttpRequest) -> HttpResponse:
        # Someone whose membership was switched off (by an admin or the identity provider)
        # is told so, rather than that they never belonged.
        switched_off = Membership.objects.filter(
            user_id=request.user.pk or 0,
            tenant=request.tenant,  # type: ignore[attr-defined]
            deactivated_at__isnull=False,
        ).exists()
        if wants_problem_json(request.path, request.headers.get("Accept", "")):
            return problem_response(
                status=403,
                code="not-a-member",
                title="You are not a member of this organization.",
                detail=_SWITCHED_OFF if switched_off else "",
            )
        return render(request, "iam/not_a_member.html", {"switched_off": switched_off}, status=403)
