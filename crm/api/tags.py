"""Tags: the writable `tags` field of tagged records, the `?tag=` parameter, and
/api/v1/tags/ (list with counts for members; rename and delete for owners and admins)."""

from typing import Any, cast

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.serializers import BaseSerializer

from crm.models import Tag
from crm.selectors.tags import tag_list
from crm.services.tags import TAG_MAX_LENGTH, TAGS_PER_RECORD, tag_delete, tag_rename
from iam.api.base import TenantViewSet
from problems.openapi import problem_responses
from problems.pagination import CreatedCursorPagination
from problems.serializers import StrictCharField

tag_filter = OpenApiParameter(
    "tag", str, description="Only records carrying this tag (its name, case aside)."
)


class TagsField(serializers.ListField):
    """A record's tags as a list of names. Writes replace the record's tags; a name not yet
    used makes a tag, and names match existing tags whatever their case."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            child=StrictCharField(max_length=TAG_MAX_LENGTH, allow_blank=False),
            max_length=TAGS_PER_RECORD,
            required=False,
            help_text=(
                f"Names of the record's tags (1 to {TAG_MAX_LENGTH} characters each, trimmed, "
                f"at most {TAGS_PER_RECORD}). Writing the list replaces the record's tags; "
                "new names make new tags; names match existing tags whatever their case."
            ),
            **kwargs,
        )

    def get_attribute(self, instance: Any) -> Any:
        # A list read the names with the records (`selectors.tags.with_tag_names`).
        names = getattr(instance, "tag_names", None)
        return names if names is not None else super().get_attribute(instance)

    def to_representation(self, data: Any) -> list[str]:
        names = data if isinstance(data, list) else (tag.name for tag in data.all())
        return sorted(names, key=str.casefold)


class TagSerializer(serializers.ModelSerializer[Tag]):
    name = StrictCharField(
        max_length=TAG_MAX_LENGTH, help_text="The tag's name, unique whatever its case."
    )
    contacts_count = serializers.IntegerField(read_only=True)
    companies_count = serializers.IntegerField(read_only=True)
    leads_count = serializers.IntegerField(read_only=True)
    deals_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Tag
        fields = (
            "id",
            "name",
            "contacts_count",
            "companies_count",
            "leads_count",
            "deals_count",
            "created_at",
        )
        read_only_fields = ("id", "created_at")


class NameCursorPagination(CreatedCursorPagination):
    ordering = ("name", "id")


_admins_only = "Owners and admins only; members get 403."
_name_taken = problem_responses(409, "Another tag has this name (case aside).")


@extend_schema_view(
    list=extend_schema(
        summary="List tags",
        description=(
            "The organization's tags by name, 25 a page (`page_size` up to 100), each with "
            "how many contacts, companies, leads and deals carry it. `search` finds names "
            "containing the text. "
            "Tags are made by tagging a record (`tags` on each record)."
        ),
        parameters=[OpenApiParameter("search", str, description="Part of a tag's name.")],
    ),
    retrieve=extend_schema(summary="Get a tag", description="One tag with its counts."),
    update=extend_schema(
        summary="Rename a tag",
        description=(
            "Give a tag a new `name` (trimmed, 1 to 50 characters) on every record that "
            f"carries it. {_admins_only}"
        ),
        responses={200: TagSerializer, **_name_taken},
    ),
    partial_update=extend_schema(
        summary="Rename a tag (partial)",
        description=f"Rename a tag on every record that carries it. {_admins_only}",
        responses={200: TagSerializer, **_name_taken},
    ),
    destroy=extend_schema(
        summary="Delete a tag",
        description=f"Take a tag off every record and delete it. {_admins_only}",
    ),
)
class TagViewSet(TenantViewSet):
    admin_right_for_writes = "custom_fields"
    """Tags are made by tagging records, so there is no create."""

    http_method_names = ["get", "put", "patch", "delete", "head", "options"]
    serializer_class = TagSerializer
    pagination_class = NameCursorPagination

    def get_queryset(self) -> QuerySet[Tag]:
        return tag_list(search=self.request.query_params.get("search", ""))

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        tag = tag_rename(
            tag=cast(Tag, serializer.instance),
            name=serializer.validated_data.get("name", cast(Tag, serializer.instance).name),
            by=self.request.user,
        )
        serializer.instance = tag_list().get(pk=tag.pk)

    def perform_destroy(self, instance: Tag) -> None:
        tag_delete(tag=instance, by=self.request.user)
