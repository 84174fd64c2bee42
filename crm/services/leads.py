"""Writes to leads: create, update (status, owner), delete, and conversion into a contact, a
company and optionally a deal."""

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import structlog
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from crm.currencies import CURRENCY_HELP, currency_clean
from crm.exceptions import ContactEmailTaken, LeadAlreadyConverted, LeadDisqualified
from crm.models import Company, Contact, Deal, DealContact, DealStageChange, Lead, Pipeline, Stage
from crm.services import company_create, contact_create
from iam.audit import audit_record, audit_snapshot, changes_between, changes_of_new
from iam.selectors import member_list
from pii.fields import blind_index_for, with_derived_fields
from problems.exceptions import InvalidFields

from .tags import tags_set
from .trash import record_trash

log = structlog.get_logger(__name__)

LEAD_FIELDS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "company_name",
    "title",
    "source",
    "status",
    "disqualified_reason",
    "owner_id",
)
_TEXT_LIMITS = {
    "first_name": 100,
    "last_name": 100,
    "email": 254,
    "phone": 50,
    "company_name": 200,
    "title": 100,
    "disqualified_reason": 200,
}
_PHONE = re.compile(r"^\+?[0-9 ()./-]+$")
AMOUNT_MAX = Decimal("999999999999.99")  # the column's 14 digits, 2 after the point
REASON_REQUIRED = "Say why the lead is disqualified."
# Addresses at these domains say nothing about the company a person works for.
FREE_MAIL_DOMAINS = frozenset(
    {
        "aol.com",
        "gmail.com",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "googlemail.com",
        "hey.com",
        "hotmail.com",
        "icloud.com",
        "live.com",
        "mail.com",
        "mail.ru",
        "me.com",
        "msn.com",
        "outlook.com",
        "proton.me",
        "protonmail.com",
        "qq.com",
        "web.de",
        "yahoo.com",
        "yandex.ru",
        "zoho.com",
    }
)


def _by_id(by: Any) -> int | None:
    return getattr(by, "pk", None)


def _owner_is_member(owner_id: int) -> bool:
    tenant = getattr(connection, "tenant", None)
    return tenant is not None and member_list(tenant=tenant).filter(user_id=owner_id).exists()


def _score_queue(lead: Lead) -> None:
    """Rescore the lead in the background once the change is committed."""
    from .scoring import lead_score_queue  # scoring reads this module's e-mail helpers

    lead_score_queue(lead_id=lead.pk)


def _lead_clean(lead: Lead, data: dict[str, Any]) -> list[str]:
    """Validate `data` against the lead it will be set on; set it and return the names of
    the fields changed. Raises InvalidFields with every problem at once, changing nothing."""
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for name, value in data.items():
        if name not in LEAD_FIELDS:
            continue
        if name == "owner_id":
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not _owner_is_member(value)
            ):
                errors[name] = ["Choose a member of the organization."]
            cleaned[name] = value
            continue
        if value is None:
            value = ""
        if not isinstance(value, str):
            errors[name] = ["Must be a string."]
            continue
        if "\x00" in value:
            errors[name] = ["Null characters are not allowed."]
            continue
        value = value.strip()
        limit = _TEXT_LIMITS.get(name)
        if limit is not None and len(value) > limit:
            errors[name] = [f"Ensure this field has no more than {limit} characters."]
            continue
        cleaned[name] = value
    if "email" in cleaned and cleaned["email"]:
        try:
            validate_email(cleaned["email"])
        except ValidationError:
            errors["email"] = ["Enter a valid e-mail address."]
    phone = cleaned.get("phone")
    if phone and (not _PHONE.match(phone) or sum(c.isdigit() for c in phone) < 3):
        errors["phone"] = ["Enter a phone number: digits, with spaces, + ( ) - . allowed."]
    if "source" in cleaned and cleaned["source"] not in ("", *Lead.Source.values):
        errors["source"] = [f"Choose one of: {', '.join(Lead.Source.values)}."]
    if "status" in cleaned and cleaned["status"] not in Lead.Status.values:
        errors["status"] = [f"Choose one of: {', '.join(Lead.Status.values)}."]
    last_name = cleaned.get("last_name", lead.last_name)
    if not last_name and "last_name" not in errors:
        errors["last_name"] = ["This field is required."]
    status = cleaned.get("status", lead.status)
    if status == Lead.Status.DISQUALIFIED:
        reason = cleaned.get("disqualified_reason", lead.disqualified_reason)
        if not reason and "disqualified_reason" not in errors and "status" not in errors:
            errors["disqualified_reason"] = [REASON_REQUIRED]
    elif "status" in cleaned or cleaned.get("disqualified_reason"):
        # A reason belongs to a disqualified lead only: requalifying clears it.
        cleaned["disqualified_reason"] = ""
    if errors:
        raise InvalidFields(errors)
    for name, value in cleaned.items():
        setattr(lead, name, value)
    return list(cleaned)


