"""Reads of CRM records, from the current tenant's schema."""

from django.db.models import Count, Q, QuerySet

from pii.fields import blind_index_for

from .models import Company, Contact, Pipeline


def contact_list(*, search: str = "", email: str = "", phone: str = "") -> QuerySet[Contact]:
    """Contacts, newest first; `search` matches names by substring and, since e-mail
    addresses and phone numbers are encrypted, those only exactly (through blind indexes),
    as do the `email` and `phone` filters (case, spaces and punctuation don't matter)."""
    qs = Contact.objects.select_related("company")
    if search:
        match = Q(first_name__icontains=search) | Q(last_name__icontains=search)
        if "@" in search:
            match |= Q(email_index=blind_index_for(Contact, "email", search))
        if sum(ch.isdigit() for ch in search) >= 5:
            match |= Q(phone_index=blind_index_for(Contact, "phone", search))
        qs = qs.filter(match)
    if email:
        qs = qs.filter(email_index=blind_index_for(Contact, "email", email))
    if phone:
        qs = qs.filter(phone_index=blind_index_for(Contact, "phone", phone))
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
