"""Every write to CRM records. Callers pass the acting user; the tenant is the connection's."""

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import structlog
from anyascii import anyascii
from django.core.exceptions import ValidationError
from django.core.validators import DomainNameValidator, URLValidator, validate_email
from django.db import IntegrityError, connection, models, transaction
from django.db.models import F, Q
from django.db.models.functions import Cast
from django.utils.text import slugify

from billing.entitlements import require_capacity
from crm.exceptions import (
    ContactEmailTaken,
    CustomFieldKeyTaken,
    CustomFieldLimitReached,
)
from crm.models import Company, Contact, CustomField, Pipeline, Stage
from iam.audit import audit_record, audit_snapshot, changes_between, changes_of_new
from iam.selectors import member_list
from pii.fields import blind_index_for, with_derived_fields
from problems.exceptions import InvalidFields
from tenants.services import tenant_settings_changed

from .tags import tags_set
from .trash import record_trash

log = structlog.get_logger(__name__)

DEFAULT_STAGES = (
    ("Lead in", 10, False, False),
    ("Qualified", 25, False, False),
    ("Proposal sent", 50, False, False),
    ("Negotiation", 75, False, False),
    ("Won", 100, True, False),
    ("Lost", 0, False, True),
)

CONTACT_FIELDS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "title",
    "company",
    "address",
    "birthday",
)
COMPANY_FIELDS: tuple[str, ...] = ("name", "domain", "phone")


def pipeline_create_default() -> Pipeline:
    """The sales pipeline every new organization starts with."""
    pipeline = Pipeline.objects.create(name="Sales", is_default=True)
    Stage.objects.bulk_create(
        Stage(pipeline=pipeline, name=name, position=i, probability=p, is_won=won, is_lost=lost)
        for i, (name, p, won, lost) in enumerate(DEFAULT_STAGES)
    )
    return pipeline


def _email_locks(indexes: Iterable[str]) -> None:
    """Transaction-scoped advisory locks on the buckets (first two hex digits, so 256 at most)
    of e-mail blind-index values, taken in order: writers of one address take turns, and an
    import of thousands of addresses neither exhausts the lock table nor deadlocks another.

    Advisory locks are shared by the whole database, so the key names the organization's
    schema: an import holding every bucket of its own organization leaves others' alone."""
    schema = connection.schema_name  # type: ignore[attr-defined]
    with connection.cursor() as cur:
        for bucket in sorted({index[:2] for index in indexes if index}):
            cur.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                [f"crm.contact.email:{schema}:{bucket}"],
            )


def _email_is_free(contact: Contact) -> None:
    """Duplicate detection: no two contacts of an organization share an e-mail address.

    Addresses are compared by their blind index (case and surrounding spaces ignored), since
    the column itself only holds ciphertext. A transaction-scoped advisory lock on the index
    value's bucket makes two concurrent writes of the same address take turns, so the check
    cannot be raced; contacts that shared an address before this rule keep it until one is edited.
    """
    email = (contact.email or "").strip()
    if not email:
        return
    index = blind_index_for(Contact, "email", email)
    _email_locks([index])
    taken = Contact.objects.filter(email_index=index).exclude(pk=contact.pk).first()
    if taken is not None:
        raise ContactEmailTaken(
            f"{taken.full_name} already has the e-mail address {email}.",
            field="email",
            contact=taken.pk,
        )


OWNER_HELP = "Choose a member of the organization."


def owner_id_clean(value: Any) -> int | None:
    """An owner for a record: None (nobody) or the user id of a member of the organization.
    Raises InvalidFields (`owner_id`) otherwise."""
    if value is None:
        return None
    tenant = getattr(connection, "tenant", None)
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or tenant is None
        or not member_list(tenant=tenant).filter(user_id=value).exists()
    ):
        raise InvalidFields({"owner_id": [OWNER_HELP]})
    return value


def _contact_score_queue(contact: Contact) -> None:
    """Rescore the contact in the background once the change is committed."""
    from .scoring import contact_score_queue  # scoring reads the leads module, which reads this

    contact_score_queue(contact_id=contact.pk)


