"""The Finance page: one year of a small fleet computed by hand against the selector and the
rendered page, who may open it, its lists, filters and CSV exports."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from decimal import Decimal
from html.parser import HTMLParser

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.models import Permission
from django.test import Client

from billing.models import Invoice, Plan, Price, Subscription, SubscriptionChange
from billing.providers.base import InvoiceState, SubscriptionState
from billing.selectors.finance import FinanceFigures, finance_figures
from billing.services.subscriptions import (
    invoice_apply_state,
    subscription_apply_state,
    trial_start,
    trials_expire,
)
from iam.models import User
from tenants.models import Tenant
from tests.factories import UserFactory

NOW = dt.datetime(2025, 12, 20, 12, 0, tzinfo=dt.UTC)
MONTHS = [dt.date(2025, month, 1) for month in range(1, 13)]
FINANCE = "/billing/finance/"


def at(month: int, day: int, hour: int = 9, *, year: int = 2025) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=dt.UTC)


# The fleet ----------------------------------------------------------------------------------
#
# Six organizations through one year (prices from the seed: Starter 15.00 USD / 14.00 EUR a
# seat a month, 144.00 USD a year; Growth 39.00 USD / 36.00 EUR a month):
#   A (USD) trial Jan 5, subscribes Growth x2 Jan 10, 3 seats Apr 3.
#   B (USD) trial Jan 20, ends unpaid Feb 3, Starter x1 Mar 15, Growth x1 Jun 1 00:00 (the
#           first instant of June), payment fails Aug 5, paid Sep 2.
#   C (EUR) trial Feb 1, Growth x2 Feb 10, Starter x2 May 20, canceled Oct 10.
#   D (USD) trial Dec 10 2024, ends Dec 24 2024, Starter yearly x5 Dec 28 2024 (60.00 a month),
#           4 seats Jul 15, canceled Nov 30, back on Starter monthly x1 Dec 5.
#   E (EUR) trial Mar 3, ends unpaid Mar 17, never pays.
#   F (USD) trial Jun 2, Growth x1 Jun 12, payment fails Nov 3, canceled Dec 1 (lost).


def _prices() -> dict[str, str]:
    """Give the seeded prices Stripe ids, by a short name of our own."""
    names = {
        "starter-usd-month": ("starter", "USD", "month"),
        "starter-usd-year": ("starter", "USD", "year"),
        "starter-eur-month": ("starter", "EUR", "month"),
        "growth-usd-month": ("growth", "USD", "month"),
        "growth-eur-month": ("growth", "EUR", "month"),
    }
    for name, (plan, currency, interval) in names.items():
        price = Price.objects.get(plan__code=plan, currency=currency, interval=interval)
        price.provider_ids = {**price.provider_ids, "stripe": f"price_{name}"}
        price.save(update_fields=["provider_ids"])
    return {name: f"price_{name}" for name in names}


def _org(slug: str) -> Tenant:
    # A row is all the finance figures need; no schema is made for it.
    return Tenant.objects.create(
        slug=f"fin-{slug}", name=f"Org {slug.upper()}", schema_name=f"fin_{slug}"
    )


def _apply(
    org: Tenant,
    when: dt.datetime,
    *,
    price: str = "",
    quantity: int = 1,
    status: str = "active",
    sub: str = "",
) -> None:
    state = SubscriptionState(
        subscription_id=sub or f"sub_{org.slug}",
        customer_id=f"cus_{org.slug}",
        status=status,
        price_id=f"price_{price}" if price else "",
        quantity=quantity,
        current_period_start=when,
        current_period_end=when + dt.timedelta(days=30),
        organization_id=org.pk,
    )
    assert subscription_apply_state(provider="stripe", state=state, occurred_at=when) is not None


def _invoice(
    org: Tenant,
    when: dt.datetime,
    *,
    number: str,
    currency: str,
    total: int,
    status: str,
    failed: bool = False,
    sub: str = "",
    issued: dt.datetime | None = None,
) -> None:
    state = InvoiceState(
        invoice_id=f"in_{number}",
        subscription_id=sub or f"sub_{org.slug}",
        customer_id=f"cus_{org.slug}",
        status=status,
        currency=currency,
        subtotal=total,
        tax=0,
        total=total,
        amount_paid=total if status == Invoice.Status.PAID else 0,
        number=number,
        issued_at=issued or when,
        paid_at=when if status == Invoice.Status.PAID else None,
        payment_failed=failed,
        organization_id=org.pk,
    )
    assert invoice_apply_state(provider="stripe", state=state, occurred_at=when) is not None


@pytest.fixture
def fleet(db: None) -> Iterator[dict[str, Tenant]]:
    """The year above, built through the billing services in the order it happened."""
    _prices()
    orgs = {slug: _org(slug) for slug in "abcdef"}
    a, b, c, d, e, f = orgs.values()
    with time_machine.travel(at(12, 10, year=2024), tick=False):
        trial_start(tenant=d, at=at(12, 10, year=2024))
        trials_expire(now=at(12, 24, 12, year=2024))
        _apply(d, at(12, 28, year=2024), price="starter-usd-year", quantity=5)
        trial_start(tenant=a, at=at(1, 5))
        _apply(a, at(1, 10), price="growth-usd-month", quantity=2)
        _invoice(a, at(1, 10), number="A-1", currency="usd", total=7800, status="paid")
        trial_start(tenant=b, at=at(1, 20))
        trial_start(tenant=c, at=at(2, 1))
        trials_expire(now=at(2, 4))
        _apply(c, at(2, 10), price="growth-eur-month", quantity=2)
        _invoice(c, at(2, 10), number="C-1", currency="eur", total=7200, status="paid")
        trial_start(tenant=e, at=at(3, 3))
        _apply(b, at(3, 15), price="starter-usd-month")
        trials_expire(now=at(3, 18))
        _apply(a, at(4, 3), price="growth-usd-month", quantity=3)
        _apply(c, at(5, 20), price="starter-eur-month", quantity=2)
        _apply(b, dt.datetime(2025, 6, 1, tzinfo=dt.UTC), price="growth-usd-month")
        trial_start(tenant=f, at=at(6, 2))
        _apply(f, at(6, 12), price="growth-usd-month")
        _apply(d, at(7, 15), price="starter-usd-year", quantity=4)
        _invoice(b, at(8, 5), number="B-8", currency="usd", total=3900, status="open", failed=True)
        _invoice(
            b, at(9, 2), number="B-8", currency="usd", total=3900, status="paid", issued=at(8, 5)
        )
        _apply(c, at(10, 10), price="starter-eur-month", quantity=2, status="canceled")
        _invoice(
            f, at(11, 3), number="F-11", currency="usd", total=3900, status="open", failed=True
        )
        _apply(d, at(11, 30), price="starter-usd-year", quantity=4, status="canceled")
        _apply(f, at(12, 1), price="growth-usd-month", status="canceled")
        _apply(d, at(12, 5), price="starter-usd-month", sub="sub_fin-d-again")
    with time_machine.travel(NOW, tick=False):
        yield orgs


# The hand computation (amounts in cents) ----------------------------------------------------

USD_MRR = [13800, 13800, 15300, 19200, 19200, 25500, 24300, 24300, 24300, 24300, 19500, 17100]
USD_PAYING = [2, 2, 3, 3, 3, 4, 4, 4, 4, 4, 3, 3]
USD_NEW = [7800, 0, 1500, 0, 0, 3900, 0, 0, 0, 0, 0, 1500]
USD_EXPANSION = [0, 0, 0, 3900, 0, 2400, 0, 0, 0, 0, 0, 0]
USD_CONTRACTION = [0, 0, 0, 0, 0, 0, 1200, 0, 0, 0, 0, 0]
USD_CHURN = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4800, 3900]
USD_ARPA = [6900, 6900, 5100, 6400, 6400, 6375, 6075, 6075, 6075, 6075, 6500, 5700]
USD_REVENUE_CHURN = ["0.0"] * 6 + ["4.7", "0.0", "0.0", "0.0", "19.8", "20.0"]

EUR_MRR = [0, 7200, 7200, 7200, 2800, 2800, 2800, 2800, 2800, 0, 0, 0]
EUR_NEW = [0, 7200] + [0] * 10
EUR_CONTRACTION = [0, 0, 0, 0, 4400] + [0] * 7
EUR_CHURN = [0] * 9 + [2800, 0, 0]
EUR_REVENUE_CHURN = [
    None,
    None,
    "0.0",
    "0.0",
    "61.1",
    "0.0",
    "0.0",
    "0.0",
    "0.0",
    "100.0",
    None,
    None,
]

PAYING = [2, 3, 4, 4, 4, 5, 5, 5, 5, 4, 3, 3]
PAYING_AT_START = [1, 2, 3, 4, 4, 4, 5, 5, 5, 5, 4, 3]
LOGO_CHURN = ["0.0"] * 9 + ["20.0", "25.0", "33.3"]
TRIALS_ENDED = [1, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]
TRIALS_CONVERTED = [1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
TRIAL_CONVERSION = ["100.0", "50.0", "0.0", None, None, "100.0"] + [None] * 6
PAYMENTS_FAILED = [0] * 7 + [1, 0, 0, 1, 0]
PAYMENTS_OUTSTANDING = [0] * 7 + [1, 1, 0, 1, 1]
PAYMENTS_RECOVERED = [0] * 8 + [1, 0, 0, 0]
RECOVERY_RATE = [None] * 7 + ["0.0", "100.0", None, "0.0", "0.0"]

GROWTH_USD = [7800, 7800, 7800, 11700, 11700] + [19500] * 6 + [15600]
STARTER_USD = [6000, 6000, 7500, 7500, 7500, 6000, 4800, 4800, 4800, 4800, 0, 1500]
GROWTH_USD_PAYING = [1] * 5 + [3] * 6 + [2]
STARTER_USD_PAYING = [1, 1, 2, 2, 2, 1, 1, 1, 1, 1, 0, 1]


def _pct(values: list[str | None]) -> list[Decimal | None]:
    return [None if value is None else Decimal(value) for value in values]


def _figures() -> FinanceFigures:
    return finance_figures(first=MONTHS[0], last=MONTHS[-1])


def test_the_years_mrr_and_its_movements_match_the_hand_computation(
    fleet: dict[str, Tenant],
) -> None:
    figures = _figures()
    assert figures.months == MONTHS
    assert figures.currencies == ["EUR", "USD"]
    usd, eur = figures.by_currency["USD"], figures.by_currency["EUR"]
    assert [row.mrr for row in usd] == USD_MRR
    assert [row.arr for row in usd] == [mrr * 12 for mrr in USD_MRR]
    assert [row.paying for row in usd] == USD_PAYING
    assert [row.new for row in usd] == USD_NEW
    assert [row.expansion for row in usd] == USD_EXPANSION
    assert [row.contraction for row in usd] == USD_CONTRACTION
    assert [row.churn for row in usd] == USD_CHURN
    assert [row.arpa for row in usd] == USD_ARPA
    assert [row.revenue_churn for row in usd] == _pct(USD_REVENUE_CHURN)
    # Net new MRR adds up to the change of MRR, month after month (Jan starts from D's 60.00).
    starts = [6000, *USD_MRR[:-1]]
    assert [row.net_new for row in usd] == [e - s for s, e in zip(starts, USD_MRR, strict=True)]

    assert [row.mrr for row in eur] == EUR_MRR
    assert [row.new for row in eur] == EUR_NEW
    assert [row.expansion for row in eur] == [0] * 12
    assert [row.contraction for row in eur] == EUR_CONTRACTION
    assert [row.churn for row in eur] == EUR_CHURN
    assert [row.revenue_churn for row in eur] == _pct(EUR_REVENUE_CHURN)


def test_the_years_organizations_trials_and_failed_payments_match_the_hand_computation(
    fleet: dict[str, Tenant],
) -> None:
    overall = _figures().overall
    assert [m.paying for m in overall] == PAYING
    assert [m.paying_at_start for m in overall] == PAYING_AT_START
    assert [m.logo_churn for m in overall] == _pct(LOGO_CHURN)
    assert [m.trials_ended for m in overall] == TRIALS_ENDED
    assert [m.trials_converted for m in overall] == TRIALS_CONVERTED
    assert [m.trial_conversion for m in overall] == _pct(TRIAL_CONVERSION)
    assert [m.payments_failed for m in overall] == PAYMENTS_FAILED
    assert [m.payments_outstanding for m in overall] == PAYMENTS_OUTSTANDING
    assert [m.payments_recovered for m in overall] == PAYMENTS_RECOVERED
    assert [m.recovery_rate for m in overall] == _pct(RECOVERY_RATE)


def test_the_years_mrr_by_plan_matches_the_hand_computation(fleet: dict[str, Tenant]) -> None:
    figures = _figures()
    usd = {plan.code: rows for plan, rows in figures.by_plan["USD"].items()}
    eur = {plan.code: rows for plan, rows in figures.by_plan["EUR"].items()}
    assert list(usd) == ["starter", "growth"]
    assert [row.mrr for row in usd["growth"]] == GROWTH_USD
    assert [row.mrr for row in usd["starter"]] == STARTER_USD
    assert [row.paying for row in usd["growth"]] == GROWTH_USD_PAYING
    assert [row.paying for row in usd["starter"]] == STARTER_USD_PAYING
    # B's move from Starter to Growth in June is Growth's expansion; D's end is Starter's churn.
    assert usd["growth"][5].expansion == 2400
    assert usd["growth"][5].new == 3900
    assert usd["starter"][10].churn == 4800
    assert [row.mrr for row in eur["growth"]] == [0, 7200, 7200, 7200] + [0] * 8
    assert [row.mrr for row in eur["starter"]] == [0] * 4 + [2800] * 5 + [0] * 3


def test_a_later_price_change_leaves_past_months_as_they_were(fleet: dict[str, Tenant]) -> None:
    before = _figures()
    Price.objects.filter(plan__code="growth").update(unit_amount=9900)
    after = _figures()
    assert [row.mrr for row in after.by_currency["USD"]] == [
        row.mrr for row in before.by_currency["USD"]
    ]


def test_a_change_at_a_months_first_instant_counts_in_that_month(
    fleet: dict[str, Tenant],
) -> None:
    june = _figures().by_currency["USD"][5]
    may = _figures().by_currency["USD"][4]
    assert may.mrr == 19200  # B still on Starter at May's end
    assert june.expansion == 2400  # B's upgrade at June 1 00:00 is June's


# The page -----------------------------------------------------------------------------------


class _Cells(HTMLParser):
    """The cells of the page's tables, by table, row (month) and figure."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[str, dict[str, dict[str, str]]] = {}
        self._table = self._month = self._figure = ""
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table":
            self._table = found.get("data-testid") or ""
        elif tag == "tr":
            self._month = found.get("data-month") or ""
        elif tag == "td" and self._table and self._month:
            self._figure = (
                found.get("data-figure")
                or (f"mrr:{found['data-plan-mrr']}" if found.get("data-plan-mrr") else "")
                or (f"paying:{found['data-plan-paying']}" if found.get("data-plan-paying") else "")
            )
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._figure:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._figure:
            rows = self.cells.setdefault(self._table, {})
            rows.setdefault(self._month, {})[self._figure] = "".join(self._text).strip()
            self._figure = ""
        elif tag == "table":
            self._table = ""


