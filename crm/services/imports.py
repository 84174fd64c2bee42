"""Imports of CSV files, all or nothing: contacts, leads and deals.

The file is read and its columns mapped by `crm.imports`; each row then goes through the
rules of its record (the contact form, `lead_create`, `deal_create`), so an imported record
is held to what a person typing it in would be. A mapping a person chose is remembered for
the next file with the same headings (`ImportMapping`), once an import with it succeeds.
"""

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from django.db import IntegrityError, connection, transaction
from django.db.models.functions import Lower

from billing.exceptions import PlanLimitReached
from crm import imports
from crm.exceptions import ContactImportInvalid, ImportKeyReused
from crm.imports import ImportFile, ImportRow, Reading
from crm.models import (
    Company,
    Contact,
    ContactImport,
    CustomField,
    Deal,
    ImportMapping,
    Lead,
    Pipeline,
    Stage,
)
from crm.selectors.imports import import_mapping_get
from iam import authz
from iam.audit import audit_record
from iam.exceptions import AccessDenied
from iam.selectors import member_list
from pii.fields import blind_index_for, with_derived_fields
from problems.exceptions import InvalidFields

from . import (
    _definitions_for_write,
    _email_locks,
    company_create,
    custom_values_assign,
    plan_room_require,
)
from .deals import deal_create
from .leads import lead_create
from .tags import tag_names_clean, tags_get_or_create

log = structlog.get_logger(__name__)

Entity = ContactImport.Entity


def contact_import(
    *,
    by: Any,
    content: bytes,
    filename: str = "",
    on_duplicate: str = ContactImport.OnDuplicate.SKIP,
    dry_run: bool = False,
    idempotency_key: str | None = None,
    mapping: dict[str, Any] | None = None,
    date_order: str = "",
    principal: authz.Principal | None = None,
) -> ContactImport:
    """Import the contacts of a CSV file (read by `crm.imports`), all or nothing.

    A row is a duplicate when its e-mail address, or for a row without one its phone number,
    matches an earlier row or an existing contact (through the blind indexes). Duplicates of
    earlier rows are skipped; duplicates of existing contacts are skipped or, with
    `on_duplicate="update"`, fill that contact's fields with the row's non-empty values.
    Companies are matched by name and made when missing. Any bad row fails the whole import
    (ContactImportInvalid, `rows.<n>.<field>`, with a summary of what the other rows would
    do). A dry run reports the same and keeps nothing. With an idempotency key, a retry of
    the same request returns the first import's result. `mapping` and `date_order`: see
    `_import`.

    With `principal` (the pages and the API pass the importer's), each existing contact a
    row would update is decided first: one they may not edit refuses the whole import
    (AccessDenied, naming the rows), before anything is written.
    """
    if on_duplicate not in ContactImport.OnDuplicate.values:
        raise InvalidFields(
            {"on_duplicate": [f"Choose one of: {', '.join(ContactImport.OnDuplicate.values)}."]}
        )

    def write(reading: Reading, definitions: Sequence[CustomField]) -> tuple[ImportFile, Any]:
        file = imports.contact_rows_read(reading, definitions=definitions)
        return file, _contact_rows_import(
            file, definitions=definitions, by=by, mode=on_duplicate, principal=principal
        )

    return _import(
        entity=Entity.CONTACT,
        by=by,
        content=content,
        filename=filename,
        options=on_duplicate,
        dry_run=dry_run,
        idempotency_key=idempotency_key,
        mapping=mapping,
        date_order=date_order,
        write=write,
    )


def lead_import(
    *,
    by: Any,
    content: bytes,
    filename: str = "",
    dry_run: bool = False,
    idempotency_key: str | None = None,
    mapping: dict[str, Any] | None = None,
    date_order: str = "",
) -> ContactImport:
    """Import the leads of a CSV file, all or nothing, each by `lead_create`'s rules. A row
    whose e-mail address is an earlier row's or an existing lead's is skipped; the owner is
    named by a member's e-mail address (else the importer); the source is "import" unless
    the file gives one."""

    def write(reading: Reading, definitions: Sequence[CustomField]) -> tuple[ImportFile, Any]:
        file = imports.lead_rows_read(reading, members=_members())
        return file, _lead_rows_import(file, by=by)

    return _import(
        entity=Entity.LEAD,
        by=by,
        content=content,
        filename=filename,
        options="",
        dry_run=dry_run,
        idempotency_key=idempotency_key,
        mapping=mapping,
        date_order=date_order,
        write=write,
    )