def plan_room_require(name: str, adding: int = 1) -> None:
    """Refuse (402 `plan-limit`, nothing written) unless the plan of the organization this
    connection is in has room for `adding` more `name` (a limit of billing.models.LIMITS).
    Call it inside the transaction that adds them, before the first write."""
    tenant = connection.tenant  # type: ignore[attr-defined]
    require_capacity(tenant=tenant, name=name, adding=adding)


def _audit_watched(fields: Sequence[str], data: Mapping[str, Any]) -> list[str]:
    """The fields an update may change, for its audit row: only those given, so values
    that stay as they were (encrypted ones included) are not even read."""
    watched = [key for key in (*fields, "owner_id") if key in data]
    return [*watched, "custom", "custom_sealed"] if "custom" in data else watched


def contact_create(
    *,
    by: Any,
    definitions: Sequence[CustomField] | None = None,
    room_asked: bool = False,
    **data: Any,
) -> Contact:
    """A new contact, owned by `by` unless `owner_id` names another member (or None);
    `custom` maps custom field keys to values (see `custom_values_assign`; a caller writing
    many records in one transaction passes the `definitions` it locked once, from
    `_definitions_for_write`, and `room_asked` once it asked the plan for room for all of
    them). Raises ContactEmailTaken when another contact has the same e-mail address, and
    PlanLimitReached when the plan's contacts are all taken."""
    fields = {k: v for k, v in data.items() if k in CONTACT_FIELDS}
    owner_id = owner_id_clean(data["owner_id"]) if "owner_id" in data else getattr(by, "pk", None)
    with transaction.atomic():
        if not room_asked:
            plan_room_require("contacts")
        contact = Contact(owner_id=owner_id, **fields)
        _email_is_free(contact)
        custom_values_assign(
            record=contact,
            values=data.get("custom") or {},
            creating=True,
            definitions=definitions,
        )
        created = changes_of_new(contact, [*CONTACT_FIELDS, "owner_id", "custom", "custom_sealed"])
        contact.save(force_insert=True)
        if data.get("tags") is not None:
            tags_set(record=contact, names=data["tags"], by=by)
        _contact_score_queue(contact)
        audit_record(actor=by, action="contact.created", target=contact, changes=created)
    log.info("contact.created", contact=contact.pk, by=getattr(by, "pk", None))
    return contact


def contact_update(
    *,
    contact: Contact,
    by: Any,
    definitions: Sequence[CustomField] | None = None,
    **data: Any,
) -> Contact:
    """Change the given fields; `custom` changes only the custom values it names."""
    fields = [k for k in data if k in CONTACT_FIELDS]
    watched = _audit_watched(CONTACT_FIELDS, data)
    before = audit_snapshot(contact, watched)
    if "owner_id" in data:
        contact.owner_id = owner_id_clean(data["owner_id"])
        fields.append("owner_id")
    for key in CONTACT_FIELDS:
        if key in data:
            setattr(contact, key, data[key])
    with transaction.atomic():
        if "email" in fields:
            _email_is_free(contact)
        if "custom" in data:
            fields += custom_values_assign(
                record=contact, values=data["custom"], creating=False, definitions=definitions
            )
        contact.save(update_fields=with_derived_fields(Contact, [*fields, "updated_at"]))
        if data.get("tags") is not None:
            tags_set(record=contact, names=data["tags"], by=by)
        _contact_score_queue(contact)
        audit_record(
            actor=by,
            action="contact.updated",
            target=contact,
            changes=changes_between(before, audit_snapshot(contact, watched), model=Contact),
        )
    log.info("contact.updated", contact=contact.pk, by=getattr(by, "pk", None), fields=fields)
    return contact


def contact_delete(*, contact: Contact, by: Any) -> None:
    """Move the contact to the trash (`crm.services.trash`)."""
    record_trash(record=contact, by=by)


_validate_domain = DomainNameValidator()
_COMPANY_DOMAIN_HELP = "Enter the company's domain, such as example.com."


