"""REST endpoints for deals: CRUD with filters and `expand`, moves between stages, and the
history of those moves. Thin shells over crm.services.deals and crm.selectors.deals."""

from collections.abc import Mapping
from typing import Any, cast

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from crm import decisions
from crm.api.serializers import StrictIntegerField
from crm.api.tags import TagsField
from crm.models import Company, Contact, Deal, DealStageChange, Pipeline, Stage
from crm.selectors import deals as selectors
from crm.services import deals as services
from iam import authz
from iam.api.base import TenantViewSet
from problems.openapi import problem_responses
from problems.pagination import CreatedCursorPagination
from problems.serializers import StrictCharField, StrictModelSerializer

EXPANDABLE = ("company", "contacts")
API_ORDERINGS = ("created_at", "-created_at", "amount", "-amount", "name", "-name")

_company_object = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "domain": {"type": "string"},
    },
    "required": ["id", "name", "domain"],
}
_contact_object = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "first_name": {"type": "string"},
        "last_name": {"type": "string"},
        "is_primary": {"type": "boolean"},
    },
    "required": ["id", "first_name", "last_name", "is_primary"],
}


def _expanded(context: Mapping[str, Any]) -> frozenset[str]:
    return cast(frozenset[str], context.get("expand", frozenset()))


@extend_schema_field(
    {
        "oneOf": [{"type": "integer"}, _company_object],
        "nullable": True,
        "description": (
            "The company's id; with `?expand=company`, the company (id, name, domain). "
            "Writes take the id, or null."
        ),
    }
)
class CompanyRefField(serializers.PrimaryKeyRelatedField):
    def use_pk_only_optimization(self) -> bool:
        return "company" not in _expanded(self.context)

    def to_representation(self, value: Any) -> Any:
        if "company" in _expanded(self.context):
            return {"id": value.pk, "name": value.name, "domain": value.domain}
        return value.pk


@extend_schema_field(
    {
        "type": "array",
        "items": {"oneOf": [{"type": "integer"}, _contact_object]},
        "description": (
            "Ids of the contacts involved (the primary one first); with `?expand=contacts`, "
            "the contacts (id, names, whether primary). Writes take ids and replace the list."
        ),
    }
)
class DealContactsField(serializers.Field):
    default_error_messages = {
        "not_a_list": "Give a list of contact ids.",
        "unknown": "No such contact: {ids}.",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(source="*", required=False, **kwargs)

    def to_representation(self, value: Deal) -> list[Any]:
        links = list(value.deal_contacts.all())
        if "contacts" in _expanded(self.context):
            return [
                {
                    "id": link.contact.pk,
                    "first_name": link.contact.first_name,
                    "last_name": link.contact.last_name,
                    "is_primary": link.is_primary,
                }
                for link in links
            ]
        return [link.contact_id for link in links]

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, list) or len(data) > 100:
            self.fail("not_a_list")
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in data):
            self.fail("not_a_list")
        found = {c.pk: c for c in Contact.objects.filter(pk__in=set(data))}
        missing = sorted(set(data) - set(found))
        if missing:
            self.fail("unknown", ids=", ".join(map(str, missing)))
        return {"contacts": [found[i] for i in dict.fromkeys(data)]}