def _column(page: dict[str, dict[str, dict[str, str]]], table: str, figure: str) -> list[str]:
    rows = page[table]
    return [rows[month.strftime("%Y-%m")][figure] for month in MONTHS]


def _written(cents: list[int]) -> list[str]:
    return [f"{Decimal(value) / 100:,.2f}" for value in cents]


def _written_pct(values: list[str | None]) -> list[str]:
    return ["—" if value is None else f"{value}%" for value in values]


@pytest.fixture
def finance_staff(db: None) -> User:
    user = UserFactory(email="finance@mycrm.test", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_finance"))
    return user


def _client(user: User | None = None) -> Client:
    client = Client(HTTP_HOST=settings.BASE_DOMAIN)
    if user is not None:
        client.force_login(user)
    return client


def test_the_page_shows_the_hand_computed_year(
    fleet: dict[str, Tenant], finance_staff: User
) -> None:
    response = _client(finance_staff).get(FINANCE)
    assert response.status_code == 200
    parser = _Cells()
    parser.feed(response.content.decode())
    page = parser.cells
    assert _column(page, "figures-USD", "mrr") == _written(USD_MRR)
    assert _column(page, "figures-USD", "arr") == _written([mrr * 12 for mrr in USD_MRR])
    assert _column(page, "figures-USD", "new") == _written(USD_NEW)
    assert _column(page, "figures-USD", "expansion") == _written(USD_EXPANSION)
    assert _column(page, "figures-USD", "contraction") == _written(USD_CONTRACTION)
    assert _column(page, "figures-USD", "churn") == _written(USD_CHURN)
    assert _column(page, "figures-USD", "arpa") == _written(USD_ARPA)
    assert _column(page, "figures-USD", "revenue_churn") == _written_pct(USD_REVENUE_CHURN)
    assert _column(page, "figures-EUR", "mrr") == _written(EUR_MRR)
    assert _column(page, "figures-EUR", "churn") == _written(EUR_CHURN)
    assert _column(page, "figures-EUR", "revenue_churn") == _written_pct(EUR_REVENUE_CHURN)
    assert _column(page, "plans-USD", "mrr:growth") == _written(GROWTH_USD)
    assert _column(page, "plans-USD", "paying:starter") == [str(n) for n in STARTER_USD_PAYING]
    # Each plan's movements: B's move to Growth in June, D's end on Starter in November.
    growth_june = page["movements-USD-growth"][MONTHS[5].strftime("%Y-%m")]
    assert (growth_june["new"], growth_june["expansion"]) == ("39.00", "24.00")
    assert page["movements-USD-starter"][MONTHS[10].strftime("%Y-%m")]["churn"] == "48.00"
    assert _column(page, "movements-USD-growth", "mrr") == _written(GROWTH_USD)
    assert _column(page, "overall", "logo_churn") == _written_pct(LOGO_CHURN)
    assert _column(page, "overall", "trial_conversion") == _written_pct(TRIAL_CONVERSION)
    assert _column(page, "overall", "payments_recovered") == [str(n) for n in PAYMENTS_RECOVERED]
    assert _column(page, "overall", "recovery_rate") == _written_pct(RECOVERY_RATE)
    # Each chart has its canvas and its data; amounts in the charts are in major units.
    charts = response.context["charts"]
    assert charts["chart-mrr-usd"]["datasets"][0]["values"][-1] == 171.0
    for chart_id in charts:
        assert f'data-finance-chart="{chart_id}"' in response.content.decode()
    assert "How these figures are computed" in response.content.decode()
    # The range form starts at the months shown.
    assert 'value="2025-01"' in response.content.decode()
    assert 'value="2025-12"' in response.content.decode()


def test_the_page_shows_a_range_of_months_asked_for(
    fleet: dict[str, Tenant], finance_staff: User
) -> None:
    response = _client(finance_staff).get(FINANCE, {"first": "2025-06", "last": "2025-08"})
    assert response.status_code == 200
    assert [row.mrr for row in response.context["figures"].by_currency["USD"]] == USD_MRR[5:8]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"first": "2025-08", "last": "2025-06"}, "last"),
        ({"first": "June", "last": "2025-06"}, "first"),
        ({"first": "2020-01", "last": "2025-06"}, "last"),
    ],
)
def test_a_range_that_makes_no_sense_is_a_field_error_not_a_500(
    finance_staff: User, query: dict[str, str], field: str
) -> None:
    response = _client(finance_staff).get(FINANCE, query)
    assert response.status_code == 400
    assert response.context["form"].errors[field]
    assert response.context["figures"].months  # the default months are still shown