def lead_create(*, by: Any, **data: Any) -> Lead:
    """A new lead, owned by `by` unless `owner_id` names another member. A disqualified one
    needs `disqualified_reason`."""
    lead = Lead(owner_id=_by_id(by))
    _lead_clean(lead, data)
    created = changes_of_new(lead, LEAD_FIELDS)
    with transaction.atomic():
        lead.save(force_insert=True)
        if data.get("tags") is not None:
            tags_set(record=lead, names=data["tags"], by=by)
        _score_queue(lead)
        audit_record(actor=by, action="lead.created", target=lead, changes=created)
    log.info("lead.created", lead=lead.pk, by=_by_id(by), source=lead.source)
    return lead


def lead_update(*, lead: Lead, by: Any, **data: Any) -> Lead:
    """Change the given fields. Moving away from disqualified clears the reason."""
    before = lead.status
    watched = [key for key in LEAD_FIELDS if key in data or key == "disqualified_reason"]
    values_before = audit_snapshot(lead, watched)
    fields = _lead_clean(lead, data)
    with transaction.atomic():
        lead.save(update_fields=with_derived_fields(Lead, [*fields, "updated_at"]))
        if data.get("tags") is not None:
            tags_set(record=lead, names=data["tags"], by=by)
        _score_queue(lead)
        audit_record(
            actor=by,
            action="lead.updated",
            target=lead,
            changes=changes_between(values_before, audit_snapshot(lead, watched), model=Lead),
        )
    log.info("lead.updated", lead=lead.pk, by=_by_id(by), fields=fields)
    if lead.status != before:
        log.info("lead.status_changed", lead=lead.pk, by=_by_id(by), to=lead.status)
    return lead


def lead_status_set(*, lead: Lead, by: Any, status: str, reason: str = "") -> Lead:
    """Move a lead to `status`; disqualifying needs a reason."""
    return lead_update(lead=lead, by=by, status=status, disqualified_reason=reason)


def lead_owner_set(*, lead: Lead, by: Any, owner_id: int | None) -> Lead:
    """Give the lead to another member of the organization (None: nobody)."""
    return lead_update(lead=lead, by=by, owner_id=owner_id)


def lead_delete(*, lead: Lead, by: Any) -> None:
    """Move the lead to the trash (`crm.services.trash`); what it was converted into stays."""
    record_trash(record=lead, by=by)


@dataclass(frozen=True)
class LeadConversion:
    lead: Lead
    contact: Contact
    company: Company | None
    deal: Deal | None
    contact_created: bool
    company_created: bool


def email_domain(email: str) -> str:
    """The domain of an address, lowercased ("" for none)."""
    _, at, domain = (email or "").strip().rpartition("@")
    return domain.lower().rstrip(".") if at else ""


