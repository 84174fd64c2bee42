"""The Finance page on the bare domain: revenue figures by month and by plan with their charts,
and the subscription and invoice lists with their filters and CSV exports.

Only staff with the `billing.view_finance` permission see it: a visitor who is not signed in
is sent to the admin's sign-in, anyone else gets 403.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from functools import wraps
from typing import Any, cast

import structlog
from django import forms
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from billing.models import Invoice, Plan, Provider, Subscription
from billing.selectors.finance import (
    MAX_MONTHS,
    FinanceFigures,
    default_months,
    finance_currencies,
    finance_figures,
    finance_invoice_list,
    finance_subscription_list,
    month_add,
)
from billing.services.subscriptions import mrr_of

log = structlog.get_logger(__name__)

FINANCE_PERMISSION = "billing.view_finance"
PAGE_SIZE = 50
# Currencies whose minor unit is the unit itself (ISO 4217 exponent 0); the rest have cents.
ZERO_DECIMAL_CURRENCIES = frozenset({"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW"})


def can_view_finance(user: Any) -> bool:
    return bool(user.is_active and user.is_staff and user.has_perm(FINANCE_PERMISSION))


def finance_staff_required(
    view: Callable[..., HttpResponseBase],
) -> Callable[..., HttpResponseBase]:
    """Staff with the finance permission only: strangers sign in first, others get 403."""

    @wraps(view)
    def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        if not can_view_finance(request.user):
            raise PermissionDenied("Only finance staff can open the Finance page.")
        return view(request, *args, **kwargs)

    return inner


def major(amount: int | None, currency: str) -> Decimal | None:
    """An amount in minor units as the currency writes it (cents to dollars)."""
    if amount is None:
        return None
    if currency.upper() in ZERO_DECIMAL_CURRENCIES:
        return Decimal(amount)
    return (Decimal(amount) / 100).quantize(Decimal("0.01"))


# Forms ------------------------------------------------------------------------------------


class MonthField(forms.DateField):
    """A month written as YYYY-MM (the value of an <input type="month">)."""

    input_formats = ["%Y-%m"]
    widget = forms.DateInput(attrs={"type": "month"}, format="%Y-%m")


class RangeForm(forms.Form):
    first = MonthField(label="From", required=False)
    last = MonthField(label="To", required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, last = data.get("first"), data.get("last")
        if first and last:
            if first > last:
                self.add_error("last", "The last month comes after the first.")
            elif month_add(first, MAX_MONTHS - 1) < last:
                self.add_error("last", f"Show at most {MAX_MONTHS} months at once.")
        return data


def _choices(values: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return [("", "Any"), *values]


class ListFilterForm(forms.Form):
    """What both lists filter on; the date fields are named by the subclass."""

    plan = forms.ModelChoiceField(
        queryset=Plan.objects.order_by("rank", "code"), required=False, empty_label="Any"
    )
    provider = forms.ChoiceField(choices=_choices(Provider.choices), required=False)
    currency = forms.ChoiceField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        currency = cast(forms.ChoiceField, self.fields["currency"])
        currency.choices = _choices((code, code) for code in finance_currencies())

    def _check_days(self, data: dict[str, Any], start: str, end: str) -> None:
        if data.get(start) and data.get(end) and data[start] > data[end]:
            self.add_error(end, "The last day comes after the first.")


class SubscriptionFilterForm(ListFilterForm):
    status = forms.ChoiceField(choices=_choices(Subscription.Status.choices), required=False)
    created_from = forms.DateField(
        label="Started from", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    created_to = forms.DateField(
        label="Started to", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        self._check_days(data, "created_from", "created_to")
        return data


class InvoiceFilterForm(ListFilterForm):
    status = forms.ChoiceField(choices=_choices(Invoice.Status.choices), required=False)
    issued_from = forms.DateField(
        label="Issued from", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    issued_to = forms.DateField(
        label="Issued to", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        self._check_days(data, "issued_from", "issued_to")
        return data


# Figures ----------------------------------------------------------------------------------


def _percent(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _money(amount: int | None, currency: str) -> float | None:
    value = major(amount, currency)
    return None if value is None else float(value)


def _charts(figures: FinanceFigures) -> dict[str, dict[str, Any]]:
    """Each chart's data, by the id its <canvas> names (read by frontend/src/finance.js)."""
    labels = [month.strftime("%b %Y") for month in figures.months]
    charts: dict[str, dict[str, Any]] = {}
    for currency, rows in figures.by_currency.items():
        key = currency.lower()
        charts[f"chart-mrr-{key}"] = {
            "type": "line",
            "labels": labels,
            "unit": currency,
            "datasets": [
                {"label": f"MRR ({currency})", "values": [_money(r.mrr, currency) for r in rows]}
            ],
        }
        charts[f"chart-arr-{key}"] = {
            "type": "line",
            "labels": labels,
            "unit": currency,
            "datasets": [
                {"label": f"ARR ({currency})", "values": [_money(r.arr, currency) for r in rows]}
            ],
        }
        charts[f"chart-movements-{key}"] = {
            "type": "bar",
            "stacked": True,
            "labels": labels,
            "unit": currency,
            "datasets": [
                {"label": "New", "values": [_money(r.new, currency) for r in rows]},
                {"label": "Expansion", "values": [_money(r.expansion, currency) for r in rows]},
                {
                    "label": "Contraction",
                    "values": [_money(-r.contraction, currency) for r in rows],
                },
                {"label": "Churn", "values": [_money(-r.churn, currency) for r in rows]},
            ],
        }
        charts[f"chart-arpa-{key}"] = {
            "type": "line",
            "labels": labels,
            "unit": currency,
            "datasets": [
                {"label": f"ARPA ({currency})", "values": [_money(r.arpa, currency) for r in rows]}
            ],
        }
        charts[f"chart-revenue-churn-{key}"] = {
            "type": "line",
            "labels": labels,
            "percent": True,
            "datasets": [
                {"label": "Revenue churn", "values": [_percent(r.revenue_churn) for r in rows]}
            ],
        }
        charts[f"chart-plans-{key}"] = {
            "type": "bar",
            "stacked": True,
            "labels": labels,
            "unit": currency,
            "datasets": [
                {"label": plan.name, "values": [_money(r.mrr, currency) for r in plan_rows]}
                for plan, plan_rows in figures.by_plan[currency].items()
            ],
        }
    overall = figures.overall
    charts["chart-logo-churn"] = {
        "type": "line",
        "labels": labels,
        "percent": True,
        "datasets": [{"label": "Logo churn", "values": [_percent(m.logo_churn) for m in overall]}],
    }
    charts["chart-trials"] = {
        "type": "bar",
        "labels": labels,
        "percent": True,
        "datasets": [
            {"label": "Trial conversion", "values": [_percent(m.trial_conversion) for m in overall]}
        ],
    }
    charts["chart-recovered"] = {
        "type": "bar",
        "labels": labels,
        "counts": True,
        "datasets": [
            {"label": "Failed", "values": [m.payments_failed for m in overall]},
            {"label": "Recovered", "values": [m.payments_recovered for m in overall]},
        ],
    }
    return charts