def deal_import(
    *,
    by: Any,
    content: bytes,
    filename: str = "",
    dry_run: bool = False,
    idempotency_key: str | None = None,
    mapping: dict[str, Any] | None = None,
    date_order: str = "",
) -> ContactImport:
    """Import the deals of a CSV file, all or nothing, each by `deal_create`'s rules: every
    row is a new deal. The pipeline and stage are named (case aside; the default pipeline
    and its first open stage when left empty), the company is matched by name or made, the
    owner is named by a member's e-mail address (else the importer)."""

    def write(reading: Reading, definitions: Sequence[CustomField]) -> tuple[ImportFile, Any]:
        file = imports.deal_rows_read(reading, members=_members())
        return file, _deal_rows_import(file, by=by)

    return _import(
        entity=Entity.DEAL,
        by=by,
        content=content,
        filename=filename,
        options="",
        dry_run=dry_run,
        idempotency_key=idempotency_key,
        mapping=mapping,
        date_order=date_order,
        write=write,
    )


def _members() -> dict[str, int]:
    """The organization's members' user ids by e-mail address (case aside)."""
    tenant = getattr(connection, "tenant", None)
    if tenant is None:
        return {}
    return {m.user.email.casefold(): m.user_id for m in member_list(tenant=tenant)}


def _digest(entity: str, content: bytes, options: str, mapping: Any, date_order: str) -> str:
    """What a retry with the same idempotency key must repeat: the file and the options."""
    parts = [options]
    if entity != Entity.CONTACT:
        parts.insert(0, entity)
    if mapping is not None or date_order:
        parts.append(json.dumps(mapping, sort_keys=True) + date_order)
    return hashlib.sha256(content + b"\x00" + "\x00".join(parts).encode()).hexdigest()


def _reading(
    entity: str,
    content: bytes,
    *,
    definitions: Sequence[CustomField],
    mapping: dict[str, Any] | None,
    date_order: str,
) -> Reading:
    """The file read with `mapping` (else the mapping remembered for its headings, else the
    one they propose) and `date_order` (else as its date columns settle, else the order
    remembered with the mapping)."""
    table = imports.table_read(content, entity=entity)
    remembered = import_mapping_get(entity=entity, headings=table.headings)
    if mapping is None and remembered is not None:
        mapping = imports.mapping_usable(entity, table.headings, remembered.mapping, definitions)
    try:
        return imports.reading_make(
            entity, table, definitions=definitions, mapping=mapping, date_order=date_order
        )
    except InvalidFields as exc:
        if date_order or remembered is None or not remembered.date_order:
            raise
        if set(exc.field_errors()) != {"date_order"}:
            raise
    return imports.reading_make(
        entity, table, definitions=definitions, mapping=mapping, date_order=remembered.date_order
    )


def _import(
    *,
    entity: str,
    by: Any,
    content: bytes,
    filename: str,
    options: str,
    dry_run: bool,
    idempotency_key: str | None,
    mapping: dict[str, Any] | None,
    date_order: str,
    write: Callable[[Reading, Sequence[CustomField]], tuple[ImportFile, ContactImport]],
) -> ContactImport:
    """An import of `entity` records, all or nothing: the file read (see `_reading`), its
    rows written by `write` inside one transaction, kept unless a row is bad (then
    ContactImportInvalid) or it is a dry run. `mapping` (heading -> field, "" to leave a
    column out) and `date_order` (DMY, MDY or YMD) are remembered for files with the same
    headings when given and the import is kept."""
    digest = _digest(entity, content, options, mapping, date_order)
    with transaction.atomic():
        if idempotency_key and not dry_run:
            # A retry is answered with its first import whatever the plan says now; a new
            # import is counted against the imports a day before its key is claimed (the
            # claim is an import row of its own).
            earlier = _import_replay(idempotency_key, digest)
            if earlier is not None:
                return earlier
            _import_room_require(idempotency_key, digest)
            earlier = _import_claim(idempotency_key, digest)
            if earlier is not None:
                return earlier
        else:  # a dry run is asked too, so that it answers as the import would
            plan_room_require("imports_per_day")
        definitions = (
            _definitions_for_write(CustomField.Entity.CONTACT) if entity == Entity.CONTACT else []
        )
        reading = _reading(
            entity, content, definitions=definitions, mapping=mapping, date_order=date_order
        )
        file, result = write(reading, definitions)
        result.filename = filename[:255]
        result.digest = digest
        result.on_duplicate = options if entity == Entity.CONTACT else ""
        result.by_id = getattr(by, "pk", None)
        if file.errors:  # rolls back what the valid rows did, which the summary reports
            result.dry_run = True
            raise _import_invalid(file, summary=result)
        if dry_run:
            transaction.set_rollback(True)
        else:
            if mapping is not None:
                _mapping_remember(entity, reading, date_order=date_order, by=by)
            if idempotency_key:
                claimed = ContactImport.objects.get(idempotency_key=idempotency_key)
                result.pk, result.created_at = claimed.pk, claimed.created_at
                result.idempotency_key = idempotency_key
                result.save(force_update=True)
            else:
                result.save(force_insert=True)
            audit_record(
                actor=by,
                action=f"{entity}.imported",
                target=("import", result.pk, filename[:200]),
                changes={
                    "rows": [None, result.rows],
                    "created": [None, result.records_created],
                    "updated": [None, result.contacts_updated],
                    "skipped": [None, result.rows_skipped],
                },
            )
    result.dry_run = dry_run
    log.info(
        f"{entity}.imported",
        contact_import=result.pk,
        dry_run=dry_run,
        rows=result.rows,
        created=result.records_created,
        updated=result.contacts_updated,
        skipped=result.rows_skipped,
        companies_created=result.companies_created,
        by=getattr(by, "pk", None),
    )
    return result


