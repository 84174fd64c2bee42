"""Where an organization stands with its payments, as every request on its host needs to know.

The answer is read with one indexed statement and then kept on the organization's row that
`tenants.routing` caches per process, so it lives exactly as long as that row: when dunning
moves an organization on (or a payment brings it back), `standing_forget` drops the row from
every process's cache once the change commits, and the next request reads both afresh. No
second cache, and no second way for it to go stale.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection

from billing.models import Subscription
from tenants.models import Tenant
from tenants.routing import forget_host

_ATTRIBUTE = "_billing_standing"
_STANDING_SQL = f"""
    SELECT dunning, past_due_since FROM {Subscription._meta.db_table} WHERE organization_id = %s
"""  # noqa: S608 - the table name from the model, the organization is a parameter

Dunning = Subscription.Dunning


@dataclass(frozen=True)
class Standing:
    """The organization's dunning step and when its payment first failed (None if it didn't)."""

    dunning: str
    past_due_since: dt.datetime | None

    @property
    def is_past_due(self) -> bool:
        return self.dunning != Dunning.NONE

    @property
    def is_read_only(self) -> bool:
        return self.dunning in (Dunning.READ_ONLY, Dunning.SUSPENDED)


GOOD = Standing(dunning=Dunning.NONE, past_due_since=None)


def standing_of(tenant: Tenant) -> Standing:
    """The organization's standing, read once per cached row of it (see the module's note)."""
    kept: Standing | None = tenant.__dict__.get(_ATTRIBUTE)
    if kept is not None:
        return kept
    with connection.cursor() as cursor:
        cursor.execute(_STANDING_SQL, [tenant.pk])
        row = cursor.fetchone()
    standing = GOOD if row is None else Standing(dunning=row[0], past_due_since=row[1])
    tenant.__dict__[_ATTRIBUTE] = standing
    return standing


def standing_forget(tenant: Tenant) -> None:
    """Make every process read the organization's standing again once this transaction
    commits (call it in the transaction that changes the standing)."""
    tenant.__dict__.pop(_ATTRIBUTE, None)
    for host in tenant.domains.values_list("domain", flat=True):
        forget_host(host)


def standing_message(tenant: Tenant, standing: Standing) -> str:
    """What the banner says, and what a refused write says (one text for pages and the API)."""
    if standing.is_read_only:
        return (
            f"{tenant.name} is read-only because a payment is overdue: you can still read "
            "everything, but nothing can be added or changed until the payment is made in "
            "Billing settings."
        )
    if standing.is_past_due:
        return (
            f"The latest payment for {tenant.name} failed. Please pay it in Billing settings "
            "to keep adding and changing data."
        )
    return ""
