"""Plans, prices, subscriptions and their history, invoices and provider events; public schema.

Money is kept in minor units (cents) beside its ISO 4217 currency. A subscription is one per
organization; its history rows (`SubscriptionChange`) keep the monthly recurring revenue each
change produced, so a past month's figures never move when a price is edited later.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

# What a plan limits (counted things) and what it switches on (features). A limit of None in
# a plan's `limits` means unlimited; a feature missing from `features` is off.
LIMITS = ("seats", "contacts", "custom_fields", "api_tokens", "imports_per_day")
FEATURES = (
    "sso",
    "custom_roles",
    "audit_log_retention_days",
    "automation",
    "lead_scoring_models",
)
LIMIT_LABELS = {
    "seats": "members",
    "contacts": "contacts",
    "custom_fields": "custom fields",
    "api_tokens": "API tokens",
    "imports_per_day": "imports a day",
}


class Provider(models.TextChoices):
    STRIPE = "stripe", "Stripe"
    PADDLE = "paddle", "Paddle"
    MANUAL = "manual", "Manual invoicing"


class Interval(models.TextChoices):
    MONTH = "month", "Monthly"
    YEAR = "year", "Yearly"


class Plan(models.Model):
    """A plan: what it costs (its prices), how long it may be tried and what it allows."""

    code = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=80)
    description = models.CharField(max_length=300, blank=True)
    # The order plans climb in: a move to a higher rank is an upgrade.
    rank = models.PositiveSmallIntegerField(default=0)
    # Shown on the pricing page and offered in the Billing settings.
    is_public = models.BooleanField(default=True)
    # Sold by contract (no self-serve checkout): the pricing page says "Talk to us".
    contact_sales = models.BooleanField(default=False)
    trial_days = models.PositiveSmallIntegerField(default=0)
    # {"seats": 10, "contacts": 10000, ...}; a missing key or None is unlimited.
    limits = models.JSONField(default=dict, blank=True)
    # {"sso": true, "audit_log_retention_days": 90, ...}; missing or false is off.
    features = models.JSONField(default=dict, blank=True)
    # Set for a custom plan made for one organization (it is never public).
    organization = models.ForeignKey(
        "tenants.Tenant",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="custom_plans",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("rank", "code")

    def __str__(self) -> str:
        return self.name

    def limit(self, name: str) -> int | None:
        value = self.limits.get(name)
        return None if value is None else int(value)

    def has_feature(self, name: str) -> bool:
        return bool(self.features.get(name))


class Price(models.Model):
    """What one seat of a plan costs per month or per year in one currency."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="prices")
    interval = models.CharField(max_length=8, choices=Interval.choices)
    currency = models.CharField(max_length=3)
    unit_amount = models.PositiveIntegerField(help_text="Per seat, in minor units (cents).")
    active = models.BooleanField(default=True)
    # The same price at each provider, e.g. {"stripe": "price_123", "paddle": "pri_01h..."};
    # filled in by `billing_sync_catalog` (or by hand for prices made in a dashboard).
    provider_ids = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("plan__rank", "currency", "interval")
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "interval", "currency"], name="billing_price_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.plan.code} {self.currency} {self.unit_amount}/{self.interval}"

    @property
    def monthly_amount(self) -> int:
        """The per-seat amount spread over a month (a yearly price / 12, rounded)."""
        return self.unit_amount if self.interval == Interval.MONTH else round(self.unit_amount / 12)


class Subscription(models.Model):
    """An organization's plan: its state at the provider, mirrored, and where dunning stands."""

    class Status(models.TextChoices):
        TRIALING = "trialing", "Trial"
        ACTIVE = "active", "Active"
        PAST_DUE = "past_due", "Past due"
        CANCELED = "canceled", "Canceled"
        FREE = "free", "Free"

    class Dunning(models.TextChoices):
        NONE = "none", "In good standing"
        WARNED = "warned", "Payment failed"
        READ_ONLY = "read_only", "Read-only"
        SUSPENDED = "suspended", "Suspended"

    organization = models.OneToOneField(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="subscription"
    )
    # RESTRICT, not PROTECT: a plan in use cannot be deleted, but an organization's own custom
    # plan goes with the organization, its subscription and its history in one deletion.
    plan = models.ForeignKey(Plan, on_delete=models.RESTRICT, related_name="subscriptions")
    price = models.ForeignKey(
        Price, null=True, blank=True, on_delete=models.RESTRICT, related_name="subscriptions"
    )
    provider = models.CharField(max_length=16, choices=Provider.choices)
    status = models.CharField(max_length=16, choices=Status.choices)
    # Seats billed (the provider's quantity); for manual invoicing, the contract's seats.
    quantity = models.PositiveIntegerField(default=1)
    currency = models.CharField(max_length=3, default="USD")
    trial_ends_at = models.DateTimeField(null=True, blank=True)
    trial_reminder_sent_at = models.DateTimeField(null=True, blank=True)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    coupon = models.CharField(max_length=80, blank=True)
    # Manual invoicing: the seats the contract pays for and the days an invoice is due in.
    contract_seats = models.PositiveIntegerField(null=True, blank=True)
    payment_terms_days = models.PositiveSmallIntegerField(default=30)
    # Dunning: when a payment first failed, and how far the organization has been taken.
    past_due_since = models.DateTimeField(null=True, blank=True)
    dunning = models.CharField(max_length=16, choices=Dunning.choices, default=Dunning.NONE)
    provider_customer_id = models.CharField(max_length=120, blank=True)
    provider_subscription_id = models.CharField(max_length=120, blank=True, db_index=True)
    # The provider's own time of the state last applied: an older event never overwrites it.
    provider_updated_at = models.DateTimeField(null=True, blank=True)
    # The seat count last sent to the provider, so a seat update is skipped when unchanged.
    synced_quantity = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.organization_id}:{self.plan_id}:{self.status}"

    @property
    def is_paid(self) -> bool:
        return self.status in (self.Status.ACTIVE, self.Status.PAST_DUE)

    @property
    def is_read_only(self) -> bool:
        return self.dunning in (self.Dunning.READ_ONLY, self.Dunning.SUSPENDED)


