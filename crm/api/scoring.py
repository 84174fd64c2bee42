"""REST endpoints of lead scoring: /api/v1/scoring-rules/ (members read, owners and admins
change) and the explanation of a lead's score. Thin shells over crm.services.scoring and
crm.selectors.scoring."""

from typing import Any, cast

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.serializers import BaseSerializer

from crm.models import ScoringRule
from crm.selectors.scoring import rule_label, scoring_rule_list
from crm.services.scoring import scoring_rule_create, scoring_rule_delete, scoring_rule_update
from iam.api.base import TenantViewSet
from problems.serializers import StrictCharField


class ScoreReasonSerializer(serializers.Serializer[Any]):
    factor = serializers.CharField(help_text="The factor in plain words (“3 calls logged”).")
    points = serializers.IntegerField(help_text="Points it gave (negative: it took them away).")
    kind = serializers.ChoiceField(
        choices=[
            ("base", "base"),
            ("model", "model"),
            ("rule", "rule"),
            ("limit", "limit"),
        ],
        help_text=(
            "`base`: the starting score; `model`: a factor of the organization's trained "
            "model (the percentage points it moves the chance of winning away from the "
            "typical lead's); `rule`: a scoring rule that holds; `limit`: what brings a "
            "total past 0 or 100 back within them."
        ),
    )


class ScoringModelSummarySerializer(serializers.Serializer[Any]):
    trained_at = serializers.DateTimeField()
    won_count = serializers.IntegerField(help_text="Won leads it learned from.")
    lost_count = serializers.IntegerField(help_text="Lost leads it learned from.")
    holdout_accuracy = serializers.FloatField(
        help_text="Share of held-out leads (a fifth of the history) it predicted right."
    )


class LeadScoreSerializer(serializers.Serializer[Any]):
    score = serializers.IntegerField(min_value=0, max_value=100)
    scored_at = serializers.DateTimeField(
        allow_null=True, help_text="When the score last changed (null: not scored yet)."
    )
    reasons = ScoreReasonSerializer(
        many=True, help_text="Each factor and its points; they sum to `score` exactly."
    )
    model = ScoringModelSummarySerializer(
        allow_null=True,
        help_text="The organization's trained model, if it has one (≥50 won and ≥50 lost).",
    )


class ScoringRuleSerializer(serializers.ModelSerializer[ScoringRule]):
    condition = serializers.ChoiceField(
        choices=ScoringRule.Condition.choices,
        help_text=(
            "What must hold: `title_contains`, `source_is`, `status_is`, `tag_is` compare "
            "with `value`; `no_activity_days`, `min_calls`, `min_meetings` count up to "
            "`number`; the others need neither."
        ),
    )
    value = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text=(
            "A word of the title, a lead source, a lead status or a tag's name; ignored by "
            "conditions that don't compare."
        ),
    )
    number = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=3650,
        help_text="Days, calls or meetings; ignored by conditions that don't count.",
    )
    points = serializers.IntegerField(
        min_value=-100,
        max_value=100,
        help_text="Points given when the condition holds (negative: taken away).",
    )
    # A serializer is a field with a `label` of its own; the metaclass takes this one away.
    label = serializers.SerializerMethodField(help_text="The rule in plain words.")  # type: ignore[assignment]

    class Meta:
        model = ScoringRule
        fields = (
            "id",
            "condition",
            "value",
            "number",
            "points",
            "label",
            "position",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("id", "position", "created_at", "updated_at")

    def get_label(self, rule: ScoringRule) -> str:
        return rule_label(rule)


_admins_only = "Owners and admins only; members get 403."
_rescored = "Every lead and contact is rescored in the background within seconds."


@extend_schema_view(
    list=extend_schema(
        summary="List scoring rules",
        description=(
            "The organization's lead scoring rules, in order. A lead's score starts at 20, "
            "its trained model (if any) adds its factors' points, and each rule that holds "
            "adds its points; the score stays within 0 and 100."
        ),
    ),
    retrieve=extend_schema(summary="Get a scoring rule", description="One scoring rule."),
    create=extend_schema(
        summary="Create a scoring rule",
        description=f"Add a rule at the end. {_rescored} {_admins_only}",
    ),
    update=extend_schema(
        summary="Replace a scoring rule",
        description=f"Set a rule's condition, value, number and points. {_rescored} {_admins_only}",
    ),
    partial_update=extend_schema(
        summary="Update a scoring rule",
        description=f"Change only the fields sent. {_rescored} {_admins_only}",
    ),
    destroy=extend_schema(
        summary="Delete a scoring rule",
        description=f"Delete a rule. {_rescored} {_admins_only}",
    ),
)
class ScoringRuleViewSet(TenantViewSet):
    admin_right_for_writes = "custom_fields"
    serializer_class = ScoringRuleSerializer
    pagination_class = None  # an organization has a few dozen rules at most

    def get_queryset(self) -> QuerySet[ScoringRule]:
        return scoring_rule_list()

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        serializer.instance = scoring_rule_create(by=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        serializer.instance = scoring_rule_update(
            rule=cast(ScoringRule, serializer.instance),
            by=self.request.user,
            **serializer.validated_data,
        )

    def perform_destroy(self, instance: ScoringRule) -> None:
        scoring_rule_delete(rule=instance, by=self.request.user)
