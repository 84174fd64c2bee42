"""The one answer to "may this organization add N more of X" and "may it use feature F".

Every service that creates something a plan limits calls `require_capacity` inside the
transaction that creates it; over the limit it raises `PlanLimitReached` (402 `plan-limit`)
before anything is written. The packages that own the counted things register how to count
them (`register_counter`) when they start, so billing never reads their tables itself.

Counting and creating are serialized per organization and limit by a transaction-scoped
advisory lock, so two requests racing for the last seat cannot both get it. Only limited
things take the lock; an unlimited plan answers without counting.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection

from tenants.models import Tenant
from tenants.services import tenant_url

from .exceptions import FeatureNotInPlan, PlanLimitReached
from .models import LIMIT_LABELS, LIMITS, Plan, Subscription

# How to count each limited thing of an organization: called with the tenant and a cap, it
# returns the count, or any number above the cap once it knows the count passes it (so a
# count over 100,000 contacts can stop at the limit).
Counter = Callable[[Tenant, int | None], int]
_COUNTERS: dict[str, Counter] = {}

FREE_PLAN = "free"


@dataclass(frozen=True)
class Usage:
    """How much of one limit an organization uses."""

    name: str
    label: str
    used: int
    limit: int | None

    @property
    def over(self) -> bool:
        return self.limit is not None and self.used > self.limit

    @property
    def percent(self) -> int | None:
        if not self.limit:
            return None
        return min(100, round(100 * self.used / self.limit))


def register_counter(name: str) -> Callable[[Counter], Counter]:
    """Declare how the limited thing `name` (one of models.LIMITS) is counted."""
    if name not in LIMITS:
        raise ValueError(f"unknown limit {name!r}")

    def register(counter: Counter) -> Counter:
        _COUNTERS[name] = counter
        return counter

    return register


def plan_of(tenant: Tenant) -> Plan:
    """The plan whose limits apply to `tenant` now (Free when it has no subscription)."""
    subscription = (
        Subscription.objects.select_related("plan").filter(organization_id=tenant.pk).first()
    )
    if subscription is not None:
        return subscription.plan
    return Plan.objects.get(code=FREE_PLAN)


def upgrade_url(tenant: Tenant) -> str:
    """Where the organization's owners change their plan."""
    return tenant_url(tenant, "/settings/billing/")


def _lock(tenant: Tenant, name: str) -> None:
    """Hold, until the transaction ends, the right to count and add `name` for `tenant`."""
    digest = hashlib.blake2b(f"billing:{tenant.pk}:{name}".encode(), digest_size=8).digest()
    key = int.from_bytes(digest, "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def count(tenant: Tenant, name: str, cap: int | None = None) -> int:
    """How many `name` the organization has (possibly stopping just past `cap`)."""
    try:
        counter = _COUNTERS[name]
    except KeyError:
        raise LookupError(f"nothing registered to count {name!r}") from None
    return counter(tenant, cap)


def require_capacity(*, tenant: Tenant, name: str, adding: int = 1) -> None:
    """Refuse (PlanLimitReached) unless `tenant` may add `adding` more `name` under its plan.

    Call it inside the transaction that adds them: the advisory lock it takes keeps a racing
    request from counting the same free room until this one commits or rolls back.
    """
    if adding <= 0:
        return
    plan = plan_of(tenant)
    limit = plan.limit(name)
    if limit is None:
        return
    if connection.in_atomic_block:
        _lock(tenant, name)
    used = count(tenant, name, limit)
    if used + adding <= limit:
        return
    label = LIMIT_LABELS[name]
    room = max(0, limit - used)
    detail = (
        f"The {plan.name} plan allows {limit} {label}; this organization has {used}"
        + (f" and {adding} more would pass it" if adding > 1 else "")
        + (f" (room for {room} more)." if room and adding > 1 else ".")
        + " Upgrade to add more."
    )
    raise PlanLimitReached(
        detail,
        limit_name=name,
        limit=limit,
        current=used,
        requested=adding,
        plan=plan.code,
        upgrade_url=upgrade_url(tenant),
    )


def feature_enabled(*, tenant: Tenant, feature: str) -> bool:
    """Whether the organization's plan includes `feature`."""
    return plan_of(tenant).has_feature(feature)


def require_feature(*, tenant: Tenant, feature: str, label: str) -> None:
    """Refuse (FeatureNotInPlan) unless the organization's plan includes `feature`."""
    plan = plan_of(tenant)
    if plan.has_feature(feature):
        return
    raise FeatureNotInPlan(
        f"The {plan.name} plan does not include {label}. Upgrade to use it.",
        feature=feature,
        plan=plan.code,
        upgrade_url=upgrade_url(tenant),
    )


def usage(tenant: Tenant) -> list[Usage]:
    """Each limit of the organization's plan beside what it uses (for the Billing page)."""
    plan = plan_of(tenant)
    return [
        Usage(name=name, label=LIMIT_LABELS[name], used=count(tenant, name), limit=plan.limit(name))
        for name in LIMITS
        if name in _COUNTERS
    ]
