"""The page Paddle sends a buyer to: it opens Paddle's checkout for the transaction.

Paddle's checkout is not a page of Paddle's own: a transaction's checkout link is a page of
ours on a domain approved in Paddle, carrying `?_ptxn=<transaction id>`, where Paddle.js
(with the client-side token) opens the checkout for that transaction. The transaction id is
all the page knows; what the buyer pays for was fixed when the transaction was created.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

_TRANSACTION = re.compile(r"^txn_[a-z0-9]{26}$")


def _our_url(value: str) -> str:
    """`value` if it is a web address on our domain or an organization's host, else ""."""
    parts = urlsplit(value)
    host = (parts.hostname or "").lower()
    domain = settings.BASE_DOMAIN.lower()
    if parts.scheme not in ("http", "https") or not domain:
        return ""
    return value if host == domain or host.endswith("." + domain) else ""


def paddle_checkout(request: HttpRequest) -> HttpResponse:
    """Open Paddle's checkout for the transaction in `_ptxn`; 404 without a valid one."""
    transaction_id = request.GET.get("_ptxn", "")
    if not _TRANSACTION.match(transaction_id) or not settings.PADDLE_CLIENT_TOKEN:
        return render(request, "billing/paddle/checkout_missing.html", status=404)
    config = {
        "token": settings.PADDLE_CLIENT_TOKEN,
        # Paddle's sandbox client tokens start with "test_", live ones with "live_".
        "sandbox": settings.PADDLE_CLIENT_TOKEN.startswith("test_"),
        "transactionId": transaction_id,
        "successUrl": _our_url(request.GET.get("success_url", "")),
    }
    context = {"config": config, "cancel_url": _our_url(request.GET.get("cancel_url", ""))}
    return render(request, "billing/paddle/checkout.html", context)