class SubscriptionChange(models.Model):
    """One change of an organization's subscription, with the recurring revenue it left.

    The finance figures are computed from these rows only: the MRR an organization paid at
    the end of a month is the `mrr` of its last change before that moment.
    """

    class Kind(models.TextChoices):
        TRIAL_STARTED = "trial_started", "Trial started"
        TRIAL_ENDED = "trial_ended", "Trial ended"
        SUBSCRIBED = "subscribed", "Subscribed"
        PLAN_CHANGED = "plan_changed", "Plan changed"
        SEATS_CHANGED = "seats_changed", "Seats changed"
        INTERVAL_CHANGED = "interval_changed", "Billing interval changed"
        CANCEL_SCHEDULED = "cancel_scheduled", "Cancellation scheduled"
        RESUMED = "resumed", "Resumed"
        CANCELED = "canceled", "Canceled"
        PAYMENT_FAILED = "payment_failed", "Payment failed"
        PAYMENT_RECOVERED = "payment_recovered", "Payment recovered"
        READ_ONLY = "read_only", "Made read-only"
        SUSPENDED = "suspended", "Suspended"
        OPERATOR = "operator", "Changed by an operator"

    organization = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="subscription_changes"
    )
    kind = models.CharField(max_length=24, choices=Kind.choices)
    effective_at = models.DateTimeField(db_index=True)
    plan = models.ForeignKey(Plan, on_delete=models.RESTRICT, related_name="+")
    status = models.CharField(max_length=16, choices=Subscription.Status.choices)
    quantity = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    # Monthly recurring revenue after this change, in minor units (0 on trial, free, canceled).
    mrr = models.BigIntegerField(default=0)
    # Who made it: an operator or an owner; None for the provider or a scheduled task.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ("effective_at", "id")
        indexes = [
            # In the order the finance figures read each organization's history, with what
            # they read of each change: they are computed from the index alone.
            models.Index(
                fields=["organization", "effective_at", "id"],
                include=["mrr", "currency", "plan"],
                name="billing_change_org_time",
            )
        ]
        # Staff with it see the Finance page (revenue of every organization) on the bare domain.
        permissions = [("view_finance", "Can view the finance figures, lists and exports")]

    def __str__(self) -> str:
        return f"{self.organization_id} {self.kind} {self.effective_at:%Y-%m-%d}"


class Invoice(models.Model):
    """An invoice as the provider issued it (or as an operator did, for manual invoicing)."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open"
        PAID = "paid", "Paid"
        VOID = "void", "Void"
        UNCOLLECTIBLE = "uncollectible", "Uncollectible"

    organization = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="invoices"
    )
    provider = models.CharField(max_length=16, choices=Provider.choices)
    provider_invoice_id = models.CharField(max_length=120)
    number = models.CharField(max_length=60, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices)
    currency = models.CharField(max_length=3)
    subtotal = models.BigIntegerField(default=0)
    tax = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    amount_paid = models.BigIntegerField(default=0)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    issued_at = models.DateTimeField()
    due_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    # A payment was tried and failed at least once (for "failed payments recovered").
    payment_failed_at = models.DateTimeField(null=True, blank=True)
    hosted_url = models.URLField(max_length=500, blank=True)
    pdf_url = models.URLField(max_length=500, blank=True)
    provider_updated_at = models.DateTimeField(null=True, blank=True)
    # Who issued or settled it, for invoices an operator made by hand.
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("-issued_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_invoice_id"], name="billing_invoice_unique"
            )
        ]

    def __str__(self) -> str:
        return self.number or self.provider_invoice_id


class WebhookEvent(models.Model):
    """A provider's event as received: stored before it is acknowledged, applied once by a task."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        APPLIED = "applied", "Applied"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed"

    provider = models.CharField(max_length=16, choices=Provider.choices)
    event_id = models.CharField(max_length=120)
    event_type = models.CharField(max_length=120)
    # When the provider says the event happened (its own clock).
    occurred_at = models.DateTimeField()
    payload = models.JSONField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    received_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ("-received_at",)
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="billing_event_unique")
        ]
        indexes = [models.Index(fields=["state", "received_at"], name="billing_event_state")]

    def __str__(self) -> str:
        return f"{self.provider}:{self.event_id}"


def limits_of(plan: Plan) -> dict[str, Any]:
    """Every limit of `plan`, unlimited ones as None (for pages and the API)."""
    return {name: plan.limit(name) for name in LIMITS}