def _deal_clean(
    *, lead: Lead, deal_name: str, pipeline: Pipeline | None, amount: Any, currency: str
) -> tuple[str, Pipeline, Stage, Decimal, str]:
    """The deal to create, checked before anything is written."""
    errors: dict[str, list[str]] = {}
    name = (deal_name or "").strip() or lead.company_name or lead.full_name
    if "\x00" in name:
        errors["deal_name"] = ["Null characters are not allowed."]
    elif len(name) > 200:
        errors["deal_name"] = ["Ensure this field has no more than 200 characters."]
    if pipeline is None:
        pipeline = Pipeline.objects.filter(is_default=True, is_archived=False).first()
    stage = None
    if pipeline is None or pipeline.is_archived:
        errors["pipeline"] = ["Choose a pipeline that is in use."]
    else:
        stage = (
            Stage.objects.filter(pipeline=pipeline, is_archived=False, is_won=False, is_lost=False)
            .order_by("position")
            .first()
        )
        if stage is None:
            errors["pipeline"] = ["This pipeline has no open stage to start a deal in."]
    try:
        value = Decimal(str(amount if amount not in (None, "") else 0))
        if not value.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        errors["amount"] = ["Enter a number."]
        value = Decimal(0)
    else:
        if value < 0:
            errors["amount"] = ["Ensure this value is greater than or equal to 0."]
        elif value > AMOUNT_MAX:
            errors["amount"] = [f"Ensure this value is less than or equal to {AMOUNT_MAX}."]
        elif value != value.quantize(Decimal("0.01")):
            errors["amount"] = ["Ensure that there are no more than 2 decimal places."]
    code = currency_clean(currency)
    if code is None:
        errors["currency"] = [CURRENCY_HELP]
    if errors:
        raise InvalidFields(errors)
    assert pipeline is not None and stage is not None  # noqa: S101 - errors raised above
    return name, pipeline, stage, value, code or ""


def _company_for(*, lead: Lead, by: Any) -> tuple[Company | None, bool]:
    """The lead's company: one of the same name (case aside), else one whose domain is the
    lead's e-mail domain (not a free-mail one), else a new one if the lead names it."""
    name = lead.company_name.strip()
    if name:
        found = Company.objects.filter(name__iexact=name).order_by("id").first()
        if found is not None:
            return found, False
    domain = email_domain(lead.email)
    if domain in FREE_MAIL_DOMAINS:
        domain = ""
    if domain:
        found = Company.objects.filter(domain__iexact=domain).order_by("id").first()
        if found is not None:
            return found, False
    if not name:
        return None, False
    company = company_create(by=by, name=name, domain=domain)
    if lead.owner_id is not None and company.owner_id != lead.owner_id:
        company.owner_id = lead.owner_id
        company.save(update_fields=["owner_id"])
    return company, True


def _contact_for(*, lead: Lead, company: Company | None, by: Any) -> tuple[Contact, bool]:
    """The contact with the lead's e-mail address (through the blind index; it joins the
    lead's company if it has none), else a new one."""
    email = (lead.email or "").strip()
    if email:
        found = Contact.objects.filter(email_index=blind_index_for(Contact, "email", email))
        existing = found.order_by("id").first()
        if existing is not None:
            if existing.company_id is None and company is not None:
                existing.company = company
                existing.save(update_fields=["company", "updated_at"])
            return existing, False
    first, last = lead.first_name, lead.last_name
    if not first:  # a contact's first name is required, a lead's last name
        first, last = last, ""
    try:
        contact = contact_create(
            by=by,
            first_name=first,
            last_name=last,
            email=email,
            phone=lead.phone,
            title=lead.title,
            company=company,
        )
    except ContactEmailTaken as exc:  # created meanwhile by someone else: the same person
        return Contact.objects.get(pk=exc.extra["contact"]), False
    if lead.owner_id is not None and contact.owner_id != lead.owner_id:
        contact.owner_id = lead.owner_id
        contact.save(update_fields=["owner_id"])
    return contact, True


