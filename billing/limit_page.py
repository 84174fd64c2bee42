"""The page people see when something they add passes a limit of their organization's plan.

Services raise PlanLimitReached or FeatureNotInPlan (billing.entitlements) before they write
anything; the API renders them as 402 `plan-limit` problems (problems.handlers), and a form
on a page that meets one lets it through to this middleware, which answers with a 402 page
saying what the limit is, how much is used and where to upgrade. An htmx request gets the
same page in place of the whole page body, so the message is never swallowed by a partial
swap (templates/base.html lets htmx swap a 402).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from iam.models import Role
from problems.responses import problem_response, wants_problem_json

from .exceptions import FeatureNotInPlan, PlanLimitReached
from .models import LIMIT_LABELS, Plan

log = structlog.get_logger(__name__)


class PlanLimitPageMiddleware:
    """Renders PlanLimitReached and FeatureNotInPlan escaping an HTML view as the limit page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, PlanLimitReached | FeatureNotInPlan):
            return None
        extra: dict[str, Any] = exception.extra
        tenant = getattr(request, "tenant", None)
        log.info(
            "billing.limit_refused",
            tenant=getattr(tenant, "slug", None),
            limit=extra.get("limit_name") or extra.get("feature"),
            plan=extra.get("plan"),
            path=request.path,
        )
        if wants_problem_json(request.path, request.headers.get("Accept", "")):
            return problem_response(
                status=exception.status,
                code=exception.code,
                title=exception.title,
                detail=exception.detail,
                **extra,
            )
        membership = getattr(request, "membership", None)
        plan = Plan.objects.filter(code=extra.get("plan")).first()
        context = {
            "title": exception.title,
            "detail": exception.detail,
            "plan": plan,
            "label": LIMIT_LABELS.get(extra.get("limit_name", ""), ""),
            "limit": extra.get("limit"),
            "current": extra.get("current"),
            "requested": extra.get("requested"),
            "upgrade_url": extra.get("upgrade_url", ""),
            "may_upgrade": getattr(membership, "role", None) == Role.OWNER,
        }
        response = render(request, "billing/limit_reached.html", context, status=exception.status)
        if request.headers.get("HX-Request"):
            response["HX-Retarget"] = "body"
            response["HX-Reswap"] = "innerHTML"
        return response