def company_domain_clean(value: Any) -> str:
    """The domain a company's web address or domain names, lowercased, without scheme,
    port, path or a leading `www.` (`https://www.Example.pl/about` -> `example.pl`); "" for
    none. Raises InvalidFields (`domain`) for anything that names no domain."""
    if value is None:
        return ""
    if not isinstance(value, str) or "\x00" in value:
        raise InvalidFields({"domain": [_COMPANY_DOMAIN_HELP]})
    text = value.strip()
    if not text:
        return ""
    try:
        host = urlsplit(text if "://" in text else f"//{text}").hostname or ""
    except ValueError:  # a malformed port or bracketed host
        host = ""
    host = host.rstrip(".")
    if host.startswith("www.") and "." in host[4:]:
        host = host[4:]
    try:
        _validate_domain(host)
    except ValidationError:
        raise InvalidFields({"domain": [_COMPANY_DOMAIN_HELP]}) from None
    return host


def company_create(
    *, by: Any, definitions: Sequence[CustomField] | None = None, **data: Any
) -> Company:
    """A new company, owned by `by` unless `owner_id` names another member (or None);
    `custom` maps custom field keys to values (see `custom_values_assign`).
    The domain is stored as the bare domain (`company_domain_clean`)."""
    fields = {k: v for k, v in data.items() if k in COMPANY_FIELDS}
    if "domain" in fields:
        fields["domain"] = company_domain_clean(fields["domain"])
    owner_id = owner_id_clean(data["owner_id"]) if "owner_id" in data else getattr(by, "pk", None)
    with transaction.atomic():
        company = Company(owner_id=owner_id, **fields)
        custom_values_assign(
            record=company,
            values=data.get("custom") or {},
            creating=True,
            definitions=definitions,
        )
        created = changes_of_new(company, [*COMPANY_FIELDS, "owner_id", "custom", "custom_sealed"])
        company.save(force_insert=True)
        if data.get("tags") is not None:
            tags_set(record=company, names=data["tags"], by=by)
        audit_record(actor=by, action="company.created", target=company, changes=created)
    log.info("company.created", company=company.pk, by=getattr(by, "pk", None))
    return company


def company_update(
    *,
    company: Company,
    by: Any,
    definitions: Sequence[CustomField] | None = None,
    **data: Any,
) -> Company:
    """Change the given fields; `custom` changes only the custom values it names."""
    fields = [k for k in data if k in COMPANY_FIELDS]
    watched = _audit_watched(COMPANY_FIELDS, data)
    before = audit_snapshot(company, watched)
    if "domain" in data:
        data["domain"] = company_domain_clean(data["domain"])
    if "owner_id" in data:
        company.owner_id = owner_id_clean(data["owner_id"])
        fields.append("owner_id")
    for key in COMPANY_FIELDS:
        if key in data:
            setattr(company, key, data[key])
    with transaction.atomic():
        if "custom" in data:
            fields += custom_values_assign(
                record=company, values=data["custom"], creating=False, definitions=definitions
            )
        company.save(update_fields=[*fields, "updated_at"])
        if data.get("tags") is not None:
            tags_set(record=company, names=data["tags"], by=by)
        audit_record(
            actor=by,
            action="company.updated",
            target=company,
            changes=changes_between(before, audit_snapshot(company, watched), model=Company),
        )
    log.info("company.updated", company=company.pk, by=getattr(by, "pk", None), fields=fields)
    return company


def company_delete(*, company: Company, by: Any) -> None:
    """Move the company to the trash (`crm.services.trash`); its contacts and deals keep
    their link to it, shown as in the trash, until it is restored or purged."""
    record_trash(record=company, by=by)


# Custom fields ---------------------------------------------------------------------------

CUSTOM_FIELDS_PER_ENTITY = 100
CUSTOM_KEY_PATTERN = r"^[a-z][a-z0-9_]{0,49}$"
CUSTOM_OPTIONS_MAX = 100
TEXT_MAX, LONG_TEXT_MAX, OPTION_MAX, URL_MAX = 255, 10_000, 100, 2_000
POSITION_MAX = 32767  # the column is a smallint

