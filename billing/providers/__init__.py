"""The payment providers behind one interface; only this package imports their SDKs.

`provider_for(code)` returns the implementation of a provider code ("stripe", "paddle",
"manual"). A third provider is one new module listed in `_MODULES`.
"""

from __future__ import annotations

import importlib
from functools import cache

from .base import BillingProvider

_MODULES = {
    "stripe": "billing.providers.stripe",
    "paddle": "billing.providers.paddle",
    "manual": "billing.providers.manual",
}


@cache
def provider_for(code: str) -> BillingProvider:
    """The provider implementation for `code` (imported on first use: SDKs are heavy)."""
    try:
        module = importlib.import_module(_MODULES[code])
    except KeyError:
        raise LookupError(f"unknown billing provider {code!r}") from None
    provider: BillingProvider = module.PROVIDER
    return provider