# Who may open it ----------------------------------------------------------------------------

PAGES = [
    FINANCE,
    f"{FINANCE}subscriptions/",
    f"{FINANCE}subscriptions.csv",
    f"{FINANCE}invoices/",
    f"{FINANCE}invoices.csv",
]


@pytest.mark.parametrize("path", PAGES)
def test_a_visitor_is_sent_to_the_admins_sign_in(db: None, path: str) -> None:
    response = _client().get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")


@pytest.mark.parametrize("path", PAGES)
def test_staff_without_the_finance_permission_get_403(db: None, path: str) -> None:
    response = _client(UserFactory(email="ops@mycrm.test", is_staff=True)).get(path)
    assert response.status_code == 403


@pytest.mark.parametrize("path", PAGES)
def test_a_non_staff_user_with_the_permission_gets_403(db: None, path: str) -> None:
    user = UserFactory(email="not-staff@mycrm.test")
    user.user_permissions.add(Permission.objects.get(codename="view_finance"))
    assert _client(user).get(path).status_code == 403


@pytest.mark.parametrize("path", PAGES)
def test_an_organizations_owner_cannot_open_finance_on_its_host(
    tenant_a: Tenant, owner_a: User, path: str
) -> None:
    client = Client(HTTP_HOST=f"{tenant_a.slug}.{settings.BASE_DOMAIN}")
    client.force_login(owner_a)
    assert client.get(path).status_code == 404


