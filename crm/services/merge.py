"""Merging duplicates: two or more contacts (or companies) become one. The surviving record
keeps, field by field, the value of the record chosen for it; everything that hangs on the
others (activities, deals, tags, a company's contacts, what a lead was converted into) moves
to it, and the others go to the trash. All in one transaction: all or nothing."""

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import structlog
from django.db import transaction

from crm.exceptions import MergeInvalid
from crm.models import Activity, Company, Contact, CustomField, Deal, DealContact, Lead
from iam.audit import audit_record, audit_snapshot, changes_between
from pii.fields import with_derived_fields
from problems.exceptions import InvalidFields

from .trash import record_trash

log = structlog.get_logger(__name__)

# The fields a merge chooses between, beside custom values (`custom.<key>`).
CONTACT_MERGE_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "title",
    "company",
    "address",
    "birthday",
    "owner_id",
)
COMPANY_MERGE_FIELDS = ("name", "domain", "phone", "owner_id")
MAX_MERGED = 10  # records merged into one at once, the survivor included

R = TypeVar("R", Contact, Company)


def merge_fields(model: type[Contact] | type[Company]) -> tuple[str, ...]:
    """The names of the fields a merge of `model` chooses between (custom ones aside)."""
    return CONTACT_MERGE_FIELDS if model is Contact else COMPANY_MERGE_FIELDS


def _entity(model: type[Contact] | type[Company]) -> str:
    return CustomField.Entity.CONTACT if model is Contact else CustomField.Entity.COMPANY


def _check(survivor: R, others: Sequence[R], fields: Mapping[str, Any]) -> dict[str, int]:
    """The choices as field -> id of the record whose value is kept, or the problem."""
    model = type(survivor)
    ids: list[int] = [other.pk for other in others]
    if not ids:
        raise MergeInvalid("Name at least one other record to merge.", field="others")
    if survivor.pk in ids:
        raise MergeInvalid("A record can't be merged with itself.", field="others")
    if len(set(ids)) != len(ids):
        raise MergeInvalid("Name each other record once.", field="others")
    if len(ids) + 1 > MAX_MERGED:
        raise MergeInvalid(f"Merge at most {MAX_MERGED} records at once.", field="others")
    if not isinstance(fields, Mapping):
        raise InvalidFields({"fields": ["Give an object: field name -> id of the record."]})
    keys = {d.key for d in CustomField.objects.filter(entity=_entity(model))}
    allowed = set(merge_fields(model)) | {f"custom.{key}" for key in keys}
    merged = {survivor.pk, *ids}
    errors: dict[str, list[str]] = {}
    choices: dict[str, int] = {}
    for name, chosen in fields.items():
        if name not in allowed:
            errors[f"fields.{name}"] = [
                f"Choose among {', '.join(sorted(allowed))} (custom fields as custom.<key>)."
            ]
        elif isinstance(chosen, bool) or not isinstance(chosen, int) or chosen not in merged:
            errors[f"fields.{name}"] = ["Give the id of one of the records being merged."]
        elif chosen != survivor.pk:
            choices[name] = chosen
    if errors:
        raise InvalidFields(errors)
    return choices


def _locked(model: type[R], survivor_id: int, ids: Sequence[int]) -> dict[int, R]:
    """The records, locked until the merge ends; a record gone or trashed stops it."""
    wanted = sorted([survivor_id, *ids])
    found = {
        r.pk: r for r in model.objects.select_for_update().filter(pk__in=wanted).order_by("pk")
    }
    for pk in wanted:
        if pk not in found:
            raise MergeInvalid(
                f"Record {pk} does not exist or is in the trash.",
                field="survivor" if pk == survivor_id else "others",
            )
    return found


def _values_take(survivor: R, records: Mapping[int, R], choices: Mapping[str, int]) -> list[str]:
    """Copy each chosen value onto the survivor; returns the fields to save."""
    changed: list[str] = []
    for name, source_id in choices.items():
        source = records[source_id]
        if name.startswith("custom."):
            key = name.removeprefix("custom.")
            plain, sealed = dict(survivor.custom), dict(survivor.custom_sealed)
            plain.pop(key, None)
            sealed.pop(key, None)
            # A value is stored where its field's sensitivity says, on both records alike.
            if key in source.custom:
                plain[key] = source.custom[key]
            elif key in source.custom_sealed:
                sealed[key] = source.custom_sealed[key]
            survivor.custom, survivor.custom_sealed = plain, sealed
            changed += ["custom", "custom_sealed"]
        else:
            setattr(survivor, name, getattr(source, name))
            changed.append(name)
    return list(dict.fromkeys(changed))


