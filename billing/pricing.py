"""The public price list, as the pricing page shows it: each public plan with its price per
seat in one currency, monthly or yearly, and what it allows.

Read from the plans and prices operators keep in the operator admin, so the page changes
when they do and never disagrees with what checkout charges.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from .models import FEATURES, LIMIT_LABELS, LIMITS, Interval, Plan, Price

CURRENCY_SIGNS = {"USD": "$", "EUR": "€", "GBP": "£"}
FEATURE_LABELS = {
    "sso": "Single sign-on (SSO)",
    "custom_roles": "Custom roles",
    "audit_log_retention_days": "Audit log",
    "automation": "Automation",
    "lead_scoring_models": "Lead-scoring models",
}
LIMIT_TITLES = {
    "seats": "Members",
    "contacts": "Contacts",
    "custom_fields": "Custom fields",
    "api_tokens": "API tokens",
    "imports_per_day": "Imports a day",
}


@dataclass(frozen=True)
class Allowance:
    """One line of a plan's card: a limit or a feature, and what the plan says of it."""

    title: str
    value: str
    included: bool


@dataclass(frozen=True)
class Offer:
    """A public plan as the pricing page shows it in one currency and interval."""

    plan: Plan
    price: str  # per seat, per month ("$39"); "" when the plan has no price here
    billed: str  # how it is billed ("billed yearly, $374.40 a seat"), or ""
    is_free: bool
    limits: list[Allowance]
    features: list[Allowance]


def money(amount_minor: int, currency: str) -> str:
    """An amount in minor units as people read it: $15, €13.40, 25.00 CHF."""
    amount = Decimal(amount_minor) / 100
    text = f"{amount:,.0f}" if amount == amount.to_integral_value() else f"{amount:,.2f}"
    sign = CURRENCY_SIGNS.get(currency)
    return f"{sign}{text}" if sign else f"{text} {currency}"


def pricing_currencies() -> list[str]:
    """The currencies some public plan has an active price in, the default one first."""
    found = set(
        Price.objects.filter(active=True, plan__is_public=True, plan__organization=None)
        .values_list("currency", flat=True)
        .distinct()
    )
    default = settings.BILLING_DEFAULT_CURRENCY
    return sorted(found, key=lambda c: (c != default, c))


def _limits(plan: Plan) -> list[Allowance]:
    lines = []
    for name in LIMITS:
        value = plan.limit(name)
        shown = "Unlimited" if value is None else f"{value:,}"
        lines.append(
            Allowance(title=LIMIT_TITLES.get(name, LIMIT_LABELS[name]), value=shown, included=True)
        )
    return lines


def _features(plan: Plan) -> list[Allowance]:
    lines = []
    for name in FEATURES:
        value = plan.features.get(name)
        if name == "audit_log_retention_days":
            shown = f"kept {value:,} days" if value else ""
        else:
            shown = ""
        lines.append(Allowance(title=FEATURE_LABELS[name], value=shown, included=bool(value)))
    return lines


def pricing_offers(*, currency: str, interval: str) -> list[Offer]:
    """The public plans, cheapest first, priced per seat and month in `currency` (a yearly
    price spread over its twelve months when `interval` is yearly)."""
    plans = Plan.objects.filter(is_public=True, organization=None).prefetch_related("prices")
    offers = []
    for plan in plans.order_by("rank", "code"):
        prices = {p.interval: p for p in plan.prices.all() if p.active and p.currency == currency}
        chosen = prices.get(interval)
        has_prices = any(p.active for p in plan.prices.all())
        price = billed = ""
        if chosen is not None:
            price = money(chosen.monthly_amount, currency)
            if chosen.interval == Interval.YEAR:
                billed = f"billed yearly, {money(chosen.unit_amount, currency)} a seat"
            else:
                billed = "billed monthly"
        offers.append(
            Offer(
                plan=plan,
                price=price,
                billed=billed,
                is_free=not has_prices and not plan.contact_sales,
                limits=_limits(plan),
                features=_features(plan),
            )
        )
    return offers


def yearly_saving(*, currency: str) -> int:
    """The most a public plan saves, in percent, when paid yearly rather than monthly."""
    best = 0
    for plan in Plan.objects.filter(is_public=True, organization=None).prefetch_related("prices"):
        prices = {p.interval: p for p in plan.prices.all() if p.active and p.currency == currency}
        month, year = prices.get(Interval.MONTH), prices.get(Interval.YEAR)
        if month is not None and year is not None and month.unit_amount:
            best = max(best, round(100 * (1 - year.unit_amount / (12 * month.unit_amount))))
    return best
