"""The dashboard: the organization's first steps while it is new, then what a sales manager
looks at, as charts that each link to the list behind them."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from crm.selectors.dashboard import Dashboard, MonthWon, dashboard
from crm.selectors.leads import LEAD_ORDERINGS
from iam import authz
from iam.authz.guards import requires
from iam.permissions import is_tenant_admin
from iam.selectors import invitation_list_open, member_list


@dataclass(frozen=True)
class GettingStartedStep:
    title: str
    text: str
    url: str
    action: str
    is_done: bool


def _getting_started(request: HttpRequest, counts: dict[str, int]) -> list[GettingStartedStep]:
    """The first steps in a new organization, each marked done once the organization has
    taken it; inviting people is offered to those who may."""
    steps = [
        GettingStartedStep(
            title="Bring in your contacts",
            text="Import a spreadsheet (CSV) of the people you work with, or add them one by one.",
            url=reverse("crm:contact_import"),
            action="Import contacts",
            is_done=counts["contacts"] > 0,
        ),
        GettingStartedStep(
            title="Add the companies you work with",
            text="Contacts can then be linked to their company.",
            url=reverse("crm:company_create"),
            action="Add a company",
            is_done=counts["companies"] > 0,
        ),
        GettingStartedStep(
            title="Create your first deal",
            text="Follow it across your pipeline's stages on the board, from first call to won.",
            url=reverse("crm:deal_create"),
            action="Create a deal",
            is_done=counts["deals"] > 0,
        ),
    ]
    membership = getattr(request, "membership", None)
    if is_tenant_admin(membership):
        tenant = request.tenant  # type: ignore[attr-defined]
        invited = (
            member_list(tenant=tenant).count() > 1 or invitation_list_open(tenant=tenant).exists()
        )
        steps.insert(
            1,
            GettingStartedStep(
                title="Invite your team",
                text="Colleagues get an e-mail with a link to join as members or admins.",
                url=reverse("iam:members"),
                action="Invite people",
                is_done=invited,
            ),
        )
    return steps


def _url(name: str, **query: Any) -> str:
    url = reverse(name)
    return f"{url}?{urlencode(query)}" if query else url


def _number(value: Decimal) -> float:
    return float(value)


def _charts(board: Dashboard) -> dict[str, dict[str, Any]]:
    """Each chart's figures and the list each bar or slice links to, for frontend/src/
    dashboard.js (the tables beside the charts show the same figures)."""
    currency = board.currency
    deals = "crm:deal_list"
    by_score = "-score" if "score" in LEAD_ORDERINGS else ""
    return {
        "pipeline": {
            "type": "bar",
            "label": f"Open deals, {currency}",
            "labels": [s.stage.name for s in board.stages],
            "values": [_number(s.total_in(currency)) for s in board.stages],
            "links": [_url(deals, stage=s.stage.pk) for s in board.stages],
        },
        "won": {
            "type": "bar",
            "label": f"Won, {currency}",
            "labels": [
                board.last_month.starts_on.strftime("%B"),
                board.this_month.starts_on.strftime("%B"),
            ],
            "values": [
                _number(board.last_month.total_in(currency)),
                _number(board.this_month.total_in(currency)),
            ],
            "links": [_won_url(board.last_month), _won_url(board.this_month)],
        },
        "sources": {
            "type": "doughnut",
            "label": "New leads",
            "counts": True,
            "labels": [s.label for s in board.leads_by_source],
            "values": [s.count for s in board.leads_by_source],
            "links": [
                _url("crm:lead_list", source=s.source) if s.source else _url("crm:lead_list")
                for s in board.leads_by_source
            ],
        },
        "scores": {
            "type": "bar",
            "label": "Open leads",
            "counts": True,
            "labels": [b.label for b in board.score_bands],
            "values": [b.count for b in board.score_bands],
            "links": [
                _url("crm:lead_list", ordering=by_score) if by_score else _url("crm:lead_list")
                for _ in board.score_bands
            ],
        },
    }


def _won_url(month: MonthWon) -> str:
    return _url(
        "crm:deal_list",
        outcome="won",
        closed_from=month.starts_on.isoformat(),
        closed_to=month.ends_on.isoformat(),
    )


@login_required
@requires("member")
@require_GET
def dashboard_page(request: HttpRequest) -> HttpResponse:
    # Every figure counts only the records the member may view, in its query.
    board = dashboard(user=request.user, principal=authz.principal_for_request(request))
    steps = _getting_started(request, board.counts)
    charts = _charts(board)
    return render(
        request,
        "crm/dashboard.html",
        {
            "board": board,
            "counts": board.counts,
            "getting_started": steps if not all(s.is_done for s in steps) else [],
            "steps_done": sum(s.is_done for s in steps),
            "charts": charts,
            "score_url": charts["scores"]["links"][0],
            "won_months": [board.last_month, board.this_month],
        },
    )
