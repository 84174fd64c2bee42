"""The organization's side of operator impersonation: the handoff that signs the operator's
browser in as the member, the banner's End, and the owners' switch in Security settings."""

from typing import cast

import structlog
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from iam.authz.guards import open_route, requires
from iam.models import User
from problems.exceptions import DomainError
from tenants.services import public_url

from .models import Impersonation
from .services import (
    ENTER_PATH,
    impersonation_end,
    impersonation_enter,
    impersonation_state_new,
    operator_access_set,
)
from .session import OPERATOR_SIGN_IN, SESSION_KEY, ImpersonationMark, impersonation_of

log = structlog.get_logger(__name__)

NONCE_COOKIE = "mycrm_operator_handoff"
NONCE_COOKIE_MAX_AGE = 5 * 60


@require_GET
@open_route("an operator's sign-in as a member: the nonce step of a one-time link")
def operator_handoff_start(request: HttpRequest) -> HttpResponse:
    """Step 2, on the organization's host: leave a nonce in this browser and ask the public
    site (where the operator is signed in) for the link that redeems it."""
    ident = request.GET.get("impersonation", "")
    if not ident.isdigit():
        return render(request, "iam/handoff_invalid.html", {"error": "Start again."}, status=400)
    nonce, state = impersonation_state_new()
    response = redirect(
        public_url(f"/admin/iam_impersonation/impersonation/{ident}/link/?state={state}")
    )
    response.set_cookie(
        NONCE_COOKIE,
        nonce,
        max_age=NONCE_COOKIE_MAX_AGE,
        path=ENTER_PATH,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return response


@require_GET
@open_route("redeems an operator's one-time link, checked against its impersonation")
def operator_handoff(request: HttpRequest) -> HttpResponse:
    """Step 4, on the organization's host: sign this browser in as the member, with the
    session marked as the operator's (banner, audit rows, refused actions, time limit)."""
    tenant = request.tenant  # type: ignore[attr-defined]
    try:
        row = impersonation_enter(
            token=request.GET.get("token", ""),
            tenant=tenant,
            nonce=request.COOKIES.get(NONCE_COOKIE, ""),
        )
    except DomainError as exc:
        log.info("impersonation.handoff_refused", tenant=tenant.slug, reason=exc.detail)
        return render(request, "iam/handoff_invalid.html", {"error": exc.detail}, status=exc.status)
    row = Impersonation.objects.select_related("operator", "member").get(pk=row.pk)
    mark = ImpersonationMark.of(row)
    # Marked before signing in, so the sign-in's audit row names the operator too.
    request.impersonation = mark  # type: ignore[attr-defined]
    setattr(request, OPERATOR_SIGN_IN, True)
    if request.user.is_authenticated:
        logout(request)
    try:
        login(request, row.member, backend="django.contrib.auth.backends.ModelBackend")
    except DomainError as exc:
        # A sign-in rule of the organization refused it (its "SSO required" wall): the
        # impersonation ends here, and its end is logged.
        impersonation_end(impersonation_id=row.pk, reason=Impersonation.EndReason.REFUSED)
        log.info("impersonation.sign_in_refused", tenant=tenant.slug, reason=exc.detail)
        return render(request, "iam/handoff_invalid.html", {"error": exc.detail}, status=exc.status)
    request.session[SESSION_KEY] = mark.as_session()
    response = redirect("crm:dashboard")
    response.delete_cookie(NONCE_COOKIE, path=ENTER_PATH, samesite="Lax")
    return response


@require_POST
@requires("member")
def impersonation_end_view(request: HttpRequest) -> HttpResponse:
    """The banner's End: close the impersonation, sign out here, back to the operator admin."""
    mark = impersonation_of(request)
    if mark is None:
        return redirect("/")
    impersonation_end(impersonation_id=mark.id, reason=Impersonation.EndReason.ENDED)
    logout(request)
    return redirect(public_url("/admin/"))


@require_POST
@requires("admin.sso")
def operator_access(request: HttpRequest) -> HttpResponse:
    """Owners let platform operators act as members for support, or refuse it."""
    allowed = request.POST.get("operator_access_allowed") == "on"
    try:
        operator_access_set(tenant=request.tenant, by=cast(User, request.user), allowed=allowed)  # type: ignore[attr-defined]
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(
            request,
            "Platform operators may act as members here, and every visit is in the audit log."
            if allowed
            else "Platform operators can no longer act as members here.",
        )
    return redirect("iam:security_settings")
