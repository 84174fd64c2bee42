"""Amounts kept in minor units, written for people: `{{ invoice.total|money:invoice.currency }}`;
and counts with their thousands grouped: `{{ usage.limit|count }}`."""

from decimal import Decimal

from django import template

register = template.Library()

# ISO 4217 currencies without minor units (their amounts are already whole).
_ZERO_DECIMAL = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "HUF", "XAF", "XOF"})


@register.filter
def money(amount: int | None, currency: str = "") -> str:
    """`1999, "USD"` → "19.99 USD" (whole units for currencies that have no cents)."""
    if amount is None:
        return "—"
    code = (currency or "").upper()
    if code in _ZERO_DECIMAL:
        return f"{amount:,} {code}".strip()
    return f"{Decimal(amount) / 100:,.2f} {code}".strip()


@register.filter
def count(number: int | None) -> str:
    """`250000` → "250,000", as the pricing page writes limits."""
    return "—" if number is None else f"{number:,}"