def test_the_operator_admin_links_to_finance_for_finance_staff(finance_staff: User) -> None:
    shown = _client(finance_staff).get("/admin/")
    assert shown.status_code == 200
    assert f'href="{FINANCE}"' in shown.content.decode()
    operator = UserFactory(email="ops@mycrm.test", is_staff=True)
    hidden = _client(operator).get("/admin/")
    assert hidden.status_code == 200
    assert f'href="{FINANCE}"' not in hidden.content.decode()


# Lists and exports --------------------------------------------------------------------------


def _slugs(response: object) -> list[str]:
    """The fleet's organizations listed (the session's other organizations are left out)."""
    page = response.context["page"]  # type: ignore[attr-defined]
    return [s.organization.slug for s in page if s.organization.slug.startswith("fin-")]


def test_subscriptions_are_filtered_by_plan_status_provider_and_currency(
    fleet: dict[str, Tenant], finance_staff: User
) -> None:
    client = _client(finance_staff)
    growth = Plan.objects.get(code="growth")
    paying = client.get(f"{FINANCE}subscriptions/", {"plan": growth.pk, "status": "active"})
    assert paying.status_code == 200
    assert sorted(_slugs(paying)) == ["fin-a", "fin-b"]
    eur = client.get(f"{FINANCE}subscriptions/", {"currency": "EUR", "provider": "stripe"})
    assert _slugs(eur) == ["fin-c"]
    canceled = client.get(f"{FINANCE}subscriptions/", {"status": "canceled"})
    assert sorted(_slugs(canceled)) == ["fin-c", "fin-f"]


