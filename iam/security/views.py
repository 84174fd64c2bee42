"""The signed-in user's Security page (second factors and sessions) on every host, and an
organization's Security settings on its host."""

from typing import cast

from allauth.mfa.models import Authenticator
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from iam.authz.guards import open_route, requires
from iam.models import User
from problems.exceptions import DomainError
from problems.forms import add_field_errors

from .exceptions import SessionNotFound
from .forms import SecuritySettingsForm
from .selectors import security_settings_get, session_list, session_rules, user_has_mfa
from .services import security_settings_update, session_end, session_end_all

_OWN = "the signed-in user's own second factors and sessions, on every host"


def _factors(user: User) -> dict[str, object]:
    """What the Security page says of the user's second factors."""
    rows = list(Authenticator.objects.filter(user=user).order_by("created_at"))
    keys = [a.wrap() for a in rows if a.type == Authenticator.Type.WEBAUTHN]
    codes = next((a for a in rows if a.type == Authenticator.Type.RECOVERY_CODES), None)
    return {
        "totp": any(a.type == Authenticator.Type.TOTP for a in rows),
        "keys": keys,
        "recovery_unused": len(codes.wrap().get_unused_codes()) if codes else None,
    }


@open_route(_OWN)
@login_required
@require_GET
def account_security(request: HttpRequest) -> HttpResponse:
    """Two-step verification and the sessions the user is signed in with, wherever."""
    user = cast(User, request.user)
    tenant = getattr(request, "tenant", None)
    has_mfa = user_has_mfa(user=user)
    required_here = (
        tenant is not None
        and getattr(request, "membership", None) is not None
        and session_rules(tenant=tenant).mfa_required
    )
    return render(
        request,
        "iam/security/account.html",
        {
            "has_mfa": has_mfa,
            "mfa_missing_here": required_here and not has_mfa,
            "factors": _factors(user),
            "sessions": session_list(user=user, current_key=request.session.session_key),
        },
    )


@open_route(_OWN)
@login_required
@require_POST
def session_end_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Sign out one session; signing out the one in use signs out here."""
    user = cast(User, request.user)
    current = request.session.session_key
    rows = session_list(user=user, current_key=current)
    row = next((r for r in rows if r.id == pk), None)
    try:
        session_end(user=user, session_id=pk)
    except SessionNotFound as exc:
        raise Http404(exc.detail) from exc
    if row is not None and row.is_current:
        logout(request)
        return redirect("account_login")
    messages.success(request, "That session is signed out.")
    return redirect("security:account")


@open_route(_OWN)
@login_required
@require_POST
def sessions_end_others(request: HttpRequest) -> HttpResponse:
    count = session_end_all(user=cast(User, request.user), except_key=request.session.session_key)
    messages.success(
        request,
        "You are signed out everywhere else." if count else "You had no other sessions.",
    )
    return redirect("security:account")


@open_route(_OWN)
@login_required
@require_POST
def sessions_end_everywhere(request: HttpRequest) -> HttpResponse:
    session_end_all(user=cast(User, request.user))
    logout(request)
    return redirect("account_login")


@requires("admin.sso")
@login_required
@require_http_methods(["GET", "POST"])
def security_settings(request: HttpRequest) -> HttpResponse:
    """The organization's MFA requirement and session timeouts (owners and admins with the
    SSO right)."""
    tenant = request.tenant  # type: ignore[attr-defined]
    current = security_settings_get(tenant=tenant)
    initial = {
        "mfa_required": current.mfa_required,
        "session_idle_minutes": current.session_idle_minutes,
        "session_max_hours": current.session_max_hours,
    }
    form = SecuritySettingsForm(request.POST or None, initial=initial)
    status = 400 if request.method == "POST" else 200
    user = cast(User, request.user)
    if request.method == "POST" and form.is_valid():
        try:
            security_settings_update(tenant=tenant, by=user, **form.cleaned_data)
        except DomainError as exc:
            if not add_field_errors(form, exc):
                form.add_error(None, exc.detail)
        else:
            messages.success(request, "Security settings saved.")
            return redirect("iam:security_settings")
    return render(
        request,
        "iam/security/settings.html",
        {"form": form, "admin_has_mfa": user_has_mfa(user=user)},
        status=status,
    )