def _sections(figures: FinanceFigures) -> list[dict[str, Any]]:
    """One section a currency: its monthly rows, its plans, and each month's row of each plan."""
    sections = []
    for currency, rows in figures.by_currency.items():
        plans = figures.by_plan[currency]
        sections.append(
            {
                "currency": currency,
                "rows": rows,
                "plans": list(plans),
                "plan_rows": [
                    (month, [(plan, plan_rows[i]) for plan, plan_rows in plans.items()])
                    for i, month in enumerate(figures.months)
                ],
            }
        )
    return sections


@require_GET
@finance_staff_required
def finance_overview(request: HttpRequest) -> HttpResponse:
    """The revenue figures of a range of months (the last twelve unless asked).

    A range that does not make sense is shown with its errors beside the last twelve months.
    """
    first, last = default_months()
    form = RangeForm(request.GET or None, initial={"first": first, "last": last})
    valid = not form.is_bound or form.is_valid()
    if form.is_bound and valid:
        last = form.cleaned_data["last"] or last
        first = form.cleaned_data["first"] or month_add(last, -11)
        if first > last:
            first = last
        first = max(first, month_add(last, -(MAX_MONTHS - 1)))
    figures = finance_figures(first=first, last=last)
    return render(
        request,
        "billing/finance/overview.html",
        {
            "form": form,
            "figures": figures,
            "sections": _sections(figures),
            "charts": _charts(figures),
            "first": first,
            "last": last,
        },
        status=200 if valid else 400,
    )


# Lists and exports ------------------------------------------------------------------------


