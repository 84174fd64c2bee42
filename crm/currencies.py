"""ISO 4217 currency codes, from the pycountry data set, for every money field of the CRM."""

from typing import Any

import pycountry

CURRENCY_HELP = "Enter a currency as its three-letter ISO 4217 code, such as EUR or USD."


def is_currency(code: str) -> bool:
    """Whether `code` is an active ISO 4217 code (upper case, as stored)."""
    return len(code) == 3 and pycountry.currencies.get(alpha_3=code) is not None


def currency_clean(value: Any) -> str | None:
    """The ISO 4217 code `value` names (spaces around and case aside), or None when it names
    none; callers turn None into a field error (`CURRENCY_HELP`)."""
    if not isinstance(value, str):
        return None
    code = value.strip().upper()
    return code if code.isascii() and code.isalpha() and is_currency(code) else None