def _tags_move(survivor: R, loser_ids: Sequence[int]) -> None:
    through = type(survivor).tags.through
    column = f"{type(survivor)._meta.model_name}_id"
    have = set(survivor.tags.values_list("pk", flat=True))
    wanted = set(
        through.objects.filter(**{f"{column}__in": loser_ids}).values_list("tag_id", flat=True)
    )
    survivor.tags.add(*(wanted - have))


def _contact_links_move(survivor: Contact, loser_ids: Sequence[int]) -> None:
    Activity.objects.filter(contact_id__in=loser_ids).update(contact=survivor)
    Lead.with_trashed.filter(converted_contact_id__in=loser_ids).update(converted_contact=survivor)
    # Deals: a loser's link moves unless the survivor is on that deal already; then the
    # survivor's link becomes primary if the loser's was.
    on_deals = set(DealContact.objects.filter(contact=survivor).values_list("deal_id", flat=True))
    for link in DealContact.objects.filter(contact_id__in=loser_ids).order_by("pk"):
        if link.deal_id in on_deals:
            link.delete()
            if link.is_primary:
                DealContact.objects.filter(deal_id=link.deal_id, contact=survivor).update(
                    is_primary=True
                )
        else:
            link.contact = survivor
            link.save(update_fields=["contact"])
            on_deals.add(link.deal_id)
    # Meetings the losers attended: the survivor attends them (once).
    attendance = Activity.attendees.through
    attended = set(
        attendance.objects.filter(contact=survivor).values_list("activity_id", flat=True)
    )
    for row in attendance.objects.filter(contact_id__in=loser_ids).order_by("pk"):
        if row.activity_id in attended:
            row.delete()
        else:
            attendance.objects.filter(pk=row.pk).update(contact=survivor)
            attended.add(row.activity_id)


def _company_links_move(survivor: Company, loser_ids: Sequence[int]) -> None:
    Activity.objects.filter(company_id__in=loser_ids).update(company=survivor)
    # Trashed contacts and deals too: restored, they belong to the survivor.
    Contact.with_trashed.filter(company_id__in=loser_ids).update(company=survivor)
    Deal.with_trashed.filter(company_id__in=loser_ids).update(company=survivor)
    Lead.with_trashed.filter(converted_company_id__in=loser_ids).update(converted_company=survivor)


def _merge(survivor: R, others: Sequence[R], fields: Mapping[str, Any], by: Any) -> R:
    model = type(survivor)
    choices = _check(survivor, others, fields)
    loser_ids: list[int] = [other.pk for other in others]
    with transaction.atomic():
        records = _locked(model, survivor.pk, loser_ids)
        kept = records[survivor.pk]
        before = audit_snapshot(kept, merge_fields(model))
        changed: list[str] = _values_take(kept, records, choices)
        if isinstance(kept, Contact):
            _contact_links_move(kept, loser_ids)
        else:
            _company_links_move(kept, loser_ids)
        _tags_move(kept, loser_ids)
        for pk in loser_ids:
            record_trash(record=records[pk], by=by)
        model.with_trashed.filter(pk__in=loser_ids).update(merged_into_id=kept.pk)
        # The losers are in the trash now, so the address they held is free for the survivor.
        if isinstance(kept, Contact) and "email" in changed:
            from crm.services import _email_is_free  # the package imports this module

            _email_is_free(kept)
        kept.save(update_fields=with_derived_fields(model, [*changed, "updated_at"]))
        changes = changes_between(before, audit_snapshot(kept, merge_fields(model)), model=model)
        changes["merged"] = [None, sorted(loser_ids)]
        audit_record(
            actor=by, action=f"{model._meta.model_name}.merged", target=kept, changes=changes
        )
    log.info(
        "record.merged",
        type=model._meta.model_name,
        survivor=kept.pk,
        merged=loser_ids,
        fields=sorted(choices),
        by=getattr(by, "pk", None),
    )
    return kept


def contact_merge(
    *, survivor: Contact, others: Sequence[Contact], fields: Mapping[str, Any], by: Any
) -> Contact:
    """Merge `others` into `survivor`. `fields` maps a field name (`CONTACT_MERGE_FIELDS`, or
    `custom.<key>`) to the id of the record whose value the survivor keeps; fields not named
    keep the survivor's. Activities, deal links, meetings attended, tags and leads converted
    into the others move to the survivor; the others go to the trash."""
    return _merge(survivor, others, fields, by)


def company_merge(
    *, survivor: Company, others: Sequence[Company], fields: Mapping[str, Any], by: Any
) -> Company:
    """Merge `others` into `survivor`, as `contact_merge` does: fields from
    `COMPANY_MERGE_FIELDS` or `custom.<key>`; contacts, deals, activities, tags and leads
    converted into the others move to the survivor; the others go to the trash."""
    return _merge(survivor, others, fields, by)