def lead_convert(
    *,
    lead: Lead,
    by: Any,
    create_deal: bool = False,
    deal_name: str = "",
    pipeline: Pipeline | None = None,
    amount: Any = None,
    currency: str = "USD",
    confirm_disqualified: bool = False,
) -> LeadConversion:
    """Turn a lead into a contact (an existing one with the same e-mail address is reused),
    its company (matched by name or e-mail domain, or created) and, if asked, a deal in the
    pipeline's first open stage (the default pipeline unless another is given), all or
    nothing. The lead keeps links to them and becomes qualified.

    Raises LeadAlreadyConverted for a converted lead, LeadDisqualified for a disqualified one
    unless `confirm_disqualified`, InvalidFields for a bad deal."""
    with transaction.atomic():
        # One conversion at a time: a second one waits, then sees the first.
        locked = Lead.objects.select_for_update().get(pk=lead.pk)
        if locked.converted_at is not None:
            raise LeadAlreadyConverted(
                f"{locked.full_name} was converted on {locked.converted_at:%Y-%m-%d}.",
                contact=locked.converted_contact_id,
                company=locked.converted_company_id,
                deal=locked.converted_deal_id,
            )
        if locked.status == Lead.Status.DISQUALIFIED and not confirm_disqualified:
            raise LeadDisqualified(
                f"{locked.full_name} is disqualified ({locked.disqualified_reason}); "
                "confirm to convert anyway."
            )
        deal_spec = (
            _deal_clean(
                lead=locked,
                deal_name=deal_name,
                pipeline=pipeline,
                amount=amount,
                currency=currency,
            )
            if create_deal
            else None
        )
        company, company_created = _company_for(lead=locked, by=by)
        contact, contact_created = _contact_for(lead=locked, company=company, by=by)
        deal = None
        if deal_spec is not None:
            name, deal_pipeline, stage, value, code = deal_spec
            last = Deal.objects.filter(stage=stage).aggregate(last=Max("position"))["last"]
            now = timezone.now()
            deal = Deal.objects.create(
                name=name,
                company=company,
                amount=value,
                currency=code,
                pipeline=deal_pipeline,
                stage=stage,
                position=(last + 1) if last is not None else 0,
                stage_entered_at=now,
                owner_id=locked.owner_id if locked.owner_id is not None else _by_id(by),
            )
            DealContact.objects.create(deal=deal, contact=contact, is_primary=True)
            DealStageChange.objects.create(
                deal=deal,
                to_stage=stage,
                to_stage_name=stage.name,
                by_id=_by_id(by),
                changed_at=now,
            )
        locked.converted_contact = contact
        locked.converted_company = company
        locked.converted_deal = deal
        locked.converted_at = timezone.now()
        locked.status = Lead.Status.QUALIFIED
        locked.disqualified_reason = ""
        locked.save(
            update_fields=[
                "converted_contact",
                "converted_company",
                "converted_deal",
                "converted_at",
                "status",
                "disqualified_reason",
                "updated_at",
            ]
        )
        _score_queue(locked)
        audit_record(
            actor=by,
            action="lead.converted",
            target=locked,
            changes={
                "status": [lead.status, locked.status],
                "converted_contact": [None, contact.pk],
                "converted_company": [None, getattr(company, "pk", None)],
                "converted_deal": [None, getattr(deal, "pk", None)],
            },
        )
    log.info(
        "lead.converted",
        lead=locked.pk,
        by=_by_id(by),
        contact=contact.pk,
        contact_created=contact_created,
        company=getattr(company, "pk", None),
        company_created=company_created,
        deal=getattr(deal, "pk", None),
    )
    for name in ("converted_contact", "converted_company", "converted_deal", "converted_at"):
        setattr(lead, name, getattr(locked, name))
    lead.status, lead.disqualified_reason = locked.status, locked.disqualified_reason
    return LeadConversion(
        lead=lead,
        contact=contact,
        company=company,
        deal=deal,
        contact_created=contact_created,
        company_created=company_created,
    )
