"""REST endpoints for pipelines and their stages: members read them, owners and admins
change them."""

from typing import Any, cast

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from crm.api.serializers import StrictBooleanField, StrictIntegerField
from crm.models import Pipeline, Stage
from crm.selectors import deals as selectors
from crm.services import pipelines as services
from iam.api.base import TenantViewSet
from problems.openapi import problem_responses
from problems.serializers import StrictCharField, StrictModelSerializer

_admins_only = "Owners and admins only; members get 403."


class StageSerializer(StrictModelSerializer):
    pipeline = serializers.PrimaryKeyRelatedField(
        queryset=Pipeline.objects.all(), help_text="The pipeline the stage belongs to; fixed."
    )
    name = StrictCharField(max_length=100)
    probability = StrictIntegerField(
        min_value=0, max_value=100, required=False, help_text="Chance to win, in percent."
    )
    is_won = StrictBooleanField(required=False, help_text="Deals here are won (and closed).")
    is_lost = StrictBooleanField(required=False, help_text="Deals here are lost (and closed).")
    position = StrictIntegerField(
        min_value=0,
        max_value=1000,
        required=False,
        help_text="Place in the pipeline, 0 first; the other stages make room.",
    )

    class Meta:
        model = Stage
        fields = (
            "id",
            "pipeline",
            "name",
            "position",
            "probability",
            "is_won",
            "is_lost",
            "is_archived",
        )
        read_only_fields = ("id", "is_archived")
        validators: list[Any] = []


class StageUpdateSerializer(StageSerializer):
    pipeline = serializers.PrimaryKeyRelatedField(read_only=True)


class StageArchiveSerializer(serializers.Serializer[Any]):
    move_deals_to = serializers.PrimaryKeyRelatedField(
        queryset=Stage.objects.all(),
        required=False,
        allow_null=True,
        help_text=(
            "Another open stage of the same pipeline that the stage's deals move to (each "
            "move kept in the deal's history). Required when deals are on the stage."
        ),
    )


class PipelineSerializer(StrictModelSerializer):
    name = StrictCharField(max_length=100)
    is_archived = StrictBooleanField(
        required=False, help_text="Archived pipelines are hidden from boards and forms."
    )
    stages = StageSerializer(many=True, read_only=True)
    stage_names = serializers.ListField(
        child=StrictCharField(max_length=100),
        max_length=30,
        required=False,
        write_only=True,
        help_text="On creation, the stages' names in order; the default set when left out.",
    )

    class Meta:
        model = Pipeline
        fields = ("id", "name", "is_default", "is_archived", "stages", "stage_names", "created_at")
        read_only_fields = ("id", "is_default", "created_at")


_pipeline_param = OpenApiParameter("pipeline", int, description="Only this pipeline's stages.")
_archived_param = OpenApiParameter(
    "archived", bool, description="Include archived pipelines (default false)."
)


@extend_schema_view(
    list=extend_schema(
        summary="List pipelines",
        description=(
            "The organization's pipelines, the default first, each with its stages in order "
            "(archived stages included, marked). Not paginated."
        ),
        parameters=[_archived_param],
    ),
    retrieve=extend_schema(summary="Get a pipeline", description="One pipeline and its stages."),
    create=extend_schema(
        summary="Create a pipeline",
        description=(
            f"A new pipeline with its stages (`stage_names`, or the default set). {_admins_only}"
        ),
    ),
    partial_update=extend_schema(
        summary="Rename or archive a pipeline",
        description=(
            "Change `name` or `is_archived`; the default pipeline can't be archived (409, "
            f"`pipeline-is-default`). {_admins_only}"
        ),
        responses={200: PipelineSerializer, **problem_responses(409, "The pipeline is default.")},
    ),
)
class PipelineViewSet(TenantViewSet):
    admin_right_for_writes = "custom_fields"
    serializer_class = PipelineSerializer
    pagination_class = None
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[Pipeline]:
        raw = self.request.query_params.get("archived", "false")
        if raw not in ("true", "false"):
            raise ValidationError({"archived": ["Give true or false."]})
        return selectors.pipeline_list(include_archived=raw == "true" or self.action != "list")

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        data = serializer.validated_data
        serializer.instance = services.pipeline_create(
            by=self.request.user, name=data["name"], stages=data.get("stage_names", ())
        )

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        data = serializer.validated_data
        serializer.instance = services.pipeline_update(
            pipeline=cast(Pipeline, serializer.instance),
            by=self.request.user,
            name=data.get("name"),
            is_archived=data.get("is_archived"),
        )


@extend_schema_view(
    list=extend_schema(
        summary="List stages",
        description="Stages of every pipeline (or one), in pipeline order. Not paginated.",
        parameters=[_pipeline_param],
    ),
    retrieve=extend_schema(summary="Get a stage", description="One stage of a pipeline."),
    create=extend_schema(
        summary="Add a stage",
        description=(
            "A new stage of `pipeline`, last or at `position`. A stage is won or lost, not "
            f"both. {_admins_only}"
        ),
    ),
    partial_update=extend_schema(
        summary="Change a stage",
        description=(
            "Rename it, set its probability or won/lost flag, or move it to `position` (the "
            f"others make room). {_admins_only}"
        ),
    ),
    archive=extend_schema(
        summary="Remove a stage",
        description=(
            "Archive a stage. Deals on it must move to another open stage of the same "
            "pipeline (`move_deals_to`); without one, a stage with deals answers 409 "
            f"(`stage-has-deals`) and nothing changes. {_admins_only}"
        ),
        request=StageArchiveSerializer,
        responses={
            200: StageSerializer,
            **problem_responses(409, "Deals are on the stage and no stage to move them to."),
        },
    ),
)
class StageViewSet(TenantViewSet):
    admin_right_for_writes = "custom_fields"
    pagination_class = None
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        if self.action == "partial_update":
            return StageUpdateSerializer
        if self.action == "archive":
            return StageArchiveSerializer
        return StageSerializer

    def get_queryset(self) -> QuerySet[Stage]:
        raw = self.request.query_params.get("pipeline")
        try:
            pipeline = int(raw) if raw is not None else None
        except ValueError:
            raise ValidationError({"pipeline": ["Give a pipeline id."]}) from None
        return selectors.stage_list(pipeline=pipeline)

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        data = dict(serializer.validated_data)
        serializer.instance = services.stage_create(by=self.request.user, **data)

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        serializer.instance = services.stage_update(
            stage=cast(Stage, serializer.instance),
            by=self.request.user,
            **serializer.validated_data,
        )

    @action(detail=True, methods=["post"])
    def archive(self, request: Request, pk: str | None = None) -> Response:
        stage = cast(Stage, self.get_object())
        params = StageArchiveSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        stage = services.stage_archive(
            stage=stage, by=request.user, move_deals_to=params.validated_data.get("move_deals_to")
        )
        return Response(StageSerializer(stage).data)