def _mapping_remember(entity: str, reading: Reading, *, date_order: str, by: Any) -> None:
    """Keep the mapping a person chose, for the next file with the same headings."""
    table = reading.table
    chosen = {h: "" for h in table.headings if h}
    for i, target in reading.columns.items():
        chosen[table.headings[i]] = target.name
    ImportMapping.objects.update_or_create(
        entity=entity,
        headings_digest=table.digest,
        defaults={"mapping": chosen, "date_order": date_order, "by_id": getattr(by, "pk", None)},
    )


def _report(file: ImportFile, skipped: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "skipped": list(skipped),
        "columns": file.columns,
        "ignored_columns": file.ignored_columns,
        "date_orders": file.date_orders,
    }


_SERVICE_FIELDS = {"owner_id": "owner", "company_name": "company"}


def _row_errors(exc: InvalidFields) -> dict[str, list[str]]:
    """A service's field errors as the import names the columns (`tags.3` is `tags`)."""
    found: dict[str, list[str]] = {}
    for name, messages in exc.field_errors().items():
        name = name.split(".")[0]
        found.setdefault(_SERVICE_FIELDS.get(name, name), []).extend(messages)
    return found


def _lead_rows_import(file: ImportFile, *, by: Any) -> ContactImport:
    """The file's lead rows made by `lead_create`, inside `_import`'s transaction; a row
    its rules refuse joins the file's bad rows."""
    skipped: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    indexes: dict[int, str] = {
        row.number: blind_index_for(Lead, "email", row.values["email"])
        for row in file.rows
        if row.values.get("email")
    }
    existing: dict[str, int] = {}
    values = sorted(set(indexes.values()))
    for start in range(0, len(values), 1000):
        for pk, index in Lead.objects.filter(
            email_index__in=values[start : start + 1000]
        ).values_list("pk", "email_index"):
            existing.setdefault(index, pk)
    created = 0
    tagging: list[tuple[Lead, list[str]]] = []
    for row in file.rows:
        index = indexes.get(row.number, "")
        if index in seen:
            skipped.append({"row": row.number, "reason": "duplicate-row", "of_row": seen[index]})
            continue
        if index in existing:
            skipped.append({"row": row.number, "reason": "existing-lead", "lead": existing[index]})
            continue
        if index:
            seen[index] = row.number
        fields = dict(row.values)
        try:  # its rules are checked before it writes
            tag_names = _tag_names(fields)
            lead = lead_create(by=by, **{"source": Lead.Source.IMPORT, **fields})
        except InvalidFields as exc:
            file.row_failed(row.number, _row_errors(exc))
            continue
        tagging.append((lead, tag_names))
        created += 1
    _tags_add(Lead, tagging, by=by)
    return ContactImport(
        entity=Entity.LEAD,
        rows=created + len(skipped),
        records_created=created,
        rows_skipped=len(skipped),
        report=_report(file, skipped),
    )


