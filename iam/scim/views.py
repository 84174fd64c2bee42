"""The SCIM 2.0 endpoints under /scim/v2/ on an organization's host (RFC 7644), and the
settings page where owners and admins make and revoke SCIM tokens.

Every endpoint takes only `Authorization: Bearer <SCIM token>` of the organization whose
host it is called on (no session, no CSRF), and answers `application/scim+json`, errors
included (`urn:ietf:params:scim:api:messages:2.0:Error`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, cast

import structlog
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST
from pydantic import ValidationError
from scim2_models import (
    Context,
    Error,
    InvalidPathException,
    InvalidSyntaxException,
    InvalidValueException,
    ListResponse,
    NotFoundException,
    NotImplementedException,
    PatchOp,
    ResourceType,
    ResponseParameters,
    Schema,
    SCIMException,
    UnauthorizedException,
)
from scim2_models.base import BaseModel as ScimModel

from iam.audit import acting_as
from iam.authz.guards import open_route, requires
from iam.models import Role
from iam.models import User as Account
from problems.exceptions import DomainError
from problems.forms import add_field_errors
from tenants.models import Tenant
from tenants.services import tenant_url

from . import resources, selectors, services
from .forms import ScimDefaultsForm
from .models import ScimToken
from .resources import MAX_RESULTS, POLICY, Group, User

log = structlog.get_logger(__name__)

CONTENT_TYPE = "application/scim+json"
DEFAULT_COUNT = 100
_NEW_TOKEN_KEY = "iam_scim.new_token"  # noqa: S105 - a session key name
_OPEN = "SCIM: the organization's own bearer token, checked by the view"

ScimView = Callable[..., HttpResponse]


def _base_url(tenant: Tenant) -> str:
    return tenant_url(tenant, "/scim/v2")


def _response(
    obj: ScimModel,
    *,
    ctx: Context = Context.RESOURCE_QUERY_RESPONSE,
    status: int = 200,
    parameters: ResponseParameters[Any] | None = None,
) -> HttpResponse:
    body = obj.model_dump(scim_ctx=ctx, response_parameters=parameters, scim_policy=POLICY)
    response = HttpResponse(json.dumps(body), status=status, content_type=CONTENT_TYPE)
    location = getattr(getattr(obj, "meta", None), "location", None)
    if status == 201 and location:
        response["Location"] = location
    return response


def _error(status: int, detail: str, scim_type: str | None = None) -> HttpResponse:
    error = Error(status=status, scim_type=scim_type, detail=detail)
    body = error.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    return HttpResponse(json.dumps(body), status=status, content_type=CONTENT_TYPE)


def _error_of(exc: SCIMException) -> HttpResponse:
    error = exc.to_error()
    return _error(error.status or exc.status, error.detail or str(exc), error.scim_type)


def _authenticate(request: HttpRequest) -> ScimToken:
    tenant = getattr(request, "tenant", None)
    parts = request.headers.get("Authorization", "").split()
    token = None
    if tenant is not None and len(parts) == 2 and parts[0].lower() == "bearer":
        token = services.scim_token_authenticate(raw=parts[1], tenant=tenant)
    if token is None:
        raise UnauthorizedException(detail="Invalid or revoked SCIM token for this organization.")
    return token


def scim_endpoint(*methods: str) -> Callable[[ScimView], ScimView]:
    """Authenticate by SCIM token, allow `methods`, and answer every error as a SCIM Error.

    The token's organization is the one of the host: a token of another organization is
    401, whatever ids it names. Writes are made as the token (audit `via="scim"`)."""

    def decorate(view: ScimView) -> ScimView:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                token = _authenticate(request)
                if request.method not in methods:
                    return _error(405, f"{request.method} is not supported here.")
                with acting_as(label=f"SCIM token {token.prefix}… ({token.name})", via="scim"):
                    return view(request, *args, **kwargs)
            except UnauthorizedException as exc:
                response = _error_of(exc)
                response["WWW-Authenticate"] = 'Bearer realm="scim"'
                return response
            except SCIMException as exc:
                return _error_of(exc)
            except ValidationError as exc:
                first = Error.from_validation_errors(exc)[0]
                return _error(
                    first.status or 400, first.detail or "Invalid request.", first.scim_type
                )

        return open_route(_OPEN)(csrf_exempt(wrapped))

    return decorate


def _payload(request: HttpRequest) -> dict[str, Any]:
    try:
        payload = json.loads(request.body or b"null")
    except (ValueError, RecursionError) as exc:
        raise InvalidSyntaxException(detail="The request body is not valid JSON.") from exc
    if not isinstance(payload, dict):
        raise InvalidSyntaxException(detail="The request body must be a JSON object.")
    return payload


def _parameters(request: HttpRequest, model: type[User] | type[Group]) -> ResponseParameters[Any]:
    raw = {
        key: request.GET[param]
        for key, param in (
            ("attributes", "attributes"),
            ("excluded_attributes", "excludedAttributes"),
        )
        if request.GET.get(param)
    }
    return cast(ResponseParameters[Any], ResponseParameters[model].model_validate(raw))  # type: ignore[valid-type]


def _page(request: HttpRequest) -> tuple[int, int]:
    """startIndex (1-based) and count, clamped as RFC 7644 §3.4.2.4 asks."""
    try:
        start = int(request.GET.get("startIndex", "1"))
        count = int(request.GET.get("count", str(DEFAULT_COUNT)))
    except ValueError as exc:
        raise InvalidValueException(detail="startIndex and count must be integers.") from exc
    return max(start, 1), min(max(count, 0), MAX_RESULTS)


def _check_paths(patch: PatchOp[Any]) -> None:
    """Refuse an operation whose path names an attribute we don't keep: dropping it quietly
    would tell the provider the change was made."""
    for operation in patch.operations or []:
        path = operation.path
        if path is not None and path.resolve() is None:
            raise InvalidPathException(detail=f"{path} is not an attribute of this resource.")


# Discovery ------------------------------------------------------------------------------------


@scim_endpoint("GET")
def service_provider_config(request: HttpRequest) -> HttpResponse:
    return _response(resources.service_provider_config(base_url=_base_url(request.tenant)))  # type: ignore[attr-defined]


@scim_endpoint("GET")
def resource_types(request: HttpRequest, resource_id: str | None = None) -> HttpResponse:
    found = resources.resource_types(base_url=_base_url(request.tenant))  # type: ignore[attr-defined]
    if resource_id is None:
        return _response(
            ListResponse[ResourceType](
                total_results=len(found), start_index=1, items_per_page=len(found), resources=found
            )
        )
    match = next((r for r in found if r.id == resource_id), None)
    if match is None:
        raise NotFoundException(detail=f"No resource type {resource_id!r}.")
    return _response(match)


@scim_endpoint("GET")
def schemas(request: HttpRequest, schema_id: str | None = None) -> HttpResponse:
    found = resources.schemas(base_url=_base_url(request.tenant))  # type: ignore[attr-defined]
    if schema_id is None:
        return _response(
            ListResponse[Schema](
                total_results=len(found), start_index=1, items_per_page=len(found), resources=found
            )
        )
    match = next((s for s in found if s.id == schema_id), None)
    if match is None:
        raise NotFoundException(detail=f"No schema {schema_id!r}.")
    return _response(match)


@scim_endpoint("GET", "POST", "PUT", "PATCH", "DELETE")
def not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    raise NotFoundException(detail="There is no SCIM endpoint here.")


@scim_endpoint("POST")
def search_everything(request: HttpRequest) -> HttpResponse:
    raise NotImplementedException(
        detail="Search Users or Groups with a filter on their own endpoint."
    )


# Users ----------------------------------------------------------------------------------------


def _creation_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """Let a client that names a member by e-mail alone leave `emails` out."""
    user_name = payload.get("userName")
    if not payload.get("emails") and isinstance(user_name, str) and "@" in user_name:
        payload = {**payload, "emails": [{"value": user_name, "primary": True}]}
    return payload


@scim_endpoint("GET", "POST")
def users(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    base_url = _base_url(tenant)
    if request.method == "POST":
        resource = User.model_validate(
            _creation_payload(_payload(request)),
            scim_ctx=Context.RESOURCE_CREATION_REQUEST,
            scim_policy=POLICY,
        )
        created = services.scim_user_create(tenant=tenant, resource=resource)
        membership = selectors.member_get(tenant=tenant, resource_id=str(created.pk))
        assert membership is not None  # noqa: S101 - made in this request
        return _response(
            selectors.user_resource(membership, base_url=base_url),
            ctx=Context.RESOURCE_CREATION_RESPONSE,
            status=201,
        )
    parameters = _parameters(request, User)
    start, count = _page(request)
    members = selectors.member_list(tenant=tenant)
    if request.GET.get("filter"):
        members = selectors.member_filter(members, request.GET["filter"])
    total = members.count()
    page = list(members[start - 1 : start - 1 + count]) if count else []
    return _response(
        ListResponse[User](
            total_results=total,
            start_index=start,
            items_per_page=len(page),
            resources=[selectors.user_resource(m, base_url=base_url) for m in page] or None,
        ),
        parameters=parameters,
    )


@scim_endpoint("GET", "PUT", "PATCH", "DELETE")
def user(request: HttpRequest, resource_id: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    base_url = _base_url(tenant)
    membership = selectors.member_get(tenant=tenant, resource_id=resource_id)
    if membership is None:
        raise NotFoundException(detail=f"No user {resource_id!r} in this organization.")
    if request.method == "DELETE":
        services.scim_user_delete(membership=membership)
        return HttpResponse(status=204)
    current = selectors.user_resource(membership, base_url=base_url)
    if request.method == "PUT":
        replacement = User.model_validate(
            _payload(request), scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST, scim_policy=POLICY
        )
        replacement.replace(current)
        services.scim_user_update(membership=membership, resource=replacement)
    elif request.method == "PATCH":
        patch = PatchOp[User].model_validate(
            _payload(request), scim_ctx=Context.RESOURCE_PATCH_REQUEST, scim_policy=POLICY
        )
        _check_paths(patch)
        was_active = current.active
        patch.patch(current, scim_policy=POLICY)
        services.scim_user_update(
            membership=membership,
            resource=current,
            active_removed=was_active is not None and current.active is None,
        )
    if request.method != "GET":
        membership = selectors.member_get(tenant=tenant, resource_id=resource_id)
        assert membership is not None  # noqa: S101 - updated, not removed, just now
    return _response(
        selectors.user_resource(membership, base_url=base_url),
        ctx=Context.RESOURCE_QUERY_RESPONSE
        if request.method == "GET"
        else Context.RESOURCE_REPLACEMENT_RESPONSE,
        parameters=_parameters(request, User),
    )


# Groups ---------------------------------------------------------------------------------------


def _group(team: Any, *, tenant: Tenant, base_url: str) -> Group:
    ids = selectors.group_members(tenant=tenant, teams=[team])[team.pk]
    return selectors.group_resource(team, member_ids=ids, base_url=base_url)


@scim_endpoint("GET", "POST")
def groups(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    base_url = _base_url(tenant)
    if request.method == "POST":
        resource = Group.model_validate(
            _payload(request), scim_ctx=Context.RESOURCE_CREATION_REQUEST, scim_policy=POLICY
        )
        team = services.scim_group_create(tenant=tenant, resource=resource)
        return _response(
            _group(team, tenant=tenant, base_url=base_url),
            ctx=Context.RESOURCE_CREATION_RESPONSE,
            status=201,
        )
    parameters = _parameters(request, Group)
    start, count = _page(request)
    teams = selectors.team_list(tenant=tenant)
    if request.GET.get("filter"):
        teams = selectors.team_filter(teams, request.GET["filter"])
    total = teams.count()
    page = list(teams[start - 1 : start - 1 + count]) if count else []
    members = selectors.group_members(tenant=tenant, teams=page)
    return _response(
        ListResponse[Group](
            total_results=total,
            start_index=start,
            items_per_page=len(page),
            resources=[
                selectors.group_resource(t, member_ids=members[t.pk], base_url=base_url)
                for t in page
            ]
            or None,
        ),
        parameters=parameters,
    )


@scim_endpoint("GET", "PUT", "PATCH", "DELETE")
def group(request: HttpRequest, resource_id: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    base_url = _base_url(tenant)
    team = selectors.team_get(tenant=tenant, resource_id=resource_id)
    if team is None:
        raise NotFoundException(detail=f"No group {resource_id!r} in this organization.")
    if request.method == "DELETE":
        services.scim_group_delete(team=team)
        return HttpResponse(status=204)
    current = _group(team, tenant=tenant, base_url=base_url)
    if request.method == "PUT":
        replacement = Group.model_validate(
            _payload(request), scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST, scim_policy=POLICY
        )
        replacement.replace(current)
        team = services.scim_group_update(team=team, resource=replacement)
    elif request.method == "PATCH":
        patch = PatchOp[Group].model_validate(
            _payload(request), scim_ctx=Context.RESOURCE_PATCH_REQUEST, scim_policy=POLICY
        )
        _check_paths(patch)
        patch.patch(current, scim_policy=POLICY)
        team = services.scim_group_update(team=team, resource=current)
    return _response(
        _group(team, tenant=tenant, base_url=base_url),
        ctx=Context.RESOURCE_QUERY_RESPONSE
        if request.method == "GET"
        else Context.RESOURCE_REPLACEMENT_RESPONSE,
        parameters=_parameters(request, Group),
    )


# Settings page --------------------------------------------------------------------------------


def _defaults_form(request: HttpRequest, data: Any = None) -> ScimDefaultsForm:
    tenant = request.tenant  # type: ignore[attr-defined]
    current = services.scim_defaults_get(tenant=tenant)
    membership = getattr(request, "membership", None)
    return ScimDefaultsForm(
        data,
        tenant=tenant,
        is_owner=getattr(membership, "role", None) == Role.OWNER,
        initial={
            "default_role": current.default_role,
            "default_custom_role": current.default_custom_role_id,
        },
    )


def _settings_page(
    request: HttpRequest,
    *,
    error: str = "",
    defaults_form: ScimDefaultsForm | None = None,
    status: int = 200,
) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    return render(
        request,
        "iam_scim/settings.html",
        {
            "tokens": selectors.scim_token_list(tenant=tenant),
            "created_token": request.session.pop(_NEW_TOKEN_KEY, None),
            "error": error,
            "base_url": _base_url(tenant),
            "defaults_form": defaults_form or _defaults_form(request),
        },
        status=status,
    )


@requires("admin.sso")
@require_http_methods(["GET", "POST"])
def scim_settings(request: HttpRequest) -> HttpResponse:
    """The organization's SCIM tokens: make one (shown once, after a redirect, so a reload
    never makes a second), see when each was last used, revoke; and the role of the
    members SCIM creates."""
    tenant = request.tenant  # type: ignore[attr-defined]
    error = ""
    if request.method == "POST":
        name = request.POST.get("name", "").strip()
        if not name:
            error = "Give the token a name, such as the identity provider that will use it."
        elif len(name) > 100:
            error = "Keep the name under 100 characters."
        else:
            _, raw = services.scim_token_create(
                tenant=tenant, by=cast(Account, request.user), name=name
            )
            request.session[_NEW_TOKEN_KEY] = raw
            return redirect("iam_scim:settings")
    return _settings_page(request, error=error, status=400 if error else 200)


@requires("admin.sso")
@require_POST
def scim_defaults(request: HttpRequest) -> HttpResponse:
    """Choose the role (and custom role) of the members SCIM creates from now on."""
    form = _defaults_form(request, request.POST)
    if form.is_valid():
        custom = form.cleaned_data["default_custom_role"]
        try:
            services.scim_defaults_set(
                tenant=request.tenant,  # type: ignore[attr-defined]
                by=cast(Account, request.user),
                default_role=form.cleaned_data["default_role"],
                default_custom_role_id=custom.pk if custom else None,
            )
        except DomainError as exc:
            if not add_field_errors(form, exc):
                form.add_error(None, exc.detail)
        else:
            messages.success(request, "New members from your identity provider get this role.")
            return redirect("iam_scim:settings")
    return _settings_page(request, defaults_form=form, status=400)


@requires("admin.sso")
@require_POST
def scim_token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    # Tokens live in the shared schema: look them up within this organization only.
    token = ScimToken.objects.filter(pk=pk, tenant=request.tenant).first()  # type: ignore[attr-defined]
    if token is None:
        return render(request, "404.html", status=404)
    services.scim_token_revoke(token=token)
    messages.success(request, f"SCIM token “{token.name}” revoked.")
    return redirect("iam_scim:settings")