@extend_schema_field(
    {
        "type": "integer",
        "nullable": True,
        "description": "The primary contact's id: one of `contacts`, or null.",
    }
)
class PrimaryContactField(serializers.Field):
    default_error_messages = {"unknown": "No such contact."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(source="*", required=False, allow_null=True, **kwargs)

    def to_representation(self, value: Deal) -> int | None:
        return next(
            (link.contact_id for link in value.deal_contacts.all() if link.is_primary), None
        )

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if data is None:
            return (True, {"primary_contact": None})
        return super().validate_empty_values(data)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("unknown")
        contact = Contact.objects.filter(pk=data).first()
        if contact is None:
            self.fail("unknown")
        return {"primary_contact": contact}


class DealSerializer(StrictModelSerializer):
    company = CompanyRefField(queryset=Company.objects.all(), allow_null=True, required=False)
    contacts = DealContactsField()
    primary_contact = PrimaryContactField()
    amount = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=0,
        required=False,
        help_text="At least 0, with at most 2 digits after the point (a string in answers).",
    )
    currency = StrictCharField(
        max_length=3, required=False, help_text="ISO 4217 code, such as EUR or USD."
    )
    pipeline = serializers.PrimaryKeyRelatedField(
        queryset=Pipeline.objects.all(),
        required=False,
        help_text="Defaults to the stage's pipeline, or the default pipeline.",
    )
    stage = serializers.PrimaryKeyRelatedField(
        queryset=Stage.objects.all(),
        required=False,
        help_text=(
            "A stage of the deal's pipeline (the first one when left out on creation). "
            "Changing it is a move, kept in the deal's history."
        ),
    )
    owner_id = StrictIntegerField(
        allow_null=True, required=False, help_text="A member's user id; you, when left out."
    )
    tags = TagsField()

    class Meta:
        model = Deal
        fields = (
            "id",
            "name",
            "company",
            "contacts",
            "primary_contact",
            "amount",
            "currency",
            "pipeline",
            "stage",
            "position",
            "stage_entered_at",
            "expected_close_on",
            "closed_at",
            "lost_reason",
            "owner_id",
            "tags",
            "created_at",
            "updated_at",
        )
        read_only_fields = (
            "id",
            "position",
            "stage_entered_at",
            "closed_at",
            "created_at",
            "updated_at",
        )
        extra_kwargs = {
            "lost_reason": {"help_text": "Why the deal was lost."},
            "expected_close_on": {"help_text": "When the deal is expected to close (YYYY-MM-DD)."},
        }


class DealMoveSerializer(serializers.Serializer[Any]):
    stage = serializers.PrimaryKeyRelatedField(
        queryset=Stage.objects.all(), help_text="A stage of the deal's own pipeline."
    )
    position = StrictIntegerField(
        min_value=0,
        required=False,
        allow_null=True,
        help_text="Place in the stage's column, 0 first; last when left out.",
    )
    lost_reason = StrictCharField(
        max_length=200, required=False, allow_blank=True, help_text="Kept for a lost stage."
    )


class DealStageChangeSerializer(serializers.ModelSerializer[DealStageChange]):
    class Meta:
        model = DealStageChange
        fields = (
            "id",
            "from_stage",
            "from_stage_name",
            "to_stage",
            "to_stage_name",
            "seconds_in_from_stage",
            "by_id",
            "changed_at",
        )
        read_only_fields = fields


class DealFilterSerializer(serializers.Serializer[Any]):
    pipeline = serializers.IntegerField(required=False)
    stage = serializers.IntegerField(required=False)
    owner = serializers.IntegerField(required=False)
    mine = serializers.BooleanField(required=False, default=False)
    tag = StrictCharField(required=False, max_length=50, allow_blank=True)
    amount_min = serializers.DecimalField(max_digits=None, decimal_places=None, required=False)
    amount_max = serializers.DecimalField(max_digits=None, decimal_places=None, required=False)
    close_from = serializers.DateField(required=False)
    close_to = serializers.DateField(required=False)
    company = serializers.IntegerField(required=False)
    contact = serializers.IntegerField(required=False)
    search = StrictCharField(required=False, max_length=200, allow_blank=True)
    ordering = serializers.ChoiceField(choices=API_ORDERINGS, required=False)
    expand = serializers.CharField(required=False)

    def validate_expand(self, value: str) -> frozenset[str]:
        parts = frozenset(p.strip() for p in value.split(",") if p.strip())
        unknown = parts - set(EXPANDABLE)
        if unknown:
            raise ValidationError(f"Expand only {', '.join(EXPANDABLE)}.")
        return parts


class DealCursorPagination(CreatedCursorPagination):
    """Newest first, or by the list's `ordering`."""

    def get_ordering(self, request: Request, queryset: Any, view: Any) -> tuple[str, ...]:
        return tuple(queryset.query.order_by) or self.ordering


