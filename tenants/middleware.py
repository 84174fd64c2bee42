"""Routes every request by host: public site, a tenant's schema, a 404 page, or a 423."""

import functools
from collections.abc import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import set_urlconf
from django.utils import timezone

from problems.responses import problem_response, wants_problem_json

from .routing import resolve_host

_ALWAYS_SERVED = ("/healthz", "/readyz")


def _served_while_suspended(path: str) -> bool:
    """Health checks, and the pages that let owners settle what suspended the organization
    (signing in, its billing: settings.TENANT_SUSPENDED_SERVED_PATHS). Each of those pages
    still checks who may use it."""
    return path in _ALWAYS_SERVED or path.startswith(tuple(settings.TENANT_SUSPENDED_SERVED_PATHS))


@functools.lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # a name this machine's zone data lacks
        return ZoneInfo("UTC")


class TenantRoutingMiddleware:
    """Sets the connection's schema and URLconf from the request's host, first thing.

    The schema is reset to public at the start of every request, and again at its end, so
    no request can inherit the previous one's search_path.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        connection.set_schema_to_public()  # type: ignore[attr-defined]
        try:
            return self._route(request)
        finally:
            connection.set_schema_to_public()  # type: ignore[attr-defined]
            timezone.deactivate()

    def _route(self, request: HttpRequest) -> HttpResponse:
        host = request.get_host()
        match = resolve_host(host.rsplit(":", 1)[0] if host else "")
        request.tenant = match.tenant  # type: ignore[attr-defined]
        if match.is_public:
            request.urlconf = settings.PUBLIC_SCHEMA_URLCONF
            set_urlconf(settings.PUBLIC_SCHEMA_URLCONF)
            return self.get_response(request)
        tenant = match.tenant
        if tenant is None:
            return self._not_found(request)
        if tenant.is_suspended and not _served_while_suspended(request.path):
            return self._suspended(request)
        connection.set_tenant(tenant)  # type: ignore[attr-defined]
        timezone.activate(_zone(tenant.time_zone))  # its days and times, for this request
        # The tenant URLconf is ROOT_URLCONF, which Django's handler makes the default at the
        # start of every request: nothing to set.
        return self.get_response(request)

    def _not_found(self, request: HttpRequest) -> HttpResponse:
        if wants_problem_json(request.path, request.headers.get("Accept", "")):
            return problem_response(
                status=404,
                code="organization-not-found",
                title="No organization is served at this address.",
            )
        return render(request, "tenants/unknown_host.html", status=404)

    def _suspended(self, request: HttpRequest) -> HttpResponse:
        tenant = request.tenant  # type: ignore[attr-defined]
        if wants_problem_json(request.path, request.headers.get("Accept", "")):
            return problem_response(
                status=423,
                code="organization-suspended",
                title="This organization is suspended.",
                detail=(
                    f"The organization {tenant.name!r} is suspended. "
                    "Its owners can contact support to restore access."
                ),
            )
        context = {"tenant": tenant, "settle_path": settings.TENANT_SUSPENDED_SETTLE_PATH}
        return render(request, "tenants/suspended.html", context, status=423)
