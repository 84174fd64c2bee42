"""REST endpoints for activities (tasks, calls, meetings, notes, logged e-mails) and for a
record's timeline; thin shells over crm.services.activities and crm.selectors.activities."""

from typing import Any, cast

from django.db import connection
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from crm.models import Activity, Company, Contact, Deal, Lead
from crm.selectors import activities as selectors
from crm.services import activities as services
from iam import authz
from iam.api.base import TenantViewSet
from iam.authz.guards import Authorized
from iam.permissions import IsTenantMember
from problems.serializers import StrictModelSerializer

# The choices of timeline entries, named in the schema (config/settings/api.py).
TIMELINE_RECORD_TYPES = ["contact", "company", "lead", "deal"]
TIMELINE_ENTRY_KINDS = ["activity", "created", "stage_changed", "converted", "merged"]

_RECORD_MODELS: dict[str, type[Contact | Company | Lead | Deal]] = {
    "contact": Contact,
    "company": Company,
    "lead": Lead,
    "deal": Deal,
}
_FIELDS = (
    "id",
    "kind",
    "subject",
    "body",
    "contact",
    "company",
    "lead",
    "deal",
    "due_at",
    "assignee_id",
    "is_done",
    "done_at",
    "direction",
    "outcome",
    "duration_seconds",
    "starts_at",
    "ends_at",
    "attendees",
    "created_by_id",
    "created_at",
    "updated_at",
)


class ActivitySerializer(StrictModelSerializer):
    contact = serializers.PrimaryKeyRelatedField(
        queryset=Contact.objects.all(), required=False, allow_null=True
    )
    company = serializers.PrimaryKeyRelatedField(
        queryset=Company.objects.all(), required=False, allow_null=True
    )
    lead = serializers.PrimaryKeyRelatedField(
        queryset=Lead.objects.all(), required=False, allow_null=True
    )
    deal = serializers.PrimaryKeyRelatedField(
        queryset=Deal.objects.all(), required=False, allow_null=True
    )
    attendees = serializers.PrimaryKeyRelatedField(
        queryset=Contact.objects.all(),
        many=True,
        required=False,
        help_text="Contacts at a meeting (meetings only).",
    )

    class Meta:
        model = Activity
        fields = _FIELDS
        read_only_fields: tuple[str, ...] = (
            "id",
            "done_at",
            "created_by_id",
            "created_at",
            "updated_at",
        )
        extra_kwargs = {
            "kind": {"help_text": "Fixed once created."},
            "subject": {"help_text": "Required for tasks and e-mails."},
            "body": {"help_text": "Required for notes."},
            "due_at": {"help_text": "Tasks only; required for them."},
            "assignee_id": {
                "help_text": "Tasks only: a member's user id; the creator when left out."
            },
            "is_done": {"help_text": "Tasks only."},
            "direction": {"help_text": "Calls and e-mails; required for them."},
            "outcome": {"help_text": "Calls only."},
            "duration_seconds": {"help_text": "Calls only; at most 86400."},
            "starts_at": {"help_text": "Meetings only; required for them."},
            "ends_at": {"help_text": "Meetings only; not before `starts_at`."},
        }


class ActivityUpdateSerializer(ActivitySerializer):
    """An activity's kind and record stay what they were."""

    class Meta(ActivitySerializer.Meta):
        read_only_fields = (
            *ActivitySerializer.Meta.read_only_fields,
            "kind",
            "contact",
            "company",
            "lead",
            "deal",
        )

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        for name in ("contact", "company", "lead", "deal"):
            fields[name] = serializers.PrimaryKeyRelatedField(read_only=True)
        return fields


class ActivityFilterSerializer(serializers.Serializer):
    """The list's query parameters; anything malformed is a 400 naming the parameter."""

    kind = serializers.ChoiceField(choices=Activity.Kind.choices, required=False)
    contact = serializers.IntegerField(required=False)
    company = serializers.IntegerField(required=False)
    lead = serializers.IntegerField(required=False)
    deal = serializers.IntegerField(required=False)
    assignee = serializers.IntegerField(required=False)
    # Query strings spell booleans "true" and "false", as the schema says; nothing else.
    mine = serializers.ChoiceField(choices=["true", "false"], required=False)
    done = serializers.ChoiceField(choices=["true", "false"], required=False)
    due_after = serializers.DateTimeField(required=False)
    due_before = serializers.DateTimeField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # An empty value would otherwise count as a parameter left out.
        blank = [str(name) for name in self.fields if self.initial_data.get(name) == ""]
        if blank:
            raise serializers.ValidationError(
                {name: ["Give a value or leave the parameter out."] for name in blank}
            )
        return attrs


