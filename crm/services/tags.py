"""Tags on contacts, companies, leads and deals: created on first use, matched by name
whatever its case, renamed and deleted by owners and admins."""

from collections.abc import Iterable
from typing import Any

import structlog
from django.db import IntegrityError, transaction

from crm.exceptions import TagNameTaken
from crm.models import Company, Contact, Deal, Lead, Tag
from problems.exceptions import InvalidFields

log = structlog.get_logger(__name__)

TAG_MAX_LENGTH = 50
TAGS_PER_RECORD = 50
TAG_HELP = f"Give a tag of 1 to {TAG_MAX_LENGTH} characters."

Tagged = Contact | Company | Lead | Deal


def tag_name_clean(value: Any, *, field: str = "name") -> str:
    """A tag's name, trimmed; raises InvalidFields (`field`) for anything but 1 to 50
    characters of text without control characters."""
    if not isinstance(value, str):
        raise InvalidFields({field: ["Give the tag as text."]})
    name = " ".join(value.split())
    if not name or len(name) > TAG_MAX_LENGTH:
        raise InvalidFields({field: [TAG_HELP]})
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise InvalidFields({field: ["A tag can't contain control characters."]})
    return name


def tag_names_clean(values: Any, *, field: str = "tags") -> list[str]:
    """Tag names for one record, trimmed, each once (case aside), in the order given.
    Raises InvalidFields with an error per bad name (`tags.<n>`)."""
    if not isinstance(values, list | tuple):
        raise InvalidFields({field: ["Give a list of tag names."]})
    if len(values) > TAGS_PER_RECORD:
        raise InvalidFields({field: [f"Give at most {TAGS_PER_RECORD} tags."]})
    names: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for i, value in enumerate(values):
        try:
            name = tag_name_clean(value, field=f"{field}.{i}")
        except InvalidFields as exc:
            errors.update(exc.errors)
            continue
        names.setdefault(name.casefold(), name)
    if errors:
        raise InvalidFields(errors)
    return list(names.values())


def tags_get_or_create(names: Iterable[str]) -> list[Tag]:
    """The tags of these (clean) names, matched case-insensitively; missing ones are made.
    Two requests making the same new tag at once both end up with the one row."""
    tags = []
    for name in names:
        tag = Tag.objects.filter(name__iexact=name).first()
        if tag is None:
            try:
                with transaction.atomic():
                    tag = Tag.objects.create(name=name)
            except IntegrityError:  # made meanwhile by another request
                tag = Tag.objects.get(name__iexact=name)
        tags.append(tag)
    return tags


def tags_set(*, record: Tagged, names: Any, by: Any) -> list[Tag]:
    """Give the record exactly these tags (names as typed; see `tag_names_clean`)."""
    clean = tag_names_clean(names)
    with transaction.atomic():
        tags = tags_get_or_create(clean)
        record.tags.set(tags)
    # Names a list read with the record (crm.selectors.tags.with_tag_names) are now stale.
    record.__dict__.pop("tag_names", None)
    log.info(
        "tags.set",
        record=type(record).__name__.lower(),
        id=record.pk,
        tags=[t.pk for t in tags],
        by=getattr(by, "pk", None),
    )
    return tags


def tag_rename(*, tag: Tag, name: Any, by: Any) -> Tag:
    """Rename a tag everywhere it is used. Raises TagNameTaken (409) when another tag has
    the name, case aside."""
    clean = tag_name_clean(name)
    if Tag.objects.filter(name__iexact=clean).exclude(pk=tag.pk).exists():
        raise TagNameTaken(f"There is already a tag named {clean}.", field="name")
    tag.name = clean
    try:
        with transaction.atomic():
            tag.save(update_fields=["name"])
    except IntegrityError:
        raise TagNameTaken(f"There is already a tag named {clean}.", field="name") from None
    log.info("tag.renamed", tag=tag.pk, by=getattr(by, "pk", None))
    return tag


def tag_delete(*, tag: Tag, by: Any) -> None:
    """Delete a tag; the records keep everything else."""
    pk = tag.pk
    tag.delete()
    log.info("tag.deleted", tag=pk, by=getattr(by, "pk", None))
