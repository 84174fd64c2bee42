"""Billing's say over requests on an organization's host."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from problems.responses import problem_response, wants_problem_json

from .exceptions import ReadOnlyOrganization
from .standing import standing_message, standing_of

_READS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Writes that stay open while the organization is read-only, so that people can still sign
# in and out and pay: the Billing settings (checkout, the customer portal, plan changes) on
# pages and in the API; and SCIM, so the identity provider can still switch people off and
# remove them (new members still need a free seat).
_WRITABLE_PREFIXES = (
    "/accounts/",
    "/auth/handoff/",
    "/settings/billing/",
    "/api/v1/billing/",
    "/scim/",
    "/healthz",
    "/readyz",
)


class ReadOnlyOrganizationMiddleware:
    """Refuses writes on the host of an organization whose payment is overdue past the grace
    period: a 402 page with the banner's message, or a 402 `payment-required` problem on the
    API. Reads go through.

    It runs after the membership wall, so a page's refusal is shown to members only; an API
    write is refused before its token is checked (nothing is written either way). The
    standing costs one indexed read per cached organization row (billing.standing), and
    nothing at all for reads.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tenant = getattr(request, "tenant", None)
        if (
            tenant is None
            or request.method in _READS
            or request.path.startswith(_WRITABLE_PREFIXES)
        ):
            return self.get_response(request)
        standing = standing_of(tenant)
        if not standing.is_read_only:
            return self.get_response(request)
        message = standing_message(tenant, standing)
        refusal = ReadOnlyOrganization(message)
        if wants_problem_json(request.path, request.headers.get("Accept", "")):
            return problem_response(
                status=refusal.status,
                code=refusal.code,
                title=refusal.title,
                detail=message,
                billing_url="/settings/billing/",
            )
        response = render(
            request,
            "billing/read_only.html",
            {"title": refusal.title, "message": message},
            status=refusal.status,
        )
        if request.headers.get("HX-Request"):
            # The refusal replaces the page, not the fragment a partial swap aimed at.
            response["HX-Retarget"] = "body"
            response["HX-Reswap"] = "innerHTML"
        return response