def test_subscriptions_are_filtered_by_the_day_they_started(
    fleet: dict[str, Tenant], finance_staff: User
) -> None:
    Subscription.objects.filter(organization__slug="fin-e").update(created_at=at(3, 3))
    response = _client(finance_staff).get(
        f"{FINANCE}subscriptions/", {"created_from": "2025-03-03", "created_to": "2025-03-03"}
    )
    assert _slugs(response) == ["fin-e"]


def test_bad_filters_are_field_errors_not_a_500(finance_staff: User) -> None:
    client = _client(finance_staff)
    response = client.get(
        f"{FINANCE}subscriptions/",
        {"plan": "999999", "status": "sleeping", "created_from": "2025-02-30"},
    )
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"plan", "status", "created_from"}
    backwards = client.get(
        f"{FINANCE}invoices.csv", {"issued_from": "2025-09-01", "issued_to": "2025-08-01"}
    )
    assert backwards.status_code == 400
    assert backwards.context["form"].errors["issued_to"]


def test_invoices_are_filtered_by_status_currency_and_issue_day(
    fleet: dict[str, Tenant], finance_staff: User
) -> None:
    client = _client(finance_staff)

    def numbers(query: dict[str, str]) -> list[str]:
        response = client.get(f"{FINANCE}invoices/", query)
        assert response.status_code == 200
        return [
            invoice.number
            for invoice in response.context["page"]
            if invoice.organization.slug.startswith("fin-")
        ]

    assert numbers({"currency": "EUR"}) == ["C-1"]
    assert numbers({"status": "open"}) == ["F-11"]
    assert numbers({"issued_from": "2025-08-01", "issued_to": "2025-08-31"}) == ["B-8"]
    growth = Plan.objects.get(code="growth")
    assert sorted(numbers({"plan": str(growth.pk)})) == ["A-1", "B-8"]


