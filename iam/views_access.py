"""Pages of the access settings: custom roles, teams, access policies, the "why?" tool, the
custom roles and teams of a member, and the Share panel of a record."""

from typing import Any, cast

import structlog
from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from problems.exceptions import DomainError, InvalidFields

from . import authz
from .access_errors import RecordNotFound
from .authz import catalog, cedar
from .authz.guards import requires
from .forms_access import PolicyForm, RoleForm, TeamForm
from .models import Membership, Role, User
from .org.models import RecordShare
from .policy_examples import POLICY_EXAMPLES
from .selectors_access import (
    access_why,
    active_member_list,
    custom_role_get,
    custom_role_list,
    policy_get,
    policy_list,
    record_get,
    record_label,
    record_share_rows,
    require_why_right,
    team_get,
    team_list,
    why_record_options,
)
from .services_access import (
    custom_role_create,
    custom_role_delete,
    custom_role_update,
    membership_access_set,
    policy_create,
    policy_delete,
    policy_set_enabled,
    policy_update,
    record_share_remove,
    record_share_set,
    team_create,
    team_delete,
    team_member_add,
    team_member_remove,
    team_update,
)

log = structlog.get_logger(__name__)


def _tenant(request: HttpRequest) -> Any:
    return request.tenant  # type: ignore[attr-defined]


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _show_errors(form: forms.Form, exc: DomainError, field_for: Any = None) -> None:
    """The service's field errors next to their fields, the rest above the form."""
    found = exc.field_errors()
    for key, notes in found.items():
        name = field_for(key) if field_for else (key if key in form.fields else None)
        for note in notes:
            form.add_error(name, note)
    if not found:
        form.add_error(None, exc.detail)


# Custom roles ------------------------------------------------------------------------------


@requires("admin.roles")
@require_GET
def roles(request: HttpRequest) -> HttpResponse:
    """The built-in roles with what they grant, and the organization's custom roles."""
    built_in = [
        (Role(key), catalog.BUILT_IN_ROLE_DESCRIPTIONS[key], _grant_summary(grants))
        for key, grants in catalog.BUILT_IN_ROLES.items()
    ]
    custom = [
        (r, _grant_summary(catalog.grants_clean(r.permissions)))
        for r in custom_role_list(tenant=_tenant(request))
    ]
    return render(request, "iam/roles.html", {"built_in": built_in, "custom": custom})


def _grant_summary(grants: catalog.Grants) -> dict[str, Any]:
    """What a role grants, per record type ("view: all, edit: own") and the admin rights."""
    rows = []
    for record_type in catalog.RECORD_TYPES:
        parts = []
        for action, label in catalog.RECORD_ACTIONS:
            scope = grants.get(catalog.record_permission(record_type.key, action))
            if scope is not None:
                shown = label if action in catalog.TYPE_LEVEL_ACTIONS else f"{label} ({scope})"
                parts.append(shown)
        rows.append((record_type.label, ", ".join(parts) or "—"))
    rights = [
        label.split(":")[0]
        for right, label in catalog.ADMIN_RIGHTS
        if catalog.admin_permission(right) in grants
    ]
    return {"records": rows, "rights": rights}


@requires("admin.roles")
@require_http_methods(["GET", "POST"])
def role_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """Create a custom role (no `pk`) or change one, from the permission matrix."""
    tenant = _tenant(request)
    role = None
    if pk is not None:
        role = custom_role_get(tenant=tenant, pk=pk)
        if role is None:
            raise Http404()
    form = RoleForm(request.POST or None, role=role)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = {
                "name": form.cleaned_data["name"],
                "description": form.cleaned_data["description"],
                "permissions": form.permissions(),
            }
            try:
                if role is None:
                    role = custom_role_create(tenant=tenant, by=_user(request), **data)
                else:
                    custom_role_update(role=role, by=_user(request), **data)
            except DomainError as exc:
                _show_errors(form, exc, form.field_for_error)
                status = 400 if isinstance(exc, InvalidFields) else exc.status
            else:
                messages.success(request, f"Role “{role.name}” saved.")
                return redirect("iam:roles")
    return render(
        request,
        "iam/roles_form.html",
        {"form": form, "role": role},
        status=status,
    )


