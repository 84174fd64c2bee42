"""HTML views of identity: signing in from one host on another (on every host), and sending
the e-mail confirmation link again (on every host). API tokens: `iam.views_tokens`."""

from collections.abc import Callable
from typing import cast
from urllib.parse import urlencode

import structlog
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_ratelimit.decorators import ratelimit

from problems.exceptions import DomainError
from problems.forms import add_field_errors
from tenants.models import Tenant
from tenants.services import public_url, tenant_profile_update, tenant_url

from .authz.guards import open_route, requires
from .context_processors import EMAIL_BANNER_DISMISSED
from .exceptions import HandoffInvalid
from .forms import InvitationForm, OrganizationForm
from .models import Invitation, Membership, Role, User
from .permissions import is_tenant_admin, member_actions
from .selectors import invitation_list_open, member_list, member_switch_offs
from .services import (
    ConfirmationSend,
    handoff_redeem,
    handoff_state_new,
    handoff_url,
    invitation_create,
    invitation_revoke,
    membership_reactivate,
    membership_remove,
    membership_role_change,
    user_email_confirmation_send,
)

log = structlog.get_logger(__name__)

# Each invitation sends an e-mail: per user, as the API's "invitation" throttle
# (REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]).
INVITATIONS_PER_HOUR = "50/h"
_WORKSPACES_PATH = "/workspaces/"  # the public site's list of the user's organizations


# Signing in on one host from another where the browser is signed in already. Session
# cookies stay on the host that set them (a parent-domain cookie would reach every
# organization), so a host that wants the signed-in user asks the other for a one-time link:
#   1. handoff_start, on the host to sign in on, keeps a nonce in this browser's cookie and
#      sends the browser to the other host with the nonce's hash (the state);
#   2. that host, where the user is signed in, issues a link bound to the state
#      (public_site.views.workspace_handoff, or handoff_to_public below);
#   3. handoff redeems it here only if this browser's cookie holds the nonce.
# A link that someone got for their own account is useless in another browser (login CSRF).
HANDOFF_COOKIE = "mycrm_handoff"
# The user may have to sign in on the other host before it issues the link.
HANDOFF_COOKIE_MAX_AGE = 15 * 60


@require_GET
@open_route("signing in from the public site: a one-time link, membership checked")
def handoff_start(request: HttpRequest) -> HttpResponse:
    """Step 1 on either host: on an organization's host, ask the public site for a link; on
    the public site, ask the organization host named by `?from=` (the *All workspaces* link
    of a workspace), or just list the workspaces when signed in here already."""
    tenant = getattr(request, "tenant", None)
    if tenant is not None:
        slug = tenant.slug
        return _redirect_with_nonce(lambda q: public_url(f"/workspaces/{slug}/handoff/?{q}"))
    source = Tenant.objects.filter(
        slug=request.GET.get("from", ""), status=Tenant.Status.ACTIVE
    ).first()
    if source is None or request.user.is_authenticated:
        return redirect(_WORKSPACES_PATH)
    return _redirect_with_nonce(lambda q: tenant_url(source, f"/auth/handoff/issue/?{q}"))