def _csv(response: object) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    return list(csv.DictReader(io.StringIO(body)))


def test_the_subscriptions_csv_has_the_filtered_rows(
    fleet: dict[str, Tenant], finance_staff: User
) -> None:
    response = _client(finance_staff).get(f"{FINANCE}subscriptions.csv", {"currency": "USD"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = {row["organization"]: row for row in _csv(response)}
    assert {"fin-a", "fin-b", "fin-d", "fin-f"} <= set(rows)
    assert "fin-c" not in rows
    assert rows["fin-a"]["mrr"] == "117.00"
    assert rows["fin-a"]["seats"] == "3"
    assert rows["fin-d"]["plan"] == "starter"
    assert rows["fin-f"]["status"] == "canceled"


def test_the_invoices_csv_has_the_filtered_rows(
    fleet: dict[str, Tenant], finance_staff: User
) -> None:
    response = _client(finance_staff).get(f"{FINANCE}invoices.csv", {"provider": "stripe"})
    assert response.status_code == 200
    rows = {row["number"]: row for row in _csv(response) if row["organization"].startswith("fin-")}
    assert set(rows) == {"A-1", "B-8", "C-1", "F-11"}
    assert rows["B-8"]["status"] == "paid"
    assert rows["B-8"]["payment_failed_at"] == "2025-08-05T09:00:00Z"
    assert rows["C-1"]["total"] == "72.00"
    assert rows["C-1"]["currency"] == "EUR"


def test_the_figures_read_the_history_in_a_fixed_number_of_queries(
    fleet: dict[str, Tenant], django_assert_max_num_queries: object
) -> None:
    SubscriptionChange.objects.filter(organization__slug__startswith="fin-").count()
    with django_assert_max_num_queries(4):  # type: ignore[operator]
        _figures()


@pytest.mark.parametrize("path", [f"{FINANCE}subscriptions/", f"{FINANCE}invoices/"])
def test_a_list_page_reads_a_fixed_number_of_statements_however_long_the_list(
    fleet: dict[str, Tenant],
    finance_staff: User,
    path: str,
    django_assert_max_num_queries: object,
) -> None:
    client = _client(finance_staff)
    # The session, the user and permissions, the filters' choices, the count and the page.
    with django_assert_max_num_queries(10):  # type: ignore[operator]
        response = client.get(path)
    assert response.status_code == 200
    assert len(response.context["page"]) >= 4


def test_a_move_to_another_currency_churns_in_one_and_is_new_in_the_other(db: None) -> None:
    _prices()
    org = _org("x")
    with time_machine.travel(at(1, 1), tick=False):
        trial_start(tenant=org, at=at(1, 2))
        _apply(org, at(1, 5), price="starter-usd-month", quantity=2)
        _apply(org, at(3, 7), price="growth-eur-month", quantity=2)
    figures = finance_figures(first=dt.date(2025, 1, 1), last=dt.date(2025, 3, 1))
    usd = figures.by_currency["USD"]
    eur = figures.by_currency["EUR"]
    assert [row.mrr for row in usd] == [3000, 3000, 0]
    assert [row.mrr for row in eur] == [0, 0, 7200]
    assert usd[2].churn == 3000 and usd[2].contraction == 0
    assert eur[2].new == 7200 and eur[2].expansion == 0
    # The organization kept paying: it is no lost customer.
    assert [m.paying for m in figures.overall] == [1, 1, 1]
    assert figures.overall[2].churned_organizations == 0
    assert figures.overall[2].logo_churn == Decimal("0.0")
