"""Reads of CRM records, from the current tenant's schema."""

from django.db.models import Count, Q, QuerySet

from .models import Company, Contact, Pipeline


def contact_list(*, search: str = "") -> QuerySet[Contact]:
    qs = Contact.objects.select_related("company")
    if search:
        qs = qs.filter(
            Q(first_name__icontains=search)
            | Q(last_name__icontains=search)
            | Q(email__icontains=search)
        )
    return qs.order_by("-created_at", "-id")


def company_list(*, search: str = "") -> QuerySet[Company]:
    qs = Company.objects.annotate(contact_count=Count("contacts"))
    if search:
        qs = qs.filter(name__icontains=search)
    return qs.order_by("name")


def pipeline_default() -> Pipeline | None:
    return Pipeline.objects.filter(is_default=True).prefetch_related("stages").first()


def dashboard_counts() -> dict[str, int]:
    return {"contacts": Contact.objects.count(), "companies": Company.objects.count()}
