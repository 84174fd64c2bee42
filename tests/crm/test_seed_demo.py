"""`make run`'s demo: organizations a new visitor can sell in at once, seeded idempotently."""

from io import StringIO

import pytest
from django.core.management import call_command
from django_tenants.utils import tenant_context

from crm.models import (
    Activity,
    Contact,
    Deal,
    Lead,
    Pipeline,
    Product,
    SavedView,
    ScoringModel,
    Tag,
)
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def _counts() -> dict[str, int]:
    with tenant_context(Tenant.objects.get(slug="acme")):
        return {
            "pipelines": Pipeline.objects.count(),
            "deals": Deal.objects.count(),
            "won": Deal.objects.filter(stage__is_won=True).count(),
            "leads": Lead.objects.count(),
            "converted": Lead.objects.filter(converted_deal__isnull=False).count(),
            "open_converted": Lead.objects.filter(
                converted_deal__isnull=False, converted_deal__closed_at__isnull=True
            ).count(),
            "history_won": Lead.objects.filter(converted_deal__stage__is_won=True).count(),
            "history_lost": Lead.objects.filter(converted_deal__stage__is_lost=True).count(),
            "scored": Lead.objects.filter(scored_at__isnull=False).count(),
            "models": ScoringModel.objects.count(),
            "activities": Activity.objects.count(),
            "products": Product.objects.count(),
            "tags": Tag.objects.count(),
            "with_lines": Deal.objects.filter(line_items__isnull=False).distinct().count(),
            "trashed": Contact.trashed.count(),
            "petes": Contact.objects.filter(first_name="Peter", last_name="Gibbons").count(),
            "shared_views": SavedView.objects.filter(is_shared=True).count(),
            # The lists show today's leads first: last year's were made last year.
            "newest_is_history": int(
                (
                    Lead.objects.order_by("-created_at", "-id")
                    .values_list("converted_deal__name", flat=True)
                    .first()
                    or ""
                ).startswith("Past: ")
            ),
        }


def test_the_demo_shows_the_sales_cycle_and_seeding_again_adds_nothing() -> None:
    call_command("seed_demo", stdout=StringIO())
    first = _counts()
    assert first["pipelines"] == 2 and first["deals"] >= 5 and first["won"] >= 1
    assert first["leads"] >= 5 and first["open_converted"] == 1
    # Last year's won and lost leads train Acme's own scoring model; every lead is scored.
    assert first["history_won"] >= 50 and first["history_lost"] >= 50
    assert first["models"] == 1 and first["scored"] == first["leads"]
    assert first["activities"] >= 5 and first["products"] >= 3 and first["tags"] >= 2
    assert first["with_lines"] >= 3
    assert first["newest_is_history"] == 0
    # Something in the Trash, and a duplicate to merge.
    assert first["trashed"] == 1 and first["petes"] == 2
    # Saved views the team picks from the lists' menu.
    assert first["shared_views"] == 2
    call_command("seed_demo", stdout=StringIO())
    assert _counts() == first