Record = Contact | Company
_MODELS: dict[str, type[Contact] | type[Company]] = {
    CustomField.Entity.CONTACT: Contact,
    CustomField.Entity.COMPANY: Company,
}
_KEY = re.compile(CUSTOM_KEY_PATTERN)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PHONE = re.compile(r"^\+?[0-9 ()./-]+$")
_validate_url = URLValidator(schemes=["http", "https"])
_URL_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
# The largest integer a JSON number keeps exactly in every common client (2**53).
_EXACT_INT = 2**53


def entity_of(record: Record) -> str:
    """The custom-field entity a record belongs to."""
    return CustomField.Entity.CONTACT if isinstance(record, Contact) else CustomField.Entity.COMPANY


def custom_value_clean(field: CustomField, value: Any) -> Any:
    """The stored form of `value` for `field` (None: no value), or ValueError with a message
    for the person who typed it. Text is trimmed; dates are ISO strings; numbers JSON numbers."""
    if value is None or value == "":
        return None
    kind = field.type
    if kind == CustomField.Type.BOOLEAN:
        if not isinstance(value, bool):
            raise ValueError("Must be true or false.")
        return value
    if kind == CustomField.Type.NUMBER:
        return _number_clean(value)
    if kind == CustomField.Type.DATE and isinstance(value, dt.date):
        return value.isoformat()
    if not isinstance(value, str):
        raise ValueError("Must be a string.")
    if "\x00" in value:
        raise ValueError("Null characters are not allowed.")
    text = value.strip()
    if not text:
        return None
    limit = LONG_TEXT_MAX if kind == CustomField.Type.LONG_TEXT else TEXT_MAX
    if kind == CustomField.Type.URL:
        limit = URL_MAX
    if len(text) > limit:
        raise ValueError(f"Ensure this value has at most {limit} characters.")
    if kind == CustomField.Type.DATE:
        try:
            if not _DATE.match(text):
                raise ValueError
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            raise ValueError("Enter a valid date as YYYY-MM-DD.") from None
    if kind == CustomField.Type.EMAIL:
        try:
            validate_email(text)
        except ValidationError:
            raise ValueError("Enter a valid e-mail address.") from None
    elif kind == CustomField.Type.PHONE:
        if len(text) > 50 or not _PHONE.match(text) or sum(c.isdigit() for c in text) < 3:
            raise ValueError(
                "Enter a phone number: digits, with spaces, + ( ) - . allowed (at most 50)."
            )
    elif kind == CustomField.Type.URL:
        # People type addresses as they say them (`linkedin.com/in/ada`): https:// is assumed.
        if not _URL_SCHEME.match(text):
            text = f"https://{text.removeprefix('//')}"
            if len(text) > limit:
                raise ValueError(f"Ensure this value has at most {limit} characters.")
        try:
            _validate_url(text)
        except ValidationError:
            raise ValueError(
                "Enter a web address such as example.com/page (only http:// and https:// "
                "addresses)."
            ) from None
    elif kind == CustomField.Type.CHOICE and text not in field.options:
        raise ValueError(f"Choose one of: {', '.join(field.options)}.")
    return text