class StageChangePagination(CreatedCursorPagination):
    ordering = ("-changed_at", "-id")


_expand = OpenApiParameter(
    "expand",
    str,
    enum=["company", "contacts", "company,contacts", "contacts,company"],
    description=(
        "Comma-separated: `company` and/or `contacts` give those records in place of their "
        "ids (read in a fixed number of statements, whatever the page size)."
    ),
)
_filters = [
    OpenApiParameter("pipeline", int, description="Only deals of this pipeline."),
    OpenApiParameter("stage", int, description="Only deals in this stage."),
    OpenApiParameter("owner", int, description="Only deals this member (user id) owns."),
    OpenApiParameter("mine", bool, description="Only deals you own."),
    OpenApiParameter("tag", str, description="Only deals with this tag (name, case aside)."),
    OpenApiParameter("amount_min", float, description="Amount at least this (e.g. 1000.00)."),
    OpenApiParameter("amount_max", float, description="Amount at most this."),
    OpenApiParameter(
        "close_from", OpenApiTypes.DATE, description="Expected to close on or after this day."
    ),
    OpenApiParameter(
        "close_to", OpenApiTypes.DATE, description="Expected to close on or before this day."
    ),
    OpenApiParameter("company", int, description="Only deals of this company."),
    OpenApiParameter("contact", int, description="Only deals this contact is involved in."),
    OpenApiParameter("search", str, description="Deal or company name contains this."),
    OpenApiParameter(
        "ordering", str, enum=list(API_ORDERINGS), description="Sort order; newest first."
    ),
    _expand,
]
_bad_expand = problem_responses(400, "`expand` names something else than company or contacts.")
_other_pipeline = problem_responses(
    409, "The stage belongs to another pipeline (`code` stage-in-another-pipeline)."
)