def _redirect_with_nonce(url_with: Callable[[str], str]) -> HttpResponse:
    """A redirect to `url_with(query naming the state)` that keeps a fresh nonce in this
    browser's cookie, on this host and for the handoff paths only."""
    nonce, state = handoff_state_new()
    response = redirect(url_with(urlencode({"state": state})))
    response.set_cookie(
        HANDOFF_COOKIE,
        nonce,
        max_age=HANDOFF_COOKIE_MAX_AGE,
        path="/auth/handoff/",
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return response


@require_GET
@open_route("carrying a sign-in to the public site; nothing of the organization")
def handoff_to_public(request: HttpRequest) -> HttpResponse:
    """Step 2 on an organization's host: a link that signs the user in on the public site.
    Anyone signed in here is that user (being a member or not), so no more is checked; a
    browser signed in nowhere goes to the public site's sign-in."""
    if not request.user.is_authenticated:
        return redirect(public_url(_WORKSPACES_PATH))
    try:
        url = handoff_url(user=request.user, tenant=None, state=request.GET.get("state", ""))
    except HandoffInvalid as exc:
        return render(request, "iam/handoff_invalid.html", {"error": exc.detail}, status=400)
    return redirect(url)


@require_GET
@open_route("redeems a one-time sign-in link for a member of this organization")
def handoff(request: HttpRequest) -> HttpResponse:
    """Step 3 on either host: redeem a one-time sign-in link in the browser that asked for
    it, then open the workspace (or the list of workspaces on the public site)."""
    tenant = getattr(request, "tenant", None)
    try:
        user = handoff_redeem(
            token=request.GET.get("token", ""),
            tenant=tenant,
            nonce=request.COOKIES.get(HANDOFF_COOKIE, ""),
        )
    except HandoffInvalid as exc:
        log.info("iam.handoff_refused", tenant=getattr(tenant, "slug", None), reason=exc.detail)
        return render(request, "iam/handoff_invalid.html", {"error": exc.detail}, status=400)
    if request.user.pk != user.pk:
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    response = redirect("crm:dashboard" if tenant is not None else _WORKSPACES_PATH)
    response.delete_cookie(HANDOFF_COOKIE, path="/auth/handoff/", samesite="Lax")
    return response


@login_required
@open_route("says e-mail addresses are managed elsewhere; nothing of the organization")
def account_email_not_offered(request: HttpRequest) -> HttpResponse:
    """allauth's page for adding and switching e-mail addresses, which is not offered: the
    address one signs in with is also the one invitations and memberships are matched on,
    and they would have to move together. allauth's own links to that page land on the
    account page (the password) instead, and nothing posted here is kept."""
    return redirect("account_change_password")


def _back(request: HttpRequest) -> HttpResponse:
    """Back to the page a banner form was posted from (`next`), on this host only."""
    back = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure())
    return redirect(back if back and safe else "/")


@login_required
@require_POST
@open_route("the signed-in user's own address, on every host; membership is the wall")
def email_confirmation_send(request: HttpRequest) -> HttpResponse:
    """Send the link that confirms the user's e-mail address again, say what happened, and
    go back."""
    user = cast(User, request.user)
    outcome = user_email_confirmation_send(request=request, user=user)
    if outcome == ConfirmationSend.SENT:
        messages.success(
            request,
            f"We sent a new link to {user.email}. It can take a minute to arrive; if it "
            "doesn't, look in your spam folder.",
        )
    elif outcome == ConfirmationSend.SENT_RECENTLY:
        messages.info(
            request,
            f"We sent a link to {user.email} a moment ago and it still works: look in your "
            "inbox and spam folder. You can ask for another one in a few minutes.",
        )
    else:
        messages.success(request, f"Your address {user.email} is confirmed already.")
    return _back(request)


@login_required
@require_POST
@open_route("the signed-in user's own address, on every host; membership is the wall")
def email_confirmation_banner_dismiss(request: HttpRequest) -> HttpResponse:
    """Hide the banner asking to confirm the e-mail address until the next sign-in; htmx
    gets an empty answer that takes the banner away."""
    request.session[EMAIL_BANNER_DISMISSED] = True
    if request.headers.get("HX-Request"):
        return HttpResponse("")
    return _back(request)


@login_required
@require_http_methods(["GET", "POST"])
@ratelimit(key="user", rate=INVITATIONS_PER_HOUR, method="POST", block=False)
@requires("admin.people")
def members(request: HttpRequest) -> HttpResponse:
    """The organization's members and open invitations; owners and admins invite people."""
    tenant = request.tenant  # type: ignore[attr-defined]
    form = InvitationForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if getattr(request, "limited", False):
            form.add_error(None, "You sent many invitations in the last hour; wait a while.")
            status = 429
        elif form.is_valid():
            try:
                invitation, _ = invitation_create(
                    tenant=tenant, by=cast(User, request.user), **form.cleaned_data
                )
            except DomainError as exc:
                if exc.status == 402:  # the plan's seats are taken: billing's limit page
                    raise
                if not add_field_errors(form, exc):
                    form.add_error(None, exc.detail)
                status = exc.status
            else:
                messages.success(request, f"Invitation sent to {invitation.email}.")
                return redirect("iam:members")
    everyone = list(member_list(tenant=tenant))
    members = [m for m in everyone if m.deactivated_at is None]
    viewer_role = request.membership.role  # type: ignore[attr-defined]
    owner_count = sum(m.role == Role.OWNER for m in everyone)
    rows = [
        (m, member_actions(membership=m, viewer_role=viewer_role, owner_count=owner_count))
        for m in members
    ]
    return render(
        request,
        "iam/members.html",
        {
            "form": form,
            "members": members,
            "rows": rows,
            "switched_off": _switched_off_rows(everyone, viewer_role=viewer_role),
            "invitations": invitation_list_open(tenant=tenant),
        },
        status=status,
    )


