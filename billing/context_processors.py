"""What every page of an organization needs from billing: the payment banner."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .standing import standing_message, standing_of


def billing(request: HttpRequest) -> dict[str, Any]:
    """The organization's standing and the banner's text, for its members' pages.

    Both are lazy: a page that never shows the banner (an htmx partial) never reads them.
    """
    tenant = getattr(request, "tenant", None)
    if tenant is None or getattr(request, "membership", None) is None:
        return {}
    standing = SimpleLazyObject(lambda: standing_of(tenant))
    message = SimpleLazyObject(lambda: standing_message(tenant, standing_of(tenant)))
    return {"billing_standing": standing, "billing_message": message}
