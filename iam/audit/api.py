"""`GET /api/v1/audit-events/`: the organization's audit log, for its admins' tools."""

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request

from iam.authz.guards import Authorized
from iam.org.models import AuditEvent
from iam.permissions import IsTenantMember
from problems.pagination import CreatedCursorPagination
from problems.serializers import StrictCharField

from .selectors import AuditFilters, audit_event_list, day_bounds


class AuditEventSerializer(serializers.ModelSerializer[AuditEvent]):
    """One audit row; `changes` maps a field to [before, after], or to "changed" for a value
    stored encrypted."""

    changes = serializers.JSONField(read_only=True)

    class Meta:
        model = AuditEvent
        fields = [
            "seq",
            "occurred_at",
            "actor_id",
            "actor_label",
            "via",
            "action",
            "target_type",
            "target_id",
            "target_label",
            "changes",
            "ip",
            "user_agent",
            "request_id",
            "prev_hash",
            "hash",
        ]
        read_only_fields = fields


class AuditCursorPagination(CreatedCursorPagination):
    """Newest first, by the log's own sequence."""

    ordering = ("-seq", "-id")


class AuditListParams(serializers.Serializer[Any]):
    person = StrictCharField(required=False, allow_blank=True, max_length=254)
    action = StrictCharField(required=False, allow_blank=True, max_length=64)
    record_type = StrictCharField(required=False, allow_blank=True, max_length=32)
    record_id = StrictCharField(required=False, allow_blank=True, max_length=64)
    since = serializers.DateField(required=False)
    until = serializers.DateField(required=False)


def _text(most: int) -> dict[str, Any]:
    return {"type": "string", "maxLength": most}


_PARAMS = [
    OpenApiParameter(
        "person", _text(254), description="The actor's e-mail (part of it) or user id."
    ),
    OpenApiParameter(
        "action",
        _text(64),
        description='An action code; one ending in "." matches every code it starts.',
    ),
    OpenApiParameter("record_type", _text(32), description="The target's type, such as `contact`."),
    OpenApiParameter("record_id", _text(64), description="The target's id."),
    OpenApiParameter(
        "since", dt.date, description="From this day (in the organization's time zone)."
    ),
    OpenApiParameter(
        "until", dt.date, description="To this day, included; before `since`, nothing matches."
    ),
]


@extend_schema(
    tags=["audit"],
    summary="List the organization's audit log",
    description=(
        "Every security-relevant or data-changing action in the organization, newest first. "
        "Owners and admins (the `audit` admin right) only."
    ),
    parameters=_PARAMS,
)
class AuditEventList(generics.ListAPIView[AuditEvent]):
    permission_classes = [IsTenantMember, Authorized]
    admin_right = "audit"
    serializer_class = AuditEventSerializer
    pagination_class = AuditCursorPagination

    def get_queryset(self) -> QuerySet[AuditEvent]:
        request: Request = self.request
        params = AuditListParams(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        p = params.validated_data
        since, until = day_bounds(
            p.get("since"),
            p.get("until"),
            time_zone=request._request.tenant.time_zone,  # type: ignore[attr-defined]
        )
        return audit_event_list(
            filters=AuditFilters(
                person=p.get("person", ""),
                action=p.get("action", ""),
                record_type=p.get("record_type", ""),
                record_id=p.get("record_id", ""),
                since=since,
                until=until,
            )
        )