@requires("admin.roles")
@require_POST
def role_delete(request: HttpRequest, pk: int) -> HttpResponse:
    role = custom_role_get(tenant=_tenant(request), pk=pk)
    if role is None:
        raise Http404()
    try:
        custom_role_delete(role=role, by=_user(request))
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, f"Role “{role.name}” deleted.")
    return redirect("iam:roles")


# A member's custom roles and teams (the Members page) ---------------------------------------


@requires("admin.people")
@require_POST
def member_access(request: HttpRequest, pk: int) -> HttpResponse:
    """Set a member's custom roles and teams, from their row on the Members page."""
    tenant = _tenant(request)
    membership = Membership.objects.filter(pk=pk, tenant=tenant).select_related("user").first()
    if membership is None:
        raise Http404()
    try:
        role_ids = [int(v) for v in request.POST.getlist("custom_roles")]
        team_ids = [int(v) for v in request.POST.getlist("teams")]
    except ValueError:
        messages.error(request, "Choose roles and teams of this organization.")
        return redirect("iam:members")
    try:
        membership_access_set(
            membership=membership, by=_user(request), role_ids=role_ids, team_ids=team_ids
        )
    except InvalidFields as exc:
        messages.error(request, " ".join(n for notes in exc.errors.values() for n in notes))
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, f"Roles and teams of {membership.user.email} saved.")
    return redirect("iam:members")


# Teams -----------------------------------------------------------------------------------


def _member_choices(tenant: Any) -> list[tuple[int, str]]:
    return [(u.pk, u.email) for u in active_member_list(tenant=tenant)]


@requires("admin.people")
@require_http_methods(["GET", "POST"])
def teams(request: HttpRequest) -> HttpResponse:
    """The organization's teams; a new team is made here."""
    tenant = _tenant(request)
    members = _member_choices(tenant)
    form = TeamForm(request.POST or None, members=members)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                team = team_create(
                    tenant=tenant,
                    by=_user(request),
                    name=form.cleaned_data["name"],
                    manager_id=form.cleaned_data["manager"],
                )
            except DomainError as exc:
                _show_errors(form, exc)
                status = exc.status if not exc.field_errors() else 400
            else:
                messages.success(request, f"Team “{team.name}” created.")
                return redirect("iam:teams")
    return render(
        request,
        "iam/teams.html",
        {"form": form, "teams": list(team_list(tenant=tenant)), "members": members},
        status=status,
    )


@requires("admin.people")
@require_http_methods(["GET", "POST"])
def team_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """One team: its name and manager, its members (added and removed here)."""
    tenant = _tenant(request)
    team = team_get(tenant=tenant, pk=pk)
    if team is None:
        raise Http404()
    members = _member_choices(tenant)
    initial = {"name": team.name, "manager": team.manager_id}
    form = TeamForm(request.POST or None, members=members, initial=initial)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                team_update(
                    team=team,
                    by=_user(request),
                    name=form.cleaned_data["name"],
                    manager_id=form.cleaned_data["manager"],
                )
            except DomainError as exc:
                _show_errors(form, exc)
            else:
                messages.success(request, f"Team “{team.name}” saved.")
                return redirect("iam:team_edit", pk=team.pk)
    in_team = {m.user_id for m in team.memberships.all()}
    return render(
        request,
        "iam/teams_form.html",
        {
            "form": form,
            "team": team,
            "candidates": [(pk_, email) for pk_, email in members if pk_ not in in_team],
        },
        status=status,
    )


@requires("admin.people")
@require_POST
def team_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    team = team_get(tenant=_tenant(request), pk=pk)
    if team is None:
        raise Http404()
    team_delete(team=team, by=_user(request))
    messages.success(request, f"Team “{team.name}” deleted.")
    return redirect("iam:teams")


@requires("admin.people")
@require_POST
def team_member_add_view(request: HttpRequest, pk: int) -> HttpResponse:
    team = team_get(tenant=_tenant(request), pk=pk)
    if team is None:
        raise Http404()
    try:
        team_member_add(team=team, by=_user(request), user_id=request.POST.get("user", ""))  # type: ignore[arg-type]
    except InvalidFields:
        messages.error(request, "Choose a member of this organization.")
    else:
        messages.success(request, "Added to the team.")
    return redirect("iam:team_edit", pk=team.pk)


