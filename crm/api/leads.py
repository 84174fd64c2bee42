"""REST endpoints for leads: CRUD with filters, and conversion into a contact, a company and
optionally a deal. Thin shells over crm.services.leads and crm.selectors.leads."""

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
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from crm import decisions
from crm.api.scoring import LeadScoreSerializer, ScoreReasonSerializer
from crm.api.serializers import StrictBooleanField, StrictRegexField
from crm.api.tags import TagsField
from crm.currencies import CURRENCY_HELP, currency_clean
from crm.models import Lead, Pipeline
from crm.selectors.leads import LEAD_ORDERINGS, LeadFilters, lead_list, lead_ordering
from crm.selectors.scoring import scoring_model_current
from crm.services.leads import lead_convert, lead_create, lead_delete, lead_update
from iam import authz
from iam.api.base import TenantViewSet
from problems.openapi import plan_limit_responses, problem_responses
from problems.pagination import CreatedCursorPagination
from problems.serializers import StrictCharField, StrictModelSerializer

BIGINT_MAX = 2**63 - 1  # user ids are bigints
_ORDERING_CHOICES = [v for key in LEAD_ORDERINGS for v in (key, f"-{key}")]


class LeadSerializer(StrictModelSerializer):
    owner_id = serializers.IntegerField(
        allow_null=True,
        required=False,
        min_value=1,
        max_value=BIGINT_MAX,
        help_text="The member who works the lead (a user id); the creator when left out.",
    )
    tags = TagsField()
    score_reasons = serializers.SerializerMethodField(
        help_text="Each factor and its points (`factor`, `points`, `kind`); they sum to `score`."
    )

    @extend_schema_field(ScoreReasonSerializer(many=True))
    def get_score_reasons(self, lead: Lead) -> list[dict[str, Any]]:
        return list(lead.score_reasons)

    class Meta:
        model = Lead
        fields = (
            "id",
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
            "tags",
            "score",
            "score_reasons",
            "scored_at",
            "converted_at",
            "converted_contact",
            "converted_company",
            "converted_deal",
            "created_at",
            "updated_at",
        )
        read_only_fields = (
            "id",
            "score",
            "scored_at",
            "converted_at",
            "converted_contact",
            "converted_company",
            "converted_deal",
            "created_at",
            "updated_at",
        )
        extra_kwargs = {
            "disqualified_reason": {
                "help_text": (
                    "Required when `status` is `disqualified`; cleared when it changes to "
                    "another status."
                )
            },
            "converted_contact": {"help_text": "The contact the lead became (null until then)."},
            "converted_company": {"help_text": "Its company, if it had one."},
            "converted_deal": {"help_text": "The deal made when it was converted, if any."},
            "score": {"help_text": "0 to 100, from the organization's scoring rules and model."},
            "scored_at": {"help_text": "When the score last changed (null: not scored yet)."},
        }


class LeadListParams(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=Lead.Status.choices, required=False)
    # A serializer is a field with a `source` of its own; the metaclass takes this one away.
    source = serializers.ChoiceField(choices=Lead.Source.choices, required=False)  # type: ignore[assignment]
    owner = serializers.IntegerField(required=False, min_value=1, max_value=BIGINT_MAX)
    mine = serializers.BooleanField(required=False, default=False)
    tag = StrictCharField(required=False, allow_blank=True, max_length=50)
    created_after = serializers.DateField(required=False)
    created_before = serializers.DateField(required=False)
    q = StrictCharField(required=False, allow_blank=True, max_length=200)
    ordering = serializers.ChoiceField(choices=_ORDERING_CHOICES, required=False)


