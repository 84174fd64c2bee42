"""Provider webhooks: verified, stored once, acknowledged, then applied once by a task.

A delivery is stored under its (provider, event id) before it is acknowledged, so a retry of
the same event finds it and adds nothing. Applying takes the stored row's lock (skipping a row
another worker holds) and marks it applied in the same transaction as its effect, so however
often and however concurrently an event arrives, it changes the subscription once. Out of
order events are safe because the subscription services ignore states older (by the
provider's clock) than the one stored.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping

import structlog
from django.db import connection, transaction
from django.utils import timezone

from billing.models import WebhookEvent
from billing.providers import provider_for
from billing.providers.base import ProviderUpdate

from .subscriptions import invoice_apply_state, subscription_apply_state

log = structlog.get_logger(__name__)

State = WebhookEvent.State
# A stored event that keeps failing is retried by the sweep this many times, then left
# FAILED for an operator to look at in the admin.
MAX_ATTEMPTS = 10
# The sweep leaves fresh events to the task their delivery queued.
SWEEP_AFTER = dt.timedelta(seconds=30)
WEBHOOK_PROVIDERS = ("stripe", "paddle")


class NotLinkedYet(Exception):
    """The event is about a subscription no organization is linked to yet (its checkout
    event may still be on its way); applying it is tried again later."""


def webhook_receive(
    *, provider: str, body: bytes, headers: Mapping[str, str]
) -> tuple[WebhookEvent, bool]:
    """Verify a delivery and store its event once; return it and whether it was new.

    Raises InvalidSignature (nothing stored) when the signature is missing, wrong or stale.
    A new event's application is queued when the transaction commits.
    """
    event = provider_for(provider).verify_webhook(body=body, headers=headers)
    # One statement, atomic on its own (no BEGIN/COMMIT around it): a concurrent or
    # repeated delivery of the same event finds the unique index taken and stores nothing.
    # Outside a transaction the task is queued at once; inside one, when it commits.
    with connection.cursor() as cursor:
        cursor.execute(
            _STORE_SQL,
            [
                provider,
                event.event_id,
                event.event_type,
                event.occurred_at,
                json.dumps(event.payload),
                State.PENDING,
            ],
        )
        inserted = cursor.fetchone()
    created = inserted is not None
    if created:
        pk = int(inserted[0])
        transaction.on_commit(lambda: _queue(pk), robust=True)
        row = WebhookEvent(
            pk=pk,
            provider=provider,
            event_id=event.event_id,
            event_type=event.event_type,
            occurred_at=event.occurred_at,
            payload=event.payload,
        )
    else:
        row = WebhookEvent.objects.get(provider=provider, event_id=event.event_id)
    log.info(
        "billing.webhook_received",
        provider=provider,
        event_id=event.event_id,
        type=event.event_type,
        duplicate=not created,
    )
    return row, created


_STORE_SQL = f"""
    INSERT INTO {WebhookEvent._meta.db_table}
        (provider, event_id, event_type, occurred_at, payload, state, received_at, attempts,
         error)
    VALUES (%s, %s, %s, %s, %s::jsonb, %s, now(), 0, '')
    ON CONFLICT (provider, event_id) DO NOTHING
    RETURNING id
"""  # noqa: S608 - the table name is the model's own


def _queue(pk: int) -> None:
    from billing.tasks import webhook_apply

    webhook_apply.delay(pk)


def webhook_apply(*, event_pk: int) -> WebhookEvent | None:
    """Apply a stored event once; None when it is done already or another worker has it.

    The effect and the APPLIED mark commit together; a failure rolls the effect back and
    leaves the event FAILED with its error, for the sweep to retry.
    """
    with transaction.atomic():
        row = (
            WebhookEvent.objects.select_for_update(skip_locked=True)
            .filter(pk=event_pk, state__in=(State.PENDING, State.FAILED))
            .first()
        )
        if row is None:
            return None
        row.attempts += 1
        try:
            with transaction.atomic():
                update = provider_for(row.provider).interpret(
                    event_type=row.event_type, payload=row.payload
                )
                row.state = _apply(row.provider, update)
        except Exception as exc:  # noqa: BLE001 - kept on the row and retried by the sweep
            row.state = State.FAILED
            row.error = f"{type(exc).__name__}: {exc}"[:2000]
            log.warning(
                "billing.webhook_failed",
                provider=row.provider,
                event_id=row.event_id,
                type=row.event_type,
                attempts=row.attempts,
                error=row.error,
                exc_info=not isinstance(exc, NotLinkedYet),
            )
        else:
            row.error = ""
            row.applied_at = timezone.now()
            log.info(
                "billing.webhook_applied",
                provider=row.provider,
                event_id=row.event_id,
                type=row.event_type,
                state=row.state,
            )
        row.save(update_fields=["state", "attempts", "error", "applied_at"])
    return row


def _apply(provider: str, update: ProviderUpdate | None) -> str:
    if update is None:
        return State.IGNORED
    if update.subscription is not None:
        subscription_apply_state(
            provider=provider, state=update.subscription, occurred_at=update.occurred_at
        )
    if update.invoice is not None:
        invoice = invoice_apply_state(
            provider=provider, state=update.invoice, occurred_at=update.occurred_at
        )
        if invoice is None:
            raise NotLinkedYet(f"no organization has subscription {update.invoice.subscription_id}")
    return State.APPLIED


def webhooks_retry(*, now: dt.datetime | None = None) -> int:
    """Apply the events left pending (their task was lost) or failed; return how many were
    tried. Each is applied on its own, so one that fails again does not hold up the rest."""
    now = now or timezone.now()
    due = (
        WebhookEvent.objects.filter(
            state__in=(State.PENDING, State.FAILED),
            received_at__lte=now - SWEEP_AFTER,
            attempts__lt=MAX_ATTEMPTS,
        )
        .order_by("occurred_at", "pk")
        .values_list("pk", flat=True)[:500]
    )
    tried = 0
    for pk in list(due):
        if webhook_apply(event_pk=pk) is not None:
            tried += 1
    return tried
