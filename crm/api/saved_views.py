"""`/api/v1/saved-views/`: the saved views of the contact, company, lead and deal lists, the
same ones the list pages offer. A member reads their own and the shared ones; only the member
who saved a view changes or deletes it."""

from typing import Any, cast

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.serializers import BaseSerializer

from crm.api.serializers import StrictBooleanField
from crm.models import SavedView
from crm.selectors.saved_views import LIST_COLUMNS, LIST_PARAMETERS, saved_view_list
from crm.services.saved_views import (
    NAME_MAX,
    VALUE_MAX,
    saved_view_create,
    saved_view_delete,
    saved_view_update,
)
from iam.api.base import TenantViewSet
from problems.openapi import problem_responses
from problems.serializers import StrictCharField

_COLUMNS = sorted({key for columns in LIST_COLUMNS.values() for key, _ in columns})
_PARAMETERS = ", ".join(
    f"{records}: {', '.join(sorted(keys))}" for records, keys in LIST_PARAMETERS.items()
)
_COLUMN_NAMES = "; ".join(
    f"{records}: {', '.join(key for key, _ in columns)}"
    for records, columns in LIST_COLUMNS.items()
)


class SavedViewSerializer(serializers.ModelSerializer[SavedView]):
    list: serializers.Field[Any, Any, Any, Any] = serializers.ChoiceField(
        source="records",
        choices=SavedView.Records.choices,
        help_text="The list the view is of; fixed once saved.",
    )
    name = StrictCharField(max_length=NAME_MAX, help_text="Unique among your views of the list.")
    query = serializers.DictField(
        child=StrictCharField(max_length=VALUE_MAX, allow_blank=True),
        required=False,
        help_text=(
            "Filters and sort: the list page's own URL parameters, by list — "
            f"{_PARAMETERS}. Empty values are dropped."
        ),
    )
    columns = serializers.ListField(
        child=serializers.ChoiceField(choices=_COLUMNS),
        required=False,
        help_text=(
            "Columns shown beside the name, by list — "
            f"{_COLUMN_NAMES}. Your current choice for the list when left out."
        ),
    )
    is_shared = StrictBooleanField(
        required=False, help_text="Everyone in the organization can pick it."
    )
    user_id = serializers.IntegerField(read_only=True, help_text="The member who saved it.")

    class Meta:
        model = SavedView
        fields = (
            "id",
            "list",
            "name",
            "query",
            "columns",
            "is_shared",
            "user_id",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("id", "user_id", "created_at", "updated_at")


class SavedViewUpdateSerializer(SavedViewSerializer):
    list = serializers.CharField(source="records", read_only=True)


_list = OpenApiParameter(
    "list", str, enum=SavedView.Records.values, description="Only views of this list."
)
_not_yours = problem_responses(
    403, "The view is another member's (shared with you): only they change or delete it."
)


@extend_schema_view(
    list=extend_schema(
        summary="List saved views",
        description=(
            "Your views and those shared with the organization, by list and name (not paginated)."
        ),
        parameters=[_list],
    ),
    create=extend_schema(
        summary="Save a view",
        description="Save filters, sort and columns of a list under a name, yours.",
    ),
    retrieve=extend_schema(summary="Get a saved view", description="One view you may pick."),
    update=extend_schema(
        summary="Replace a saved view",
        description="Change your view: name, filters and sort, columns, sharing.",
        responses={200: SavedViewSerializer, **_not_yours},
    ),
    partial_update=extend_schema(
        summary="Update a saved view",
        description="Change only the parts sent of your view.",
        responses={200: SavedViewSerializer, **_not_yours},
    ),
    destroy=extend_schema(
        summary="Delete a saved view",
        description="Delete your view (a shared one disappears for everyone).",
        responses={204: None, **_not_yours},
    ),
)
class SavedViewViewSet(TenantViewSet):
    member_route = True  # each member's own views: the queryset is theirs only
    pagination_class = None  # a member has a handful

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        if self.action in ("update", "partial_update"):
            return SavedViewUpdateSerializer
        return SavedViewSerializer

    def get_queryset(self) -> QuerySet[SavedView]:
        records = self.request.query_params.get("list")
        if records is not None and records not in SavedView.Records.values:
            raise ValidationError(
                {"list": [f"Choose one of: {', '.join(SavedView.Records.values)}."]}
            )
        return saved_view_list(user_id=cast(int, self.request.user.pk), records=records)

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        data = dict(serializer.validated_data)
        serializer.instance = saved_view_create(by=self.request.user, **data)

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        serializer.instance = saved_view_update(
            view=cast(SavedView, serializer.instance),
            by=self.request.user,
            **serializer.validated_data,
        )

    def perform_destroy(self, instance: SavedView) -> None:
        saved_view_delete(view=instance, by=self.request.user)
