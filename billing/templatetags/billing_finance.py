"""Filters of the Finance page: amounts in minor units in tables of one currency, and shares."""

from __future__ import annotations

from decimal import Decimal

from django import template

from billing.models import Subscription
from billing.services.subscriptions import mrr_of
from billing.views.finance import major

register = template.Library()


@register.filter
def amount(value: int | None, currency: str) -> str:
    """`123456|amount:"USD"` is "1,234.56" (the table's heading names the currency)."""
    written = major(value, currency)
    return "—" if written is None else f"{written:,}"


@register.filter
def percent(value: Decimal | None) -> str:
    """A share with one decimal; a share of nothing (no paying organizations) is a dash."""
    return "—" if value is None else f"{value}%"


@register.filter
def mrr(subscription: Subscription) -> int:
    """What the subscription brings a month now (the lists' column; the figures use history)."""
    return mrr_of(subscription)