def _switched_off_rows(
    everyone: list[Membership], *, viewer_role: str
) -> list[tuple[Membership, object, bool]]:
    """The switched-off members, most recent first, each with the audit row that switched
    them off (None when the log no longer has it) and whether this viewer may switch them
    back on or remove them here (not when the identity provider manages them; an owner
    only by owners)."""
    off = sorted(
        (m for m in everyone if m.deactivated_at is not None),
        key=lambda m: m.deactivated_at,  # type: ignore[arg-type, return-value]
        reverse=True,
    )
    events = member_switch_offs(user_ids=[m.user_id for m in off])
    return [
        (
            m,
            events.get(m.user_id),
            not m.external_id and (m.role != Role.OWNER or viewer_role == Role.OWNER),
        )
        for m in off
    ]


@login_required
@require_POST
@requires("admin.people")
def invitation_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    # Invitations live in the shared schema: look them up within this tenant only.
    invitation = get_object_or_404(Invitation, pk=pk, tenant=request.tenant)  # type: ignore[attr-defined]
    invitation_revoke(invitation=invitation, by=cast(User, request.user))
    messages.success(request, f"The invitation to {invitation.email} was withdrawn.")
    return redirect("iam:members")


@login_required
@require_POST
@requires("admin.people")
def member_role(request: HttpRequest, pk: int) -> HttpResponse:
    membership = get_object_or_404(Membership, pk=pk, tenant=request.tenant)  # type: ignore[attr-defined]
    try:
        membership_role_change(
            membership=membership, by=cast(User, request.user), role=request.POST.get("role", "")
        )
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(
            request, f"{membership.user.email} is now {membership.get_role_display().lower()}."
        )
    return redirect("iam:members")


@login_required
@require_POST
@requires("admin.people")
def member_remove(request: HttpRequest, pk: int) -> HttpResponse:
    """Remove someone from the organization (owners and admins; an admin may remove
    themselves)."""
    membership = get_object_or_404(Membership, pk=pk, tenant=request.tenant)  # type: ignore[attr-defined]
    leaving = membership.user_id == request.user.pk
    try:
        membership_remove(membership=membership, by=cast(User, request.user))
    except DomainError as exc:
        messages.error(request, exc.detail)
        return redirect("iam:members")
    if leaving:
        return redirect(public_url("/workspaces/"))
    messages.success(request, f"{membership.user.email} was removed from the organization.")
    return redirect("iam:members")


@login_required
@require_POST
@requires("admin.people")
def member_reactivate(request: HttpRequest, pk: int) -> HttpResponse:
    """Switch a switched-off member back on (a seat of the plan is taken again)."""
    membership = get_object_or_404(Membership, pk=pk, tenant=request.tenant)  # type: ignore[attr-defined]
    try:
        membership_reactivate(membership=membership, by=cast(User, request.user))
    except DomainError as exc:
        if exc.status == 402:  # the plan's seats are taken: billing's limit page
            raise
        messages.error(request, exc.detail)
    else:
        messages.success(request, f"{membership.user.email} is switched on again.")
    return redirect("iam:members")


@login_required
@require_http_methods(["GET", "POST"])
@requires("admin.people")
def organization_settings(request: HttpRequest) -> HttpResponse:
    """The organization's name and time zone; owners and admins change them."""
    if not is_tenant_admin(getattr(request, "membership", None)):
        raise PermissionDenied("Only owners and admins change the organization's settings.")
    tenant = request.tenant  # type: ignore[attr-defined]
    initial = {"name": tenant.name, "time_zone": tenant.time_zone}
    form = OrganizationForm(request.POST or None, initial=initial)
    status = 400 if request.method == "POST" else 200
    if request.method == "POST" and form.is_valid():
        try:
            tenant_profile_update(tenant=tenant, **form.cleaned_data)
        except DomainError as exc:
            if not add_field_errors(form, exc):
                form.add_error(None, exc.detail)
        else:
            messages.success(request, "Organization settings saved.")
            return redirect("iam:organization_settings")
    return render(request, "iam/organization.html", {"form": form}, status=status)