_list_parameters = [
    OpenApiParameter("kind", str, enum=Activity.Kind.values, description="One kind only."),
    OpenApiParameter("contact", int, description="Activities of this contact."),
    OpenApiParameter("company", int, description="Activities of this company."),
    OpenApiParameter("lead", int, description="Activities of this lead."),
    OpenApiParameter("deal", int, description="Activities of this deal."),
    OpenApiParameter("assignee", int, description="Tasks assigned to this user id."),
    OpenApiParameter(
        "mine",
        bool,
        description="Your own: tasks assigned to you and the other activities you logged.",
    ),
    OpenApiParameter("done", bool, description="Done (true) or open (false) tasks."),
    OpenApiParameter(
        "due_after",
        OpenApiTypes.DATETIME,
        description="Due at or after this date-time (ISO 8601), tasks.",
    ),
    OpenApiParameter(
        "due_before", OpenApiTypes.DATETIME, description="Due before this date-time (ISO 8601)."
    ),
]


@extend_schema_view(
    list=extend_schema(
        summary="List activities",
        description=(
            "The organization's activities, newest first, 25 a page (`page_size` up to 100; "
            "follow `next` for more), narrowed by every filter given."
        ),
        parameters=_list_parameters,
    ),
    create=extend_schema(
        summary="Log an activity",
        description=(
            "A task, call, meeting, note or logged e-mail about exactly one contact, company, "
            "lead or deal. Each kind has its own fields (a task: `subject`, `due_at`, "
            "`assignee_id`; a call: `direction`, `outcome`, `duration_seconds`; a meeting: "
            "`starts_at`, `ends_at`, `attendees`; a note: `body`; an e-mail: `subject`, `body`, "
            "`direction`); a field of another kind is an error."
        ),
    ),
    retrieve=extend_schema(summary="Get an activity", description="One activity."),
    update=extend_schema(
        summary="Replace an activity",
        description="Set an activity's fields; its kind and record stay as they were.",
    ),
    partial_update=extend_schema(
        summary="Update an activity",
        description="Change only the fields sent; its kind and record stay as they were.",
    ),
    destroy=extend_schema(summary="Delete an activity", description="Delete it for good."),
    complete=extend_schema(
        summary="Mark a task done",
        description="Marks the task done now; a task already done stays as it was. Tasks only.",
        request=None,
    ),
    reopen=extend_schema(
        summary="Reopen a task",
        description="Marks a done task as still to do. Tasks only.",
        request=None,
    ),
)
class ActivityViewSet(TenantViewSet):
    record_type = "activity"
    record_actions = {"complete": "edit", "reopen": "edit"}
    serializer_class = ActivitySerializer

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        if self.action in ("update", "partial_update"):
            return ActivityUpdateSerializer
        return ActivitySerializer

    def get_queryset(self) -> QuerySet[Activity]:
        if self.action != "list":
            return selectors.activity_list()
        params = ActivityFilterSerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        given = params.validated_data
        return selectors.activity_list(
            kind=given.get("kind", ""),
            contact=given.get("contact"),
            company=given.get("company"),
            lead=given.get("lead"),
            deal=given.get("deal"),
            assignee=given.get("assignee"),
            mine_of=self.request.user.pk if given.get("mine") == "true" else None,
            is_done={"true": True, "false": False}.get(given.get("done", "")),
            due_after=given.get("due_after"),
            due_before=given.get("due_before"),
        )

    def _principal(self) -> authz.Principal | None:
        return authz.principal_for_request(self.request._request)

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        data = serializer.validated_data
        # An activity is logged about a record the member may see; one they can't is
        # refused as the record's own endpoints would (its existence isn't told).
        for name in _RECORD_MODELS:
            record = data.get(name)
            if (
                record is not None
                and not authz.check(self._principal(), "view", record=record).allowed
            ):
                raise serializers.ValidationError({name: ["Not found."]})
        serializer.instance = services.activity_create(by=self.request.user, **data)

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        activity = cast(Activity, serializer.instance)
        assignee = serializer.validated_data.get("assignee_id", activity.assignee_id)
        if assignee != activity.assignee_id:
            authz.require(self._principal(), "assign", record=activity)
        serializer.instance = services.activity_update(
            activity=cast(Activity, serializer.instance),
            by=self.request.user,
            **serializer.validated_data,
        )

    def perform_destroy(self, instance: Activity) -> None:
        services.activity_delete(activity=instance, by=self.request.user)

    @action(detail=True, methods=["post"])
    def complete(self, request: Request, pk: str | None = None) -> Response:
        activity = services.task_complete(activity=self.get_object(), by=request.user)
        return Response(ActivitySerializer(activity).data)

    @action(detail=True, methods=["post"])
    def reopen(self, request: Request, pk: str | None = None) -> Response:
        activity = services.task_reopen(activity=self.get_object(), by=request.user)
        return Response(ActivitySerializer(activity).data)


class TimelineLinkSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=TIMELINE_RECORD_TYPES)
    name = serializers.CharField()
    id = serializers.IntegerField()


class TimelineEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    kind = serializers.ChoiceField(choices=TIMELINE_ENTRY_KINDS)
    text = serializers.CharField(help_text="What happened, for changes of the record.")
    activity = ActivitySerializer(allow_null=True, help_text="For `kind` activity.")
    by_id = serializers.IntegerField(allow_null=True, help_text="Who, when known.")
    links = serializers.SerializerMethodField()

    @extend_schema_field(TimelineLinkSerializer(many=True))
    def get_links(self, entry: selectors.TimelineEntry) -> list[dict[str, Any]]:
        return [{"type": t, "name": n, "id": i} for t, n, i in entry.links]


class TimelineView(GenericAPIView):
    """A record's timeline at /api/v1/<records>/<id>/timeline/; `record_type` comes from the
    URL pattern. The same tenant guard as TenantViewSet, which is a model viewset."""

    permission_classes = [IsTenantMember, Authorized]
    record_actions = {"get": "view"}
    pagination_class = None
    serializer_class = TimelineEntrySerializer
    record_type = "contact"

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        tenant = getattr(request._request, "tenant", None)
        if tenant is None or connection.schema_name != tenant.schema_name:  # type: ignore[attr-defined]
            raise RuntimeError("TimelineView used outside its tenant's schema.")
        super().initial(request, *args, **kwargs)

    def get(self, request: Request, record_id: int) -> Response:
        model = _RECORD_MODELS[self.record_type]
        # A record the caller may not view is a 404, as a missing one; the decision on the
        # record itself (policies included) comes next.
        principal = authz.principal_for_request(request._request)
        visible = authz.visible(model._default_manager.all(), principal, self.record_type)
        record = cast(selectors.Record, get_object_or_404(visible, pk=record_id))
        authz.require(principal, "view", record=record)
        entries = selectors.timeline(record, principal=principal)
        return Response(TimelineEntrySerializer(entries, many=True).data)


def timeline_view(record_type: str, plural: str) -> Any:
    """The timeline view of one record type, documented as such."""

    def get(self: TimelineView, request: Request, record_id: int) -> Response:
        return TimelineView.get(self, request, record_id)

    documented = extend_schema(
        summary=f"A {record_type}'s timeline",
        description=(
            f"One list, newest first, of the {record_type}'s activities and its own changes: "
            "created, each stage move of a deal, a lead's conversion (and, on what a "
            "conversion created, the lead it came from); the 200 newest activities at most. "
            "A record of another organization is a 404."
        ),
        parameters=[
            OpenApiParameter(
                "record_id", int, OpenApiParameter.PATH, description=f"The {record_type}'s id."
            )
        ],
        responses={200: TimelineEntrySerializer(many=True)},
        operation_id=f"{plural}_timeline",
    )(get)
    view = type(
        f"{record_type.title()}TimelineView",
        (TimelineView,),
        {"record_type": record_type, "get": documented},
    )
    return cast(type[TimelineView], view).as_view()
