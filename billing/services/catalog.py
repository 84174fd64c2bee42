"""The price catalog at the providers: every active price exists at each provider we use."""

from __future__ import annotations

import structlog
from django.conf import settings
from django.db import transaction

from billing.models import Price
from billing.providers import provider_for

log = structlog.get_logger(__name__)


def providers_configured() -> list[str]:
    """The providers whose credentials are set (checkout through them is possible)."""
    codes = []
    if settings.STRIPE_API_KEY:
        codes.append("stripe")
    if settings.PADDLE_API_KEY:
        codes.append("paddle")
    return codes


def catalog_sync(*, provider: str) -> int:
    """Make every active price exist at `provider` and keep its id; return how many ids were
    new or changed. Idempotent: the providers find a price made before instead of a copy."""
    implementation = provider_for(provider)
    changed = 0
    for price in Price.objects.select_related("plan").filter(active=True).order_by("pk"):
        provider_id = implementation.ensure_price(price=price)
        with transaction.atomic():
            locked = Price.objects.select_for_update().get(pk=price.pk)
            if locked.provider_ids.get(provider) == provider_id:
                continue
            locked.provider_ids = {**locked.provider_ids, provider: provider_id}
            locked.save(update_fields=["provider_ids"])
            changed += 1
    log.info("billing.catalog_synced", provider=provider, changed=changed)
    return changed