def _deal_rows_import(file: ImportFile, *, by: Any) -> ContactImport:
    """The file's deal rows made by `deal_create`, inside `_import`'s transaction, with the
    pipeline and stage each names (errors naming the choices when there is none such) and
    its company (matched by name, or made); a row the rules refuse joins the bad rows."""
    pipelines = list(Pipeline.objects.filter(is_archived=False).order_by("-is_default", "id"))
    by_name: dict[str, Pipeline] = {}
    for each in pipelines:
        by_name.setdefault(each.name.casefold(), each)
    default = next((p for p in pipelines if p.is_default), pipelines[0] if pipelines else None)
    stages: dict[int, dict[str, Stage]] = {}
    for open_stage in Stage.objects.filter(is_archived=False, pipeline__in=pipelines):
        stages.setdefault(open_stage.pipeline_id, {}).setdefault(
            open_stage.name.casefold(), open_stage
        )
    errors: dict[str, list[str]] = {}
    companies, made = _companies_for_import(file.rows, by=by, errors=errors)
    for key, messages in errors.items():
        file.row_failed(int(key.split(".")[1]), {"company": messages})
    failed = {int(key.split(".")[1]) for key in errors}
    created = 0
    tagging_deals: list[tuple[Deal, list[str]]] = []
    for row in file.rows:
        if row.number in failed:
            continue
        values = dict(row.values)
        pipeline_name, stage_name = values.pop("pipeline_name"), values.pop("stage_name")
        row_errors: dict[str, list[str]] = {}
        pipeline: Pipeline | None = default
        if pipeline_name:
            pipeline = by_name.get(pipeline_name.casefold())
            if pipeline is None:
                names = ", ".join(p.name for p in pipelines)
                row_errors["pipeline"] = [
                    f"There is no pipeline “{pipeline_name}”; choose one of: {names}."
                ]
            else:
                values["pipeline"] = pipeline
        if stage_name and pipeline is not None:
            stage: Stage | None = stages.get(pipeline.pk, {}).get(stage_name.casefold())
            if stage is None:
                names = ", ".join(
                    s.name for s in sorted(stages.get(pipeline.pk, {}).values(), key=_position)
                )
                row_errors["stage"] = [
                    f"The pipeline “{pipeline.name}” has no stage “{stage_name}”; "
                    f"choose one of: {names}."
                ]
            else:
                values["pipeline"], values["stage"] = pipeline, stage
        if row.company_name:
            values["company"] = companies.get(row.company_name.lower())
        if row_errors:
            file.row_failed(row.number, row_errors)
            continue
        try:  # its rules are checked before it writes
            tag_names = _tag_names(values)
            deal = deal_create(by=by, **values)
        except InvalidFields as exc:
            file.row_failed(row.number, _row_errors(exc))
            continue
        tagging_deals.append((deal, tag_names))
        created += 1
    _tags_add(Deal, tagging_deals, by=by)
    return ContactImport(
        entity=Entity.DEAL,
        rows=created,
        records_created=created,
        companies_created=made,
        report=_report(file, []),
    )


def _tag_names(values: dict[str, Any]) -> list[str]:
    """The row's tags, taken out of `values` and checked by the tags' rules (InvalidFields
    `tags.<n>`): the import tags its records at once, after making them (`_tags_add`)."""
    names = values.pop("tags", None)
    return tag_names_clean(names) if names is not None else []


def _tags_add(
    model: type[Lead] | type[Deal], tagging: Sequence[tuple[Any, list[str]]], *, by: Any
) -> None:
    """Tag the records made, each with its (checked) names: the tags looked up or made once
    for the whole file, the links written in one statement per thousand."""
    wanted: dict[str, str] = {}  # the first spelling of each name
    for _, names in tagging:
        for name in names:
            wanted.setdefault(name.casefold(), name)
    if not wanted:
        return
    tags = {tag.name.casefold(): tag for tag in tags_get_or_create(wanted.values())}
    through: Any = model.tags.through
    field = model.__name__.lower() + "_id"
    links = [
        through(**{field: record.pk, "tag_id": tags[name.casefold()].pk})
        for record, names in tagging
        for name in names
    ]
    through.objects.bulk_create(links, batch_size=1000)
    log.info(
        "tags.imported",
        record=model.__name__.lower(),
        records=len(tagging),
        tags=sorted(t.pk for t in tags.values()),
        by=getattr(by, "pk", None),
    )


def _position(stage: Stage) -> int:
    return stage.position


# Contacts ---------------------------------------------------------------------------------


def _import_replay(key: str, digest: str) -> ContactImport | None:
    """The earlier import made with this idempotency key, if any (ImportKeyReused if it was
    of another file or with other options)."""
    earlier = ContactImport.objects.filter(idempotency_key=key).first()
    if earlier is None:
        return None
    if earlier.digest != digest:
        raise ImportKeyReused(
            "This idempotency key was used for another file or other options; "
            "send a new key for a new import."
        )
    earlier.replayed = True
    return earlier