class _Echo:
    """A file-like object whose write returns the line, for streaming CSV rows."""

    def write(self, value: str) -> str:
        return value


def _csv_response(
    filename: str, header: list[str], rows: Iterator[list[Any]]
) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _stamp(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


# Each list's page and the route of its CSV export.
_SUBSCRIPTIONS = ("billing/finance/subscriptions.html", "billing_public:finance_subscriptions_csv")
_INVOICES = ("billing/finance/invoices.html", "billing_public:finance_invoices_csv")


def _list_page(
    request: HttpRequest,
    *,
    form: forms.Form,
    rows: QuerySet[Any] | None,
    listing: tuple[str, str],
) -> HttpResponse:
    """A list's page of rows, or its form's errors (400) when `rows` is None."""
    template, export = listing
    page = (
        Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page")) if rows is not None else None
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        template,
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "export_url": f"{reverse(export)}?{query.urlencode()}",
        },
        status=200 if rows is not None else 400,
    )


@require_GET
@finance_staff_required
def finance_subscriptions(request: HttpRequest) -> HttpResponse:
    form = SubscriptionFilterForm(request.GET)
    rows = finance_subscription_list(filters=form.cleaned_data) if form.is_valid() else None
    return _list_page(
        request,
        form=form,
        rows=rows,
        listing=_SUBSCRIPTIONS,
    )


@require_GET
@finance_staff_required
def finance_subscriptions_csv(request: HttpRequest) -> HttpResponseBase:
    form = SubscriptionFilterForm(request.GET)
    if not form.is_valid():
        return _list_page(
            request,
            form=form,
            rows=None,
            listing=_SUBSCRIPTIONS,
        )
    rows = finance_subscription_list(filters=form.cleaned_data)
    log.info("billing.finance_export", list="subscriptions", user=request.user.pk)

    def lines() -> Iterator[list[Any]]:
        for s in rows.iterator(chunk_size=500):
            mrr = mrr_of(s)
            yield [
                s.organization.slug,
                s.organization.name,
                s.plan.code,
                s.status,
                s.provider,
                s.currency,
                s.quantity,
                s.price.interval if s.price else "",
                major(mrr, s.currency),
                s.dunning,
                "yes" if s.cancel_at_period_end else "no",
                _stamp(s.trial_ends_at),
                _stamp(s.current_period_end),
                _stamp(s.created_at),
            ]

    today = timezone.now().date().isoformat()
    return _csv_response(
        f"subscriptions-{today}.csv",
        [
            "organization",
            "organization_name",
            "plan",
            "status",
            "provider",
            "currency",
            "seats",
            "interval",
            "mrr",
            "dunning",
            "cancel_at_period_end",
            "trial_ends_at",
            "current_period_end",
            "started_at",
        ],
        lines(),
    )


@require_GET
@finance_staff_required
def finance_invoices(request: HttpRequest) -> HttpResponse:
    form = InvoiceFilterForm(request.GET)
    rows = finance_invoice_list(filters=form.cleaned_data) if form.is_valid() else None
    return _list_page(
        request,
        form=form,
        rows=rows,
        listing=_INVOICES,
    )


@require_GET
@finance_staff_required
def finance_invoices_csv(request: HttpRequest) -> HttpResponseBase:
    form = InvoiceFilterForm(request.GET)
    if not form.is_valid():
        return _list_page(
            request,
            form=form,
            rows=None,
            listing=_INVOICES,
        )
    rows = finance_invoice_list(filters=form.cleaned_data)
    log.info("billing.finance_export", list="invoices", user=request.user.pk)

    def lines() -> Iterator[list[Any]]:
        for i in rows.iterator(chunk_size=500):
            yield [
                i.number or i.provider_invoice_id,
                i.organization.slug,
                i.provider,
                i.status,
                i.currency,
                major(i.subtotal, i.currency),
                major(i.tax, i.currency),
                major(i.total, i.currency),
                major(i.amount_paid, i.currency),
                _stamp(i.issued_at),
                _stamp(i.due_at),
                _stamp(i.paid_at),
                _stamp(i.payment_failed_at),
            ]

    today = timezone.now().date().isoformat()
    return _csv_response(
        f"invoices-{today}.csv",
        [
            "number",
            "organization",
            "provider",
            "status",
            "currency",
            "subtotal",
            "tax",
            "total",
            "amount_paid",
            "issued_at",
            "due_at",
            "paid_at",
            "payment_failed_at",
        ],
        lines(),
    )
