"""The API tokens page: a member's personal tokens and, for members with the API tokens admin
right, the organization's service tokens. A new token is shown once, on the page its
creation redirects to (post/redirect/get), so reloading never creates a second one."""

from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from problems.exceptions import DomainError
from problems.forms import add_field_errors

from . import authz
from .authz.guards import requires
from .forms_tokens import TokenForm, with_defaults
from .models import ApiToken, User
from .selectors import api_token_list, service_token_list
from .token_scopes import scopes_describe
from .tokens import (
    api_token_create,
    api_token_revoke,
    expiry_from_choice,
    service_token_create,
    service_token_revoke,
)

_NEW_TOKEN_KEY = "iam.new_api_token"  # noqa: S105 - a session key name
_SERVICE_PREFIX = "service"


def _may_manage_service_tokens(request: HttpRequest) -> bool:
    return authz.may(authz.principal_for_request(request), "admin.api_tokens")


def _page(
    request: HttpRequest,
    *,
    form: TokenForm | None = None,
    service_form: TokenForm | None = None,
    status: int = 200,
) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    manages = _may_manage_service_tokens(request)
    tokens = api_token_list(user=cast(User, request.user), tenant=tenant)
    service_tokens = list(service_token_list(tenant=tenant)) if manages else []
    context: dict[str, Any] = {
        "form": form or TokenForm(),
        "service_form": (service_form or TokenForm(prefix=_SERVICE_PREFIX)) if manages else None,
        "token_rows": [(t, scopes_describe(t.scopes)) for t in tokens],
        "service_rows": [(t, scopes_describe(t.scopes)) for t in service_tokens],
        "manages_service_tokens": manages,
        "created": request.session.pop(_NEW_TOKEN_KEY, None),
    }
    return render(request, "iam/api_tokens.html", context, status=status)


def _create(request: HttpRequest, form: TokenForm, *, service: bool) -> HttpResponse | None:
    """Make the token the valid form describes and redirect to show it; None (with the
    service's errors on the form) when it is refused."""
    tenant = request.tenant  # type: ignore[attr-defined]
    user = cast(User, request.user)
    data = form.cleaned_data
    try:
        expires_at = expiry_from_choice(str(data["expires"]))
        if service:
            _, raw = service_token_create(
                tenant=tenant,
                by=user,
                name=data["name"],
                scopes=form.scopes(),
                expires_at=expires_at,
            )
        else:
            _, raw = api_token_create(
                user=user,
                tenant=tenant,
                name=data["name"],
                scopes=form.scopes(),
                expires_at=expires_at,
            )
    except DomainError as exc:
        if exc.status == 402:  # the plan's limit: billing's limit page
            raise
        if not add_field_errors(form, exc):
            form.add_error(None, exc.detail)
        return None
    request.session[_NEW_TOKEN_KEY] = {"raw": raw, "service": service, "name": data["name"]}
    return redirect("iam:api_tokens")


@login_required
@requires("member")
@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    """List the user's tokens for this organization (and its service tokens, for those who
    manage them) and create personal tokens."""
    if request.method != "POST":
        return _page(request)
    form = TokenForm(with_defaults(request.POST))
    if form.is_valid():
        done = _create(request, form, service=False)
        if done is not None:
            return done
    return _page(request, form=form, status=400)


@login_required
@requires("admin.api_tokens")
@require_POST
def service_token_create_view(request: HttpRequest) -> HttpResponse:
    """Create one of the organization's service tokens."""
    form = TokenForm(with_defaults(request.POST, prefix=_SERVICE_PREFIX), prefix=_SERVICE_PREFIX)
    if form.is_valid():
        done = _create(request, form, service=True)
        if done is not None:
            return done
    return _page(request, service_form=form, status=400)


@login_required
@requires("member")
@require_POST
def api_token_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Revoke one of the user's own tokens; anyone else's answers 404."""
    token = ApiToken.objects.filter(
        pk=pk,
        user=cast(User, request.user),
        tenant=request.tenant,  # type: ignore[attr-defined]
        revoked_at=None,
    ).first()
    if token is None:
        return render(request, "404.html", status=404)
    api_token_revoke(token=token, by=cast(User, request.user))
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("iam:api_tokens")


@login_required
@requires("admin.api_tokens")
@require_POST
def service_token_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Revoke one of the organization's service tokens; another organization's answers 404."""
    token = ApiToken.objects.filter(
        pk=pk,
        user=None,
        tenant=request.tenant,  # type: ignore[attr-defined]
        revoked_at=None,
    ).first()
    if token is None:
        return render(request, "404.html", status=404)
    service_token_revoke(token=token, by=cast(User, request.user))
    messages.success(request, f"Service token “{token.name}” revoked.")
    return redirect("iam:api_tokens")
