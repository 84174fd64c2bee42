"""How routes go through the decision point: a decorator for function views and a DRF
permission class for API views. Every route of an organization's host carries one of them
(or says why it is open), which `tests/iam/test_route_guards.py` checks for every route."""

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from django.http import HttpRequest, HttpResponse
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from iam.exceptions import AccessDenied

from . import catalog
from .engine import Principal, check, principal_for_request, require

_View = TypeVar("_View", bound=Callable[..., HttpResponse])

MEMBER = "member"
# Actions taken on one record: a route that takes one is guarded for members here, and the
# view decides on the record itself (`authz.require(..., record=...)`, or a queryset
# narrowed by `authz.visible`), where shares and ownership are known.
RECORD_ACTIONS = frozenset({"view", "edit", "delete", "assign", "move", "share"})


def _member(principal: Principal | None) -> Principal:
    if principal is None or not principal.is_member:
        raise AccessDenied("You are not a member of this organization.")
    return principal


def enforce(request: HttpRequest, permission: str) -> Principal:
    """Apply a route's guard: `"member"`, an admin right (`"admin.people"`), an action on a
    record type as a whole (`"deal.create"`, `"contact.export"`), or an action on single
    records (`"deal.edit"`), which only needs membership here."""
    principal = _member(principal_for_request(request))
    area, _, action = permission.partition(".")
    if permission == MEMBER or action in RECORD_ACTIONS:
        return principal
    if area == "admin":
        require(principal, "manage", right=action)
    else:
        require(principal, action, record_type=area)
    return principal


def requires(permission: str) -> Callable[[_View], _View]:
    """Guard a function view with the decision point; see `enforce` for what it checks."""
    _check_known(permission)

    def decorate(view: _View) -> _View:
        @functools.wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            enforce(request, permission)
            return view(request, *args, **kwargs)

        guarded.authz_guard = permission  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]

    return decorate


def open_route(reason: str) -> Callable[[_View], _View]:
    """Mark a route that is deliberately not guarded by roles (it authenticates otherwise:
    a provider's signature, a SCIM token, sign-in itself), with the reason."""

    def decorate(view: _View) -> _View:
        view.authz_guard = f"open: {reason}"  # type: ignore[attr-defined]
        return view

    return decorate


def _check_known(permission: str) -> None:
    if permission == MEMBER:
        return
    area, _, action = permission.partition(".")
    if area == "admin":
        known = action in catalog.ADMIN_RIGHT_KEYS
    else:
        known = area in catalog.RECORD_TYPE_KEYS and (
            action in catalog.RECORD_ACTION_KEYS or action in RECORD_ACTIONS
        )
    if not known:
        raise ValueError(f"Unknown permission {permission!r}.")


# --- DRF ---------------------------------------------------------------------------------

# The record action each standard viewset action takes.
_VIEWSET_ACTIONS = {
    "list": "view",
    "retrieve": "view",
    "create": "create",
    "update": "edit",
    "partial_update": "edit",
    "destroy": "delete",
}


def view_permission(view: Any, request: Request) -> str | None:
    """The permission an API view's declaration asks of this request, or None when the view
    declares nothing (which denies).

    A view declares one of: `admin_right = "people"` (every method); `admin_right_for_writes
    = "custom_fields"` (reads for members); `member_route = True`; or `record_type = "deal"`
    with the standard actions mapped as in `_VIEWSET_ACTIONS` and its own actions listed in
    `record_actions = {"move": "move"}`.
    """
    if getattr(view, "admin_right", None):
        return f"admin.{view.admin_right}"
    if getattr(view, "admin_right_for_writes", None):
        if request.method in SAFE_METHODS:
            return MEMBER
        return f"admin.{view.admin_right_for_writes}"
    if getattr(view, "member_route", False):
        return MEMBER
    record_type = getattr(view, "record_type", None)
    if record_type:
        name = getattr(view, "action", None) or (request.method or "").lower()
        verb = {**_VIEWSET_ACTIONS, **getattr(view, "record_actions", {})}.get(name)
        return f"{record_type}.{verb}" if verb else None
    return None


class Authorized(BasePermission):
    """The decision point for API views: the route's declared permission, then, for views
    of one record, the decision on that record (ownership, teams, shares, policies)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        permission = view_permission(view, request)
        if permission is None:
            raise AccessDenied("This operation declares no access rule, so it is refused.")
        enforce(request._request, permission)
        return True

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        permission = view_permission(view, request)
        if permission is None:
            return False
        area, _, action = permission.partition(".")
        if area in catalog.RECORD_TYPE_KEYS and action in RECORD_ACTIONS:
            principal = principal_for_request(request._request)
            context: dict[str, Any] = getattr(view, "authz_context", dict)()
            decision = check(principal, action, record=obj, context=context)
            if not decision.allowed:
                raise AccessDenied(decision.reason, policies=list(decision.policy_names))
        return True