@requires("admin.people")
@require_POST
def team_member_remove_view(request: HttpRequest, pk: int, user_id: int) -> HttpResponse:
    team = team_get(tenant=_tenant(request), pk=pk)
    if team is None:
        raise Http404()
    team_member_remove(team=team, by=_user(request), user_id=user_id)
    messages.success(request, "Taken out of the team.")
    return redirect("iam:team_edit", pk=team.pk)


# Policies --------------------------------------------------------------------------------


@requires("admin.policies")
@require_GET
def policies(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "iam/policies.html",
        {"policies": policy_list(tenant=_tenant(request)), "examples": POLICY_EXAMPLES},
    )


def _schema_reference() -> dict[str, Any]:
    """What a policy may name, for the reference beside the editor."""
    return {"schema": cedar.SCHEMA.strip(), "namespace": cedar.NAMESPACE}


@requires("admin.policies")
@require_http_methods(["GET", "POST"])
def policy_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """Write a policy (no `pk`; `?example=` starts from a ready-made one) or change one."""
    tenant = _tenant(request)
    policy = None
    initial: dict[str, Any] = {}
    if pk is not None:
        policy = policy_get(tenant=tenant, pk=pk)
        if policy is None:
            raise Http404()
        initial = {
            "name": policy.name,
            "description": policy.description,
            "source": policy.source,
        }
    else:
        example = next((e for e in POLICY_EXAMPLES if e.key == request.GET.get("example")), None)
        if example is not None:
            initial = {
                "name": example.name,
                "description": example.description,
                "source": example.source,
            }
    form = PolicyForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                if policy is None:
                    policy = policy_create(tenant=tenant, by=_user(request), **form.cleaned_data)
                else:
                    policy_update(policy=policy, by=_user(request), **form.cleaned_data)
            except DomainError as exc:
                _show_errors(form, exc)
                if not isinstance(exc, InvalidFields):
                    status = exc.status
            else:
                messages.success(request, f"Policy “{policy.name}” saved.")
                return redirect("iam:policies")
    return render(
        request,
        "iam/policies_form.html",
        {"form": form, "policy": policy, "examples": POLICY_EXAMPLES, **_schema_reference()},
        status=status,
    )


@requires("admin.policies")
@require_POST
def policy_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    policy = policy_get(tenant=_tenant(request), pk=pk)
    if policy is None:
        raise Http404()
    enable = request.POST.get("enabled") == "true"
    policy_set_enabled(policy=policy, by=_user(request), is_enabled=enable)
    messages.success(
        request, f"Policy “{policy.name}” {'switched on' if enable else 'switched off'}."
    )
    return redirect("iam:policies")


@requires("admin.policies")
@require_POST
def policy_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    policy = policy_get(tenant=_tenant(request), pk=pk)
    if policy is None:
        raise Http404()
    policy_delete(policy=policy, by=_user(request))
    messages.success(request, f"Policy “{policy.name}” deleted.")
    return redirect("iam:policies")


# Why? ------------------------------------------------------------------------------------


@requires("member")
@require_GET
def why(request: HttpRequest) -> HttpResponse:
    """Pick a member, an action and a record: the decision, its reason, the role grant that
    applied and the policies that decided."""
    principal = authz.principal_for_request(request)
    assert principal is not None  # noqa: S101 - the guard let a member through
    require_why_right(principal)
    tenant = _tenant(request)
    asked = {k: request.GET.get(k, "") for k in ("user", "action", "record_type", "record_id", "q")}
    answer, errors = None, {}
    if asked["user"]:
        try:
            answer = access_why(
                tenant=tenant,
                user_id=asked["user"],
                action=asked["action"],
                record_type=asked["record_type"],
                record_id=asked["record_id"] or None,
            )
        except InvalidFields as exc:
            errors = exc.errors
    return render(
        request,
        "iam/why.html",
        {
            "asked": asked,
            "answer": answer,
            "record_label": record_label(answer.record) if answer and answer.record else "",
            "errors": errors,
            "members": _member_choices(tenant),
            "actions": catalog.RECORD_ACTIONS,
            "record_types": catalog.RECORD_TYPES,
        },
        status=400 if errors else 200,
    )


