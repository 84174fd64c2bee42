"""The four plans as seed data (operators edit them in the operator admin), and a Growth
trial for each organization that existed before billing did."""

import datetime as dt

from django.conf import settings
from django.db import migrations
from django.utils import timezone

UNLIMITED = None
PLANS = [
    {
        "code": "free",
        "name": "Free",
        "rank": 0,
        "description": "For a founder and a co-founder getting their first customers in order.",
        "limits": {
            "seats": 2,
            "contacts": 1000,
            "custom_fields": 5,
            "api_tokens": 2,
            "imports_per_day": 3,
        },
        "features": {"audit_log_retention_days": 7},
        "prices": {},
    },
    {
        "code": "starter",
        "name": "Starter",
        "rank": 10,
        "description": "For a small sales team with one pipeline and a growing address book.",
        "limits": {
            "seats": 10,
            "contacts": 25000,
            "custom_fields": 25,
            "api_tokens": 10,
            "imports_per_day": 20,
        },
        "features": {"audit_log_retention_days": 90},
        "prices": {"USD": (1500, 14400), "EUR": (1400, 13440)},
    },
    {
        "code": "growth",
        "name": "Growth",
        "rank": 20,
        "trial_days": 14,
        "description": "For teams that sell every day: single sign-on, roles, automation.",
        "limits": {
            "seats": 200,
            "contacts": 250000,
            "custom_fields": 200,
            "api_tokens": 50,
            "imports_per_day": 100,
        },
        "features": {
            "sso": True,
            "custom_roles": True,
            "audit_log_retention_days": 365,
            "automation": True,
            "lead_scoring_models": True,
        },
        "prices": {"USD": (3900, 37440), "EUR": (3600, 34560)},
    },
    {
        "code": "enterprise",
        "name": "Enterprise",
        "rank": 30,
        "contact_sales": True,
        "description": "For companies with procurement: contract, invoicing and no limits.",
        "limits": {
            "seats": UNLIMITED,
            "contacts": UNLIMITED,
            "custom_fields": UNLIMITED,
            "api_tokens": UNLIMITED,
            "imports_per_day": UNLIMITED,
        },
        "features": {
            "sso": True,
            "custom_roles": True,
            "audit_log_retention_days": 2555,
            "automation": True,
            "lead_scoring_models": True,
        },
        "prices": {},
    },
]


def seed(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    Price = apps.get_model("billing", "Price")
    Subscription = apps.get_model("billing", "Subscription")
    SubscriptionChange = apps.get_model("billing", "SubscriptionChange")
    Tenant = apps.get_model("tenants", "Tenant")
    for spec in PLANS:
        prices = spec.pop("prices")
        plan, _ = Plan.objects.update_or_create(code=spec["code"], defaults=spec)
        for currency, (monthly, yearly) in prices.items():
            for interval, amount in (("month", monthly), ("year", yearly)):
                Price.objects.update_or_create(
                    plan=plan,
                    interval=interval,
                    currency=currency,
                    defaults={"unit_amount": amount},
                )
    growth = Plan.objects.get(code="growth")
    now = timezone.now()
    for tenant in Tenant.objects.exclude(schema_name="public").filter(subscription__isnull=True):
        Subscription.objects.create(
            organization=tenant,
            plan=growth,
            provider=settings.BILLING_DEFAULT_PROVIDER,
            status="trialing",
            quantity=1,
            currency=settings.BILLING_DEFAULT_CURRENCY,
            trial_ends_at=now + dt.timedelta(days=growth.trial_days),
        )
        SubscriptionChange.objects.create(
            organization=tenant,
            kind="trial_started",
            effective_at=now,
            plan=growth,
            status="trialing",
            quantity=1,
            currency=settings.BILLING_DEFAULT_CURRENCY,
            mrr=0,
        )


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial"), ("tenants", "0009_tenant_time_zone")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