def _import_room_require(key: str, digest: str) -> None:
    """Ask the plan for one more import today. A request racing a retry of itself waits for
    the plan's lock behind it; when the limit then refuses it, the retry's import (committed
    meanwhile) is its answer, so that is looked for before the refusal goes out."""
    try:
        plan_room_require("imports_per_day")
    except PlanLimitReached:
        if ContactImport.objects.filter(idempotency_key=key).exists():
            return
        raise


def _import_claim(key: str, digest: str) -> ContactImport | None:
    """Claim an idempotency key for this transaction's import; return the earlier import when
    the key was used (waiting for one still running), or ImportKeyReused if that import was
    of another file or with other options."""
    try:
        with transaction.atomic():
            ContactImport.objects.create(idempotency_key=key, digest=digest, on_duplicate="")
        return None
    except IntegrityError:
        earlier = ContactImport.objects.get(idempotency_key=key)
    if earlier.digest != digest:
        raise ImportKeyReused(
            "This idempotency key was used for another file or other options; "
            "send a new key for a new import."
        )
    earlier.replayed = True
    return earlier


def _rows_indexed(rows: Sequence[ImportRow]) -> dict[int, tuple[str, str]]:
    """Row number -> (e-mail, phone) blind-index values ("" where the row has none)."""
    return {
        row.number: (
            blind_index_for(Contact, "email", row.values["email"]) if row.values["email"] else "",
            blind_index_for(Contact, "phone", row.values["phone"]) if row.values["phone"] else "",
        )
        for row in rows
    }


def _contacts_by_index(column: str, values: set[str]) -> dict[str, Contact]:
    """The oldest contact per blind-index value of `column`, for the values given."""
    found: dict[str, Contact] = {}
    chunk = sorted(values)
    for start in range(0, len(chunk), 1000):
        for contact in Contact.objects.filter(**{f"{column}__in": chunk[start : start + 1000]}):
            index = getattr(contact, column)
            if index not in found or contact.pk < found[index].pk:
                found[index] = contact
    return found


def _companies_for_import(
    rows: Sequence[ImportRow], *, by: Any, errors: dict[str, list[str]]
) -> tuple[dict[str, Company], int]:
    """The companies the rows name, by lowercased name: existing ones (case-insensitive
    match), and new ones made for names not found. Returns them and how many were made."""
    wanted: dict[str, tuple[str, list[int]]] = {}
    for row in rows:
        if row.company_name:
            entry = wanted.setdefault(row.company_name.lower(), (row.company_name, []))
            entry[1].append(row.number)
    if not wanted:
        return {}, 0
    found: dict[str, Company] = {}
    for company in (
        Company.objects.annotate(lowered=Lower("name"))
        .filter(lowered__in=list(wanted))
        .order_by("id")
    ):
        found.setdefault(company.name.lower(), company)
    made = 0
    for lowered, (name, numbers) in wanted.items():
        if lowered in found:
            continue
        try:
            found[lowered] = company_create(by=by, name=name)
            made += 1
        except InvalidFields:
            for number in numbers:
                errors[f"rows.{number}.company"] = [
                    f"There is no company “{name}” yet, and a new company needs values for "
                    "its required fields; add it first."
                ]
    return found, made


def _import_invalid(file: ImportFile, *, summary: ContactImport) -> ContactImportInvalid:
    """The failure of an import with bad rows, `file.errors` naming the first of them."""
    errors = dict(file.errors)
    listed = {key.split(".")[1] for key in errors if key.startswith("rows.")}
    if file.bad_rows > len(listed):
        errors["file"] = [f"{file.bad_rows:,} rows need attention; the first are listed."]
    return ContactImportInvalid(errors, summary=summary, bad_rows=file.bad_rows)


def _updates_require(
    principal: authz.Principal | None, updating: Sequence[tuple[ImportRow, Contact]]
) -> None:
    """Refuse the import, naming its rows, when any contact it would update is one the
    importer may not edit (roles, ownership, teams, shares and policies, contact by contact)."""
    refused = [
        (row, decision)
        for row, contact in updating
        if not (decision := authz.check(principal, "edit", record=contact)).allowed
    ]
    if refused:
        rows = ", ".join(str(row.number) for row, _ in refused[:10])
        first = refused[0][1]
        raise AccessDenied(
            f"Rows {rows} would update contacts you may not edit: {first.reason}",
            policies=sorted({name for _, d in refused for name in d.policy_names}),
        )