_list_parameters = [
    OpenApiParameter("status", str, enum=Lead.Status.values, description="Only this status."),
    OpenApiParameter("source", str, enum=Lead.Source.values, description="Only this source."),
    OpenApiParameter(
        "owner",
        {"type": "integer", "minimum": 1, "maximum": BIGINT_MAX},
        description="Only leads of this owner (a user id).",
    ),
    OpenApiParameter("mine", bool, description="Only the leads you own."),
    OpenApiParameter("tag", str, description="Only leads with the tag of this name."),
    OpenApiParameter(
        "created_after", OpenApiTypes.DATE, description="Created on or after this day."
    ),
    OpenApiParameter(
        "created_before", OpenApiTypes.DATE, description="Created on or before this day."
    ),
    OpenApiParameter(
        "q",
        str,
        description=(
            "Names and company names by substring; an e-mail address or phone number exactly."
        ),
    ),
    OpenApiParameter(
        "ordering",
        str,
        enum=_ORDERING_CHOICES,
        description=(
            "`created`, `name`, `status` or `score`; a leading `-` reverses. Newest first."
        ),
    ),
]


class LeadCursorPagination(CreatedCursorPagination):
    """The cursor follows the list's `ordering` parameter (checked by LeadListParams)."""

    def get_ordering(self, request: Request, queryset: Any, view: Any) -> tuple[str, ...]:
        value = request.query_params.get("ordering", "")
        try:
            return lead_ordering(value) if value else ("-created_at", "-id")
        except ValueError:
            return ("-created_at", "-id")