@requires("member")
@require_GET
def why_records(request: HttpRequest) -> HttpResponse:
    """The "why?" tool's record picker (an htmx partial): the records of the chosen type
    whose names best match what is typed, at most ten, each a button that picks its id."""
    principal = authz.principal_for_request(request)
    assert principal is not None  # noqa: S101 - the guard let a member through
    require_why_right(principal)
    record_type = request.GET.get("record_type", "")
    text = request.GET.get("q", "")
    options, errors = [], {}
    try:
        options = why_record_options(principal=principal, record_type=record_type, text=text)
    except InvalidFields as exc:
        errors = exc.errors
    response = render(
        request,
        "iam/_why_records.html",
        {"options": options, "errors": errors, "q": text.strip()},
        status=400 if errors else 200,
    )
    patch_vary_headers(response, ["HX-Request"])
    return response


# Sharing one record ------------------------------------------------------------------------


def _share_context(request: HttpRequest, record_type: str, record: Any) -> dict[str, Any]:
    tenant = _tenant(request)
    principal = authz.principal_for_request(request)
    return {
        "record_type": record_type,
        "record": record,
        "rows": record_share_rows(tenant=tenant, record_type=record_type, record_id=record.pk),
        "may_share": authz.check(principal, "edit", record_type=record_type, record=record).allowed,
        "members": [(pk, email) for pk, email in _member_choices(tenant) if pk != request.user.pk],
        "teams": [(t.pk, t.name) for t in team_list(tenant=tenant)],
        "levels": RecordShare.Level.choices,
    }


@requires("member")
@require_http_methods(["GET", "POST"])
def record_share(request: HttpRequest, record_type: str, record_id: int) -> HttpResponse:
    """The Share panel of a record (an htmx partial): its shares, and for those who may edit
    the record, adding or changing one (POST: `user` or `team`, and `level`)."""
    if record_type not in catalog.RECORD_TYPE_KEYS:
        raise Http404()
    try:
        record = record_get(record_type=record_type, record_id=record_id)
    except RecordNotFound:
        raise Http404() from None
    principal = authz.principal_for_request(request)
    assert principal is not None  # noqa: S101 - the guard let a member through
    authz.require(principal, "view", record_type=record_type, record=record)
    error, status = "", 200
    if request.method == "POST":
        grantee = request.POST.get("grantee", "")
        kind, _, grantee_id = grantee.partition(":")
        try:
            record_share_set(
                principal=principal,
                record_type=record_type,
                record_id=record.pk,
                user_id=_int_or_none(grantee_id) if kind == "user" else None,
                team_id=_int_or_none(grantee_id) if kind == "team" else None,
                level=request.POST.get("level", ""),
            )
        except InvalidFields as exc:
            error = " ".join(n for notes in exc.errors.values() for n in notes)
            # htmx swaps only successful answers in: the panel shows the error in place.
            status = 200 if request.headers.get("HX-Request") else 400
    context = {**_share_context(request, record_type, record), "error": error}
    return render(request, "iam/_share.html", context, status=status)


def _int_or_none(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


@requires("member")
@require_POST
def record_share_remove_view(
    request: HttpRequest, record_type: str, record_id: int, share_id: int
) -> HttpResponse:
    if record_type not in catalog.RECORD_TYPE_KEYS:
        raise Http404()
    try:
        record = record_get(record_type=record_type, record_id=record_id)
    except RecordNotFound:
        raise Http404() from None
    principal = authz.principal_for_request(request)
    assert principal is not None  # noqa: S101 - the guard let a member through
    authz.require(principal, "view", record_type=record_type, record=record)
    share = RecordShare.objects.filter(
        pk=share_id, record_type=record_type, record_id=record.pk
    ).first()
    if share is None:
        raise Http404()
    record_share_remove(principal=principal, share=share)
    return render(request, "iam/_share.html", _share_context(request, record_type, record))
