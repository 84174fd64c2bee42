"""Every route of an organization's host goes through the decision point, so a new route
can't forget it: a function view carries `@requires(...)` or says why it is open
(`@open_route(...)`); an API view has the `Authorized` permission and declares what it
serves, for each of its actions."""

from collections.abc import Iterator
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

from iam.authz.guards import _VIEWSET_ACTIONS, Authorized

# Routes served by libraries, each with the gate that applies to it.
LIBRARY_ROUTES = {
    "allauth.": "sign-in, sign-up and account pages of django-allauth (before membership)",
    "django.views.static": "static files",
}


def _patterns(resolver: URLResolver, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _patterns(entry, prefix + str(entry.pattern))
        else:
            yield prefix + str(entry.pattern), entry


def _declares(cls: Any) -> bool:
    return any(
        getattr(cls, name, None)
        for name in ("admin_right", "admin_right_for_writes", "member_route", "record_type")
    )


def _unguarded_actions(cls: Any, actions: dict[str, str] | None) -> list[str]:
    if not getattr(cls, "record_type", None) or any(
        getattr(cls, n, None) for n in ("admin_right", "admin_right_for_writes", "member_route")
    ):
        return []
    known = {**_VIEWSET_ACTIONS, **getattr(cls, "record_actions", {})}
    names = set((actions or {}).values()) or {
        m for m in ("get", "post", "put", "patch", "delete") if hasattr(cls, m)
    }
    return sorted(name for name in names if name not in known)


def _problem(route: str, pattern: URLPattern) -> str | None:
    callback: Any = pattern.callback
    module = getattr(callback, "__module__", "") or ""
    if any(module.startswith(prefix) for prefix in LIBRARY_ROUTES):
        return None
    cls = getattr(callback, "cls", None)
    if cls is not None:  # a DRF view
        permissions = getattr(cls, "permission_classes", [])
        if not any(isinstance(p, type) and issubclass(p, Authorized) for p in permissions):
            return f"{route}: {cls.__name__} lacks the Authorized permission"
        if not _declares(cls):
            return f"{route}: {cls.__name__} declares no record type, right or member route"
        missing = _unguarded_actions(cls, getattr(callback, "actions", None))
        if missing:
            return f"{route}: {cls.__name__} maps no permission for {', '.join(missing)}"
        return None
    if getattr(callback, "authz_guard", None):
        return None
    return f"{route}: {module}.{getattr(callback, '__name__', callback)} has no guard"


def test_every_route_of_an_organizations_host_is_guarded() -> None:
    problems = [
        problem
        for route, pattern in _patterns(get_resolver("config.urls_tenant"))
        if (problem := _problem(route, pattern))
    ]
    assert problems == [], "\n".join(problems)


def test_the_walk_sees_every_kind_of_route() -> None:
    routes = dict(_patterns(get_resolver("config.urls_tenant")))
    assert any(route.startswith("api/v1/deals") for route in routes)
    assert any(route.startswith("settings/members") for route in routes)
    assert any(route.startswith("accounts/") for route in routes)
    assert len(routes) > 100