class DecimalStringField(serializers.DecimalField):
    """A decimal given as a JSON string ("2500.00"), as the schema documents it: numbers are
    refused rather than read through binary floating point."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class LeadConvertRequest(serializers.Serializer[Any]):
    create_deal = StrictBooleanField(
        required=False, default=False, help_text="Also create a deal for the new contact."
    )
    deal_name = StrictCharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=200,
        help_text="Name of the deal; the lead's company name (or its name) when left out.",
    )
    pipeline = serializers.PrimaryKeyRelatedField(
        queryset=Pipeline.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text=(
            "Pipeline of the deal, which starts in its first open stage; the default one "
            "when left out."
        ),
    )
    amount = DecimalStringField(
        max_digits=14,
        decimal_places=2,
        min_value=0,
        required=False,
        allow_null=True,
        default=None,
        coerce_to_string=True,
        help_text='Value of the deal, as a string such as "2500.00" (0 when left out).',
    )
    currency = StrictRegexField(
        r"^[A-Z]{3}$",
        required=False,
        default="USD",
        help_text="ISO 4217 code of the amount's currency, such as EUR.",
    )

    def validate_currency(self, value: str) -> str:
        if currency_clean(value) != value:
            raise serializers.ValidationError(CURRENCY_HELP)
        return value

    confirm_disqualified = StrictBooleanField(
        required=False,
        default=False,
        help_text="Convert even though the lead is disqualified (otherwise 409).",
    )


class LeadConversionSerializer(serializers.Serializer[Any]):
    lead = LeadSerializer(read_only=True)
    contact = serializers.IntegerField(
        source="lead.converted_contact_id", read_only=True, help_text="The contact's id."
    )
    company = serializers.IntegerField(
        source="lead.converted_company_id",
        read_only=True,
        allow_null=True,
        help_text="The company's id; null without one.",
    )
    deal = serializers.IntegerField(
        source="lead.converted_deal_id",
        read_only=True,
        allow_null=True,
        help_text="The new deal's id; null without one.",
    )
    contact_created = serializers.BooleanField(
        read_only=True, help_text="False when a contact with the lead's e-mail was reused."
    )
    company_created = serializers.BooleanField(
        read_only=True, help_text="False when an existing company matched (or there is none)."
    )


@extend_schema_view(
    list=extend_schema(
        summary="List leads",
        description=(
            "The organization's leads, newest first unless `ordering` says otherwise, 25 a "
            "page (`page_size` up to 100; follow `next` for more), narrowed by the filters."
        ),
        parameters=_list_parameters,
    ),
    create=extend_schema(
        summary="Create a lead",
        description=(
            "`last_name` is required. E-mail and phone are stored encrypted. A disqualified "
            "lead needs `disqualified_reason`; `owner_id` must be a member of the organization."
        ),
    ),
    retrieve=extend_schema(
        summary="Get a lead", description="One lead, with what it was converted into."
    ),
    update=extend_schema(
        summary="Replace a lead",
        description="Set a lead's fields; `last_name` is required, as when creating one.",
    ),
    partial_update=extend_schema(
        summary="Update a lead",
        description=(
            "Change only the fields sent: a status (disqualifying needs a reason; any other "
            "status clears it), the owner, or details."
        ),
    ),
    destroy=extend_schema(
        summary="Delete a lead",
        description=(
            "Move a lead to the trash, restorable for 30 days (`POST "
            "/api/v1/leads/{id}/restore/`); what it was converted into stays."
        ),
    ),
)
class LeadViewSet(TenantViewSet):
    record_type = "lead"
    record_actions = {"score": "view", "convert": "edit"}
    serializer_class = LeadSerializer
    pagination_class = LeadCursorPagination

    def get_queryset(self) -> QuerySet[Lead]:
        if self.action != "list":
            return Lead.objects.prefetch_related("tags")
        # A plain dict: an empty value is then a value to check, not a parameter left out.
        params = LeadListParams(data=self.request.query_params.dict())
        params.is_valid(raise_exception=True)
        p = params.validated_data
        filters = LeadFilters(
            status=p.get("status", ""),
            source=p.get("source", ""),
            owner_id=p.get("owner"),
            mine_of=self.request.user.pk if p["mine"] else None,
            tag=p.get("tag", ""),
            created_after=p.get("created_after"),
            created_before=p.get("created_before"),
            q=p.get("q", "").strip(),
        )
        return lead_list(filters=filters, ordering=p.get("ordering", "")).prefetch_related("tags")

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        serializer.instance = lead_create(by=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        decisions.owner_change_require(
            authz.principal_for_request(self.request._request),
            cast(Lead, serializer.instance),
            dict(serializer.validated_data),
        )
        serializer.instance = lead_update(
            lead=cast(Lead, serializer.instance),
            by=self.request.user,
            **serializer.validated_data,
        )

    def perform_destroy(self, instance: Lead) -> None:
        lead_delete(lead=instance, by=self.request.user)

    @extend_schema(
        operation_id="leads_score",
        summary="Explain a lead's score",
        description=(
            "The lead's score with each factor and its points in plain words (they sum to "
            "the score exactly), when it last changed, and the organization's trained model "
            "if it has one. Scores are refreshed in the background within seconds of a change "
            "to the lead or its activities, and every night."
        ),
        responses={200: LeadScoreSerializer},
    )
    @action(detail=True, methods=["get"], url_path="score")
    def score(self, request: Request, pk: str | None = None) -> Response:
        lead = self.get_object()
        model = scoring_model_current()
        return Response(
            LeadScoreSerializer(
                {
                    "score": lead.score,
                    "scored_at": lead.scored_at,
                    "reasons": lead.score_reasons,
                    "model": model,
                }
            ).data
        )

    @extend_schema(
        operation_id="leads_convert",
        summary="Convert a lead",
        description=(
            "In one step, all or nothing: a contact from the lead (an existing contact with "
            "its e-mail address is reused), its company (an existing one of the same name or "
            "of the e-mail's domain, free-mail domains aside, else a new one when the lead "
            "names a company) and, with `create_deal`, a deal in the pipeline's first open "
            "stage. The lead links to them and becomes qualified."
        ),
        request=LeadConvertRequest,
        responses={
            200: LeadConversionSerializer,
            **problem_responses(
                409,
                "The lead was already converted (`code` lead-already-converted; `contact`, "
                "`company`, `deal` say into what), or is disqualified and "
                "`confirm_disqualified` wasn't true (`code` lead-disqualified).",
            ),
            **plan_limit_responses("the lead's contact"),
        },
    )
    @action(detail=True, methods=["post"], url_path="convert")
    def convert(self, request: Request, pk: str | None = None) -> Response:
        lead = self.get_object()
        params = LeadConvertRequest(data=request.data)
        params.is_valid(raise_exception=True)
        decisions.lead_convert_require(
            authz.principal_for_request(request._request),
            lead,
            create_deal=bool(params.validated_data.get("create_deal")),
        )
        result = lead_convert(lead=lead, by=request.user, **params.validated_data)
        return Response(LeadConversionSerializer(result).data)
