"""Reads of tags, and the `?tag=` filter every tagged list shares."""

from typing import Any, TypeVar, cast

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import (
    Count,
    IntegerField,
    ManyToManyField,
    Model,
    OuterRef,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce, Lower

from crm.models import Tag

M = TypeVar("M", bound=Model)

# The relations of Tag to what it labels, as named on Tag (related_name of each `tags`).
TAGGED = ("contacts", "companies", "leads", "deals")


def _count_of(relation: str) -> Coalesce:
    through = Tag._meta.get_field(relation).through  # type: ignore[union-attr]
    tagged = Tag._meta.get_field(relation).related_model
    counted = (
        through.objects.filter(tag_id=OuterRef("pk"))
        # What is in the trash is not counted: the tag's page lists live records only.
        .filter(**{f"{tagged._meta.model_name}__deleted_at__isnull": True})  # type: ignore[union-attr]
        .order_by()
        .values("tag_id")
        .annotate(n=Count("*"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def tag_list(*, search: str = "") -> QuerySet[Tag]:
    """Tags by name, each with how many contacts, companies, leads and deals carry it
    (`<relation>_count`), in one statement."""
    qs = Tag.objects.annotate(**{f"{r}_count": _count_of(r) for r in TAGGED})
    if search:
        qs = qs.filter(name__icontains=search)
    return qs.order_by("name", "id")


def tagged_with(qs: QuerySet[M], tag: str) -> QuerySet[M]:
    """Only the records carrying the tag named `tag` (case and surrounding spaces aside);
    no filter for a blank name."""
    name = " ".join(tag.split())
    if not name:
        return qs
    if "\x00" in name:  # no tag has one, and PostgreSQL refuses it in text
        return qs.none()
    return qs.filter(tags__name__iexact=name)


def with_tag_names(qs: QuerySet[M]) -> QuerySet[M]:
    """The records with `tag_names`, their tags' names in name order, read in the records'
    own statement (a subquery per row), not by a prefetch that builds a queryset per record."""
    field = cast("ManyToManyField[Any, Any]", qs.model._meta.get_field("tags"))
    names = (
        Tag.objects.filter(**{field.related_query_name(): OuterRef("pk")})
        .order_by(Lower("name"), "name")
        .values("name")
    )
    return cast("QuerySet[M]", qs.annotate(tag_names=ArraySubquery(names)))
