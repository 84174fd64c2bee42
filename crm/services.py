"""Every write to CRM records. Callers pass the acting user; the tenant is the connection's."""

from typing import Any

import structlog
from django.db import transaction

from .models import Company, Contact, Pipeline, Stage

log = structlog.get_logger(__name__)

DEFAULT_STAGES = (
    ("Lead in", 10, False, False),
    ("Qualified", 25, False, False),
    ("Proposal sent", 50, False, False),
    ("Negotiation", 75, False, False),
    ("Won", 100, True, False),
    ("Lost", 0, False, True),
)

CONTACT_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "title",
    "company",
    "address",
    "birthday",
)
COMPANY_FIELDS = ("name", "domain", "phone")


def pipeline_create_default() -> Pipeline:
    """The sales pipeline every new organization starts with."""
    pipeline = Pipeline.objects.create(name="Sales", is_default=True)
    Stage.objects.bulk_create(
        Stage(pipeline=pipeline, name=name, position=i, probability=p, is_won=won, is_lost=lost)
        for i, (name, p, won, lost) in enumerate(DEFAULT_STAGES)
    )
    return pipeline


def contact_create(*, by: Any, **data: Any) -> Contact:
    fields = {k: v for k, v in data.items() if k in CONTACT_FIELDS}
    with transaction.atomic():
        contact = Contact.objects.create(owner_id=getattr(by, "pk", None), **fields)
    log.info("contact.created", contact=contact.pk, by=getattr(by, "pk", None))
    return contact


def contact_update(*, contact: Contact, by: Any, **data: Any) -> Contact:
    fields = [k for k in data if k in CONTACT_FIELDS]
    for key in fields:
        setattr(contact, key, data[key])
    with transaction.atomic():
        contact.save(update_fields=[*fields, "updated_at"])
    log.info("contact.updated", contact=contact.pk, by=getattr(by, "pk", None), fields=fields)
    return contact


def contact_delete(*, contact: Contact, by: Any) -> None:
    pk = contact.pk
    contact.delete()
    log.info("contact.deleted", contact=pk, by=getattr(by, "pk", None))


def company_create(*, by: Any, **data: Any) -> Company:
    fields = {k: v for k, v in data.items() if k in COMPANY_FIELDS}
    company = Company.objects.create(owner_id=getattr(by, "pk", None), **fields)
    log.info("company.created", company=company.pk, by=getattr(by, "pk", None))
    return company


def company_update(*, company: Company, by: Any, **data: Any) -> Company:
    fields = [k for k in data if k in COMPANY_FIELDS]
    for key in fields:
        setattr(company, key, data[key])
    company.save(update_fields=[*fields, "updated_at"])
    log.info("company.updated", company=company.pk, by=getattr(by, "pk", None), fields=fields)
    return company


def company_delete(*, company: Company, by: Any) -> None:
    pk = company.pk
    company.delete()
    log.info("company.deleted", company=pk, by=getattr(by, "pk", None))