def _contact_rows_import(
    file: ImportFile,
    *,
    definitions: Sequence[CustomField],
    by: Any,
    mode: str,
    principal: authz.Principal | None = None,
) -> ContactImport:
    """The import of the file's valid rows, inside `contact_import`'s transaction; the
    returned record is not saved yet. A row that can't be written after all (its company or
    custom values) is moved to the file's bad rows; while there are any, the contacts are
    not written, and the record only says what the valid rows would do."""
    rows = file.rows
    indexes = _rows_indexed(rows)
    _email_locks(e for e, _ in indexes.values())
    by_email = _contacts_by_index("email_index", {e for e, _ in indexes.values() if e})
    by_phone = _contacts_by_index("phone_index", {p for e, p in indexes.values() if p and not e})
    seen_email: dict[str, int] = {}
    seen_phone: dict[str, int] = {}
    updated_by: dict[int, int] = {}  # contact id -> the row that updated it
    skipped: list[dict[str, Any]] = []
    creating: list[ImportRow] = []
    updating: list[tuple[ImportRow, Contact]] = []
    for row in rows:
        email, phone = indexes[row.number]
        earlier = seen_email.get(email) if email else seen_phone.get(phone) if phone else None
        match = by_email.get(email) if email else by_phone.get(phone) if phone else None
        if earlier is None and match is not None and match.pk in updated_by:
            earlier = updated_by[match.pk]
        if earlier is not None:
            skipped.append({"row": row.number, "reason": "duplicate-row", "of_row": earlier})
            continue
        if email:
            seen_email[email] = row.number
        if phone:
            seen_phone.setdefault(phone, row.number)
        if match is None:
            creating.append(row)
        elif mode == ContactImport.OnDuplicate.SKIP:
            skipped.append({"row": row.number, "reason": "existing-contact", "contact": match.pk})
        else:
            updated_by[match.pk] = row.number
            updating.append((row, match))

    if principal is not None:
        _updates_require(principal, updating)
    # Refused whole, before the first row (or company) is written, when the new contacts
    # would pass the plan's limit.
    plan_room_require("contacts", len(creating))
    errors: dict[str, list[str]] = {}
    companies, companies_made = _companies_for_import(
        [*creating, *(row for row, _ in updating)], by=by, errors=errors
    )
    owner_id = getattr(by, "pk", None)
    new: list[Contact] = []
    for row in creating:
        contact = Contact(
            owner_id=owner_id, company=companies.get(row.company_name.lower()), **row.values
        )
        try:
            custom_values_assign(
                record=contact, values=row.custom, creating=True, definitions=definitions
            )
        except InvalidFields as exc:
            errors.update({f"rows.{row.number}.{k}": v for k, v in exc.field_errors().items()})
        new.append(contact)
    failed = {int(key.split(".")[1]) for key in errors}
    if failed:
        file.bad_rows += len(failed)
        file.errors.update(errors)
        new = [c for c, row in zip(new, creating, strict=True) if row.number not in failed]
        updating = [(row, c) for row, c in updating if row.number not in failed]
    if file.errors:
        return _import_summary(
            file, new=new, updating=updating, skipped=skipped, made=companies_made
        )
    Contact.objects.bulk_create(new, batch_size=500)
    for row, contact in updating:
        fields = [k for k, v in row.values.items() if v not in ("", None) and k != "email"]
        for key in fields:
            setattr(contact, key, row.values[key])
        if row.company_name:
            contact.company = companies[row.company_name.lower()]
            fields.append("company")
        if row.custom:
            fields += custom_values_assign(
                record=contact, values=row.custom, creating=False, definitions=definitions
            )
        contact.save(update_fields=with_derived_fields(Contact, [*fields, "updated_at"]))
    return _import_summary(file, new=new, updating=updating, skipped=skipped, made=companies_made)


def _import_summary(
    file: ImportFile,
    *,
    new: Sequence[Contact],
    updating: Sequence[tuple[ImportRow, Contact]],
    skipped: Sequence[dict[str, Any]],
    made: int,
) -> ContactImport:
    return ContactImport(
        entity=ContactImport.Entity.CONTACT,
        rows=len(new) + len(updating) + len(skipped),
        contacts_created=len(new),
        contacts_updated=len(updating),
        records_created=len(new),
        rows_skipped=len(skipped),
        companies_created=made,
        report=_report(file, skipped),
    )