@extend_schema_view(
    list=extend_schema(
        summary="List deals",
        description=(
            "The organization's deals, newest first (or by `ordering`), 25 a page "
            "(`page_size` up to 100; follow `next`). Filters combine."
        ),
        parameters=_filters,
    ),
    create=extend_schema(
        summary="Create a deal",
        description=(
            "`name` is required. Without `stage`, the deal starts in the first stage of its "
            "pipeline (the default one unless `pipeline` is given); a stage of another "
            "pipeline than `pipeline` is a field error."
        ),
        parameters=[_expand],
    ),
    retrieve=extend_schema(
        summary="Get a deal",
        description="One deal; its history is at `stage-changes/`.",
        parameters=[_expand],
        responses={200: DealSerializer, **_bad_expand},
    ),
    update=extend_schema(
        summary="Replace a deal",
        description="Set a deal's fields; `name` is required, as when creating one.",
        parameters=[_expand],
    ),
    partial_update=extend_schema(
        summary="Update a deal",
        description=(
            "Change only the fields sent. A new `stage` (of the deal's pipeline, or of a new "
            "`pipeline` sent with it) is a move, kept in the history."
        ),
        parameters=[_expand],
    ),
    destroy=extend_schema(
        summary="Delete a deal",
        description=(
            "Move a deal to the trash, off the board and the lists, restorable for 30 days "
            "(`POST /api/v1/deals/{id}/restore/`) with its line items and history."
        ),
    ),
    move=extend_schema(
        summary="Move a deal on the board",
        description=(
            "Put the deal in `stage` at `position` in its column (the other cards make room). "
            "A change of stage is kept in the history with the time spent in the stage left; "
            "a won or lost stage closes the deal. A stage of another pipeline answers 409 and "
            "changes nothing."
        ),
        request=DealMoveSerializer,
        responses={200: DealSerializer, **_other_pipeline},
    ),
    stage_changes=extend_schema(
        summary="A deal's stage history",
        description=(
            "Every change of the deal's stage, the latest first: from, to (names kept as they "
            "were), who, when, and the seconds spent in the stage left."
        ),
        responses={200: DealStageChangeSerializer(many=True)},
    ),
)
class DealViewSet(TenantViewSet):
    record_type = "deal"
    record_actions = {"move": "move", "stage_changes": "view"}
    serializer_class = DealSerializer
    pagination_class = DealCursorPagination

    def _params(self) -> dict[str, Any]:
        if not hasattr(self, "_parsed"):
            raw = {k: v for k, v in self.request.query_params.items()}
            if self.action != "list":
                raw = {k: v for k, v in raw.items() if k == "expand"}
            params = DealFilterSerializer(data=raw)
            params.is_valid(raise_exception=True)
            self._parsed: dict[str, Any] = dict(params.validated_data)
        return self._parsed

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        if self.action not in ("stage_changes",) and getattr(self, "request", None):
            context["expand"] = self._params().get("expand", frozenset())
        return context

    def get_queryset(self) -> QuerySet[Deal]:
        p = self._params()
        owner = p.get("owner")
        if p.get("mine"):
            owner = self.request.user.pk
        filters = selectors.DealFilters(
            pipeline=p.get("pipeline"),
            stage=p.get("stage"),
            owner=owner,
            tag=p.get("tag", ""),
            amount_min=p.get("amount_min"),
            amount_max=p.get("amount_max"),
            close_from=p.get("close_from"),
            close_to=p.get("close_to"),
            company=p.get("company"),
            contact=p.get("contact"),
            search=p.get("search", ""),
        )
        qs = selectors.deal_list(filters=filters, ordering=p.get("ordering", ""))
        if "company" in p.get("expand", frozenset()):
            qs = qs.select_related("company")
        return qs

    def _fresh(self, deal: Deal) -> Deal:
        """The deal as the list reads it (contacts, tags, company), after a write."""
        return self.get_queryset().select_related("company").get(pk=deal.pk)

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        deal = services.deal_create(by=self.request.user, **serializer.validated_data)
        serializer.instance = self._fresh(deal)

    def authz_context(self) -> dict[str, Any]:
        """What a move is decided with: the kind of stage the deal goes to (`Authorized`
        passes it to the decision point with the deal)."""
        if self.action != "move" or not isinstance(self.request.data, dict):
            return {}
        raw = self.request.data.get("stage")
        if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).isdigit():
            return {}
        stage = Stage.objects.filter(pk=int(raw)).first() if len(str(raw)) < 19 else None
        return {"to_stage_kind": decisions.stage_kind(stage)} if stage is not None else {}

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        principal = authz.principal_for_request(self.request._request)
        decisions.deal_change_require(
            principal, cast(Deal, serializer.instance), dict(serializer.validated_data)
        )
        deal = services.deal_update(
            deal=cast(Deal, serializer.instance),
            by=self.request.user,
            **serializer.validated_data,
        )
        serializer.instance = self._fresh(deal)

    def perform_destroy(self, instance: Deal) -> None:
        services.deal_delete(deal=instance, by=self.request.user)

    @action(detail=True, methods=["post"])
    def move(self, request: Request, pk: str | None = None) -> Response:
        deal = cast(Deal, self.get_object())
        params = DealMoveSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        # Decided again with the stage as read (`authz_context` gave the permission check
        # the kind of stage the body names).
        decisions.deal_move_require(
            authz.principal_for_request(request._request), deal, data["stage"]
        )
        services.deal_move(
            deal=deal,
            stage=data["stage"],
            position=data.get("position"),
            lost_reason=data.get("lost_reason"),
            by=request.user,
        )
        return Response(
            DealSerializer(self._fresh(deal), context=self.get_serializer_context()).data
        )

    @action(
        detail=True,
        methods=["get"],
        url_path="stage-changes",
        pagination_class=StageChangePagination,
        serializer_class=DealStageChangeSerializer,
    )
    def stage_changes(self, request: Request, pk: str | None = None) -> Response:
        deal = cast(Deal, self.get_object())
        page = self.paginate_queryset(selectors.deal_stage_changes(deal))
        return self.get_paginated_response(DealStageChangeSerializer(page, many=True).data)