def _number_clean(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("Must be a number.")
    try:
        number = Decimal(str(value))
        if not number.is_finite() or not math.isfinite(float(number)):
            raise InvalidOperation
    except (InvalidOperation, OverflowError):
        raise ValueError("Must be a finite number.") from None
    if number == number.to_integral_value() and abs(number) < _EXACT_INT:
        return int(number)
    return float(number)


def custom_values_clean(
    *, definitions: Sequence[CustomField], values: Any, creating: bool
) -> dict[str, Any]:
    """Validate custom values by key against the entity's definitions: unknown keys, values
    of the wrong type, and missing or cleared required values are errors, reported together
    as InvalidFields keyed `custom.<key>`. Returns key -> stored value (None: remove it)."""
    if not isinstance(values, Mapping):
        raise InvalidFields({"custom": ["Give an object of values by custom field key."]})
    by_key = {d.key: d for d in definitions}
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for key, raw in values.items():
        field = by_key.get(key)
        if field is None:
            errors[f"custom.{key}"] = ["There is no custom field with this key."]
            continue
        try:
            cleaned[key] = custom_value_clean(field, raw)
        except ValueError as exc:
            errors[f"custom.{key}"] = [str(exc)]
            continue
        if field.required and cleaned[key] is None:
            errors[f"custom.{key}"] = ["This field is required."]
    if creating:
        for field in definitions:
            if field.required and field.key not in values:
                errors[f"custom.{field.key}"] = ["This field is required."]
    if errors:
        raise InvalidFields(errors)
    return cleaned


def _definitions_for_write(entity: str) -> list[CustomField]:
    """The entity's definitions, share-locked until the transaction ends: a change of a
    field's sensitivity locks it for update, so it can't interleave with this write (which
    could otherwise put a value of a field just marked sensitive into plain storage)."""
    table = connection.ops.quote_name(CustomField._meta.db_table)
    with connection.cursor() as cur:
        cur.execute(f"SELECT id FROM {table} WHERE entity = %s FOR SHARE", [entity])  # noqa: S608
    return list(CustomField.objects.filter(entity=entity).order_by("position", "id"))


def custom_values_assign(
    *,
    record: Record,
    values: Any,
    creating: bool,
    definitions: Sequence[CustomField] | None = None,
) -> list[str]:
    """Validate `values` (custom field key -> value; None or "" removes one) and set them on
    the unsaved record: plain ones in `custom`, sensitive ones in `custom_sealed`, which
    encrypts them when the record is saved. Returns the fields to save. Call it inside the
    transaction that saves the record, which has share-locked `definitions` if it gives them
    (`_definitions_for_write`)."""
    if definitions is None:
        definitions = _definitions_for_write(entity_of(record))
    cleaned = custom_values_clean(definitions=definitions, values=values, creating=creating)
    sensitive = {d.key for d in definitions if d.sensitive}
    plain = dict(record.custom)
    sealed = dict(record.custom_sealed) if sensitive & cleaned.keys() else None
    for key, value in cleaned.items():
        target = sealed if key in sensitive and sealed is not None else plain
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    record.custom = plain
    if sealed is None:
        return ["custom"]
    record.custom_sealed = sealed
    return ["custom", "custom_sealed"]


def _custom_key_from_label(label: str) -> str:
    """A key made from the label, transliterated to ASCII (`Größe des Teams` ->
    `grosse_des_teams`, `Размер` -> `razmer`) rather than losing its letters."""
    key = slugify(anyascii(label)).replace("-", "_")[:50].strip("_")
    if key and not key[0].isalpha():
        key = f"f_{key}"[:50].strip("_")
    return key


def _custom_options_clean(kind: str, options: Any, errors: dict[str, list[str]]) -> list[str]:
    if kind != CustomField.Type.CHOICE:
        if options:
            errors["options"] = ["Only single-choice fields have options."]
        return []
    if not isinstance(options, list | tuple) or not all(isinstance(o, str) for o in options):
        errors["options"] = ["Give the options as a list of strings."]
        return []
    cleaned = [o.strip() for o in options if o.strip()]
    seen: set[str] = set()
    for option in cleaned:
        if len(option) > OPTION_MAX or "\x00" in option:
            errors["options"] = [f"Each option is at most {OPTION_MAX} characters of text."]
        elif option.casefold() in seen:
            errors["options"] = [f"“{option}” is there twice."]
        seen.add(option.casefold())
    if not cleaned:
        errors["options"] = ["Give at least one option."]
    elif len(cleaned) > CUSTOM_OPTIONS_MAX:
        errors["options"] = [f"Give at most {CUSTOM_OPTIONS_MAX} options."]
    return cleaned


def _custom_label_clean(label: Any, errors: dict[str, list[str]]) -> str:
    text = label.strip() if isinstance(label, str) else ""
    if not text or "\x00" in text:
        errors["label"] = ["Give the field a name."]
    elif len(text) > 100:
        errors["label"] = ["Ensure this value has at most 100 characters."]
    return text


def _custom_position_check(position: Any, errors: dict[str, list[str]]) -> None:
    whole = isinstance(position, int) and not isinstance(position, bool)
    if not whole or not 0 <= position <= POSITION_MAX:
        errors["position"] = [f"Give a whole number from 0 to {POSITION_MAX}."]


def _next_position(taken: list[int]) -> int:
    """After the last field, as far as the column goes."""
    return min(max(taken, default=-1) + 1, POSITION_MAX)


def custom_field_create(
    *,
    by: Any,
    entity: str,
    label: str,
    type: str,
    key: str = "",
    options: Sequence[str] | None = None,
    sensitive: bool = False,
    required: bool = False,
    position: int | None = None,
) -> CustomField:
    """Define a custom field of contacts or companies. The key defaults to one made from the
    label; it must be unique for the entity (else CustomFieldKeyTaken, 409)."""
    errors: dict[str, list[str]] = {}
    if entity not in CustomField.Entity.values:
        errors["entity"] = [f"Choose one of: {', '.join(CustomField.Entity.values)}."]
    if type not in CustomField.Type.values:
        errors["type"] = [f"Choose one of: {', '.join(CustomField.Type.values)}."]
    label = _custom_label_clean(label, errors)
    key = (key or "").strip() or _custom_key_from_label(label)
    if "label" not in errors and not _KEY.fullmatch(key):
        errors["key"] = [
            "Use 1 to 50 lowercase letters, digits and underscores, starting with a letter."
        ]
    cleaned_options = _custom_options_clean(type, options or [], errors)
    if required and type == CustomField.Type.BOOLEAN:
        errors["required"] = ["A yes/no field always has an answer, so it can't be required."]
    if position is not None:
        _custom_position_check(position, errors)
    if errors:
        raise InvalidFields(errors)
    with transaction.atomic():
        plan_room_require("custom_fields")
        existing = CustomField.objects.select_for_update().filter(entity=entity)
        positions = [f.position for f in existing]
        if len(positions) >= CUSTOM_FIELDS_PER_ENTITY:
            raise CustomFieldLimitReached(
                f"An organization can define up to {CUSTOM_FIELDS_PER_ENTITY} custom fields "
                f"for each of contacts and companies."
            )
        try:
            with transaction.atomic():
                field = CustomField.objects.create(
                    entity=entity,
                    key=key,
                    label=label,
                    type=type,
                    options=cleaned_options,
                    sensitive=sensitive,
                    required=required,
                    position=position if position is not None else _next_position(positions),
                )
        except IntegrityError:
            raise CustomFieldKeyTaken(
                f"A {entity} field with the key “{key}” already exists; choose another key.",
                field="key",
            ) from None
        _definitions_changed()
    log.info(
        "custom_field.created",
        field=field.pk,
        entity=entity,
        key=key,
        sensitive=sensitive,
        by=getattr(by, "pk", None),
    )
    return field


_CUSTOM_FIXED = ("entity", "key", "type")
_CUSTOM_CHANGEABLE = ("label", "options", "sensitive", "required", "position")


def custom_field_update(*, field: CustomField, by: Any, **changes: Any) -> CustomField:
    """Change a definition's label, options, flags or position; its entity, key and type are
    fixed. Marking it sensitive encrypts its existing values, unmarking decrypts them into
    plain storage, and values no longer among a choice's options are removed, all in the
    same transaction."""
    errors: dict[str, list[str]] = {}
    for name in _CUSTOM_FIXED:
        if name in changes and changes[name] != getattr(field, name):
            errors[name] = [f"The {name} of a custom field can't be changed once it exists."]
    data = {k: v for k, v in changes.items() if k in _CUSTOM_CHANGEABLE}
    if "label" in data:
        data["label"] = _custom_label_clean(data["label"], errors)
    if "options" in data:
        data["options"] = _custom_options_clean(field.type, data["options"], errors)
    if "position" in data:
        _custom_position_check(data["position"], errors)
    if data.get("required") and field.type == CustomField.Type.BOOLEAN:
        errors["required"] = ["A yes/no field always has an answer, so it can't be required."]
    if errors:
        raise InvalidFields(errors)
    with transaction.atomic():
        locked = CustomField.objects.select_for_update().get(pk=field.pk)
        was_sensitive, old_options = locked.sensitive, list(locked.options)
        for name, value in data.items():
            setattr(locked, name, value)
        locked.save(update_fields=[*data, "updated_at"])
        removed = set(old_options) - set(locked.options)
        moved = _custom_values_rewrite(
            locked,
            allowed=set(locked.options) if removed else None,
            rewrite_all=locked.sensitive != was_sensitive,
        )
        _definitions_changed()
    for name in data:
        setattr(field, name, getattr(locked, name))
    field.updated_at = locked.updated_at
    log.info(
        "custom_field.updated",
        field=field.pk,
        fields=sorted(data),
        sensitive=locked.sensitive,
        records_rewritten=moved,
        by=getattr(by, "pk", None),
    )
    return field


def _definitions_changed() -> None:
    """Every process reads this organization's definitions afresh once the transaction
    commits (selectors.custom_field_definitions keeps them by settings version)."""
    tenant_settings_changed(tenant=connection.tenant)  # type: ignore[attr-defined]


def _records_holding(field: CustomField) -> models.QuerySet[Any]:
    # Records in the trash too: their values follow the field's changes like any others.
    model = _MODELS[field.entity]
    return model.with_trashed.filter(
        Q(custom__has_key=field.key) | Q(custom_sealed__has_key=field.key)
    ).order_by("pk")


def _custom_values_rewrite(
    field: CustomField, *, allowed: set[str] | None, rewrite_all: bool, batch_size: int = 500
) -> int:
    """Store every value of `field` where its sensitivity says (sealed or plain), dropping
    values not in `allowed` (when given). Rows are locked and rewritten in batches inside
    the caller's transaction. Returns the number of records rewritten."""
    if not rewrite_all and allowed is None:
        return 0
    key, done, last = field.key, 0, 0
    while batch := list(
        _records_holding(field).filter(pk__gt=last).select_for_update()[:batch_size]
    ):
        for record in batch:
            plain, sealed = dict(record.custom), dict(record.custom_sealed)
            value = plain.pop(key) if key in plain else sealed.pop(key, None)
            if allowed is not None and value not in allowed:
                value = None
            if value is not None:
                (sealed if field.sensitive else plain)[key] = value
            if plain == record.custom and sealed == record.custom_sealed:
                continue
            record.custom, record.custom_sealed = plain, sealed
            record.save(update_fields=["custom", "custom_sealed"])
            done += 1
        last = batch[-1].pk
    return done


class _JSONWithout(models.Func):
    """`jsonb - key`: the object without that key (values are left as stored)."""

    arg_joiner = " - "
    template = "(%(expressions)s)"
    output_field = models.JSONField()


def custom_field_delete(*, field: CustomField, by: Any) -> None:
    """Delete a definition and its values from every record, in one transaction."""
    key = field.key
    with transaction.atomic():
        locked = CustomField.objects.select_for_update().get(pk=field.pk)
        key_text = Cast(models.Value(key), models.TextField())
        cleared = _records_holding(locked).update(
            custom=_JSONWithout(F("custom"), key_text),
            custom_sealed=_JSONWithout(F("custom_sealed"), key_text),
        )
        locked.delete()
        _definitions_changed()
    log.info(
        "custom_field.deleted",
        field=field.pk,
        key=key,
        records_cleared=cleared,
        by=getattr(by, "pk", None),
    )


def __getattr__(name: str) -> Any:
    """The import services, from their own module (`crm.services.imports`), which reads
    files with the forms built on the services above: imported when first used."""
    if name in ("contact_import", "lead_import", "deal_import"):
        from . import imports

        return getattr(imports, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
