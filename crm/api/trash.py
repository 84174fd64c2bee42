"""The trash in the API: `GET /api/v1/trash/` lists what is in it, `POST
/api/v1/{contacts,companies,leads,deals}/{id}/restore/` brings a record back, and `DELETE
/api/v1/trash/{type}/{id}/` deletes one for good at once. Each lists and acts on only the
records its caller may delete, as the decision point decides."""

from typing import Any

from django.db import connection
from django.http import Http404
from django.urls import NoReverseMatch, reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from crm.models import Company, Contact, Deal, Lead
from crm.selectors.activities import user_names
from crm.selectors.trash import TRASH_TYPES, TrashEntry, trash_entries, trash_list, trashed_record
from crm.services.trash import TRASH_DAYS, Trashable, record_purge, record_restore, record_type
from iam import authz
from iam.api.base import TenantViewSet
from iam.authz.guards import Authorized
from iam.permissions import IsTenantMember
from problems.openapi import plan_limit_responses, problem_responses

_API_DETAIL = {
    "contact": "contact-detail",
    "company": "company-detail",
    "lead": "lead-detail",
    "deal": "deal-detail",
}


def _name_of(record: Trashable) -> str:
    return record.full_name if isinstance(record, Contact | Lead) else record.name


def _entry_of(record: Trashable) -> TrashEntry:
    return TrashEntry(
        type=record_type(record),
        id=record.pk,
        name=_name_of(record),
        deleted_at=record.deleted_at,  # type: ignore[arg-type]
        deleted_by_id=record.deleted_by_id,
    )


class TrashEntrySerializer(serializers.Serializer[Any]):
    type = serializers.ChoiceField(choices=TRASH_TYPES, help_text="What kind of record it is.")
    id = serializers.IntegerField()
    name = serializers.CharField(help_text="The record's name.")
    deleted_at = serializers.DateTimeField(help_text="When it was put in the trash.")
    deleted_by = serializers.IntegerField(
        source="deleted_by_id", allow_null=True, help_text="The user who put it there."
    )
    deleted_by_name = serializers.SerializerMethodField(
        help_text="That user's name (null if unknown)."
    )
    purge_after = serializers.DateTimeField(
        help_text=f"From then on ({TRASH_DAYS} days after) it may be deleted for good."
    )
    days_left = serializers.IntegerField(help_text="Whole days left before `purge_after`.")

    def to_representation(self, instance: Any) -> Any:
        if not isinstance(instance, TrashEntry):
            instance = _entry_of(instance)
        return super().to_representation(instance)

    def get_deleted_by_name(self, entry: TrashEntry) -> str | None:
        names: dict[int, str] = self.context.get("user_names") or {}
        if entry.deleted_by_id is None:
            return None
        if entry.deleted_by_id not in names:
            names = user_names([entry.deleted_by_id])
        return names.get(entry.deleted_by_id)


class RestoredSerializer(serializers.Serializer[Any]):
    type = serializers.ChoiceField(choices=TRASH_TYPES)
    id = serializers.IntegerField()
    name = serializers.CharField()
    url = serializers.CharField(allow_null=True, help_text="The record in this API.")


class TrashPagination(PageNumberPagination):
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.getlist(self.page_size_query_param)
        if not raw:
            return self.page_size
        if len(raw) != 1 or not raw[0].isdigit() or not 1 <= int(raw[0]) <= self.max_page_size:
            raise ValidationError(
                {"page_size": [f"Give a whole number from 1 to {self.max_page_size}."]}
            )
        return int(raw[0])

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": self.max_page_size,
                    "default": self.page_size,
                }
            elif parameter["name"] == self.page_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
        return parameters


class _InTenant:
    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        tenant = getattr(request._request, "tenant", None)
        if tenant is None or connection.schema_name != tenant.schema_name:  # type: ignore[attr-defined]
            raise RuntimeError("The trash API used outside its tenant's schema.")
        super().initial(request, *args, **kwargs)  # type: ignore[misc]


class TrashListView(_InTenant, GenericAPIView):
    """The organization's trash."""

    permission_classes = [IsTenantMember, Authorized]
    member_route = True
    serializer_class = TrashEntrySerializer
    pagination_class = TrashPagination

    @extend_schema(
        operation_id="trash_list",
        summary="List the trash",
        description=(
            "Contacts, companies, leads and deals in the trash, the most recently trashed "
            f"first, 25 a page (`page_size` up to 100). Each stays {TRASH_DAYS} days, then a "
            "periodic task deletes it for good; until then `POST /api/v1/<records>/<id>/"
            "restore/` brings it back. Trashed records are in no other list, search or "
            "detail route. Only the records you may delete are listed."
        ),
        parameters=[
            OpenApiParameter("type", str, enum=list(TRASH_TYPES), description="Only this kind.")
        ],
        responses={
            200: TrashEntrySerializer(many=True),
            **problem_responses(400, "An unknown `type`, or a bad `page_size`."),
            **problem_responses(404, "A `page` past the last one (or not a page number)."),
        },
        tags=["trash"],
    )
    def get(self, request: Request) -> Response:
        kind = request.query_params.get("type", "")
        if "type" in request.query_params and kind not in TRASH_TYPES:
            raise ValidationError({"type": [f"Choose one of: {', '.join(TRASH_TYPES)}."]})
        principal = authz.principal_for_request(request._request)
        page = self.paginate_queryset(trash_list(principal=principal, kind=kind))
        entries = trash_entries(page or [])
        names = user_names(e.deleted_by_id for e in entries)
        data = TrashEntrySerializer(entries, many=True, context={"user_names": names}).data
        return self.get_paginated_response(data)


class TrashPurgeView(_InTenant, GenericAPIView):
    """One trashed record, deleted for good at once."""

    permission_classes = [IsTenantMember, Authorized]
    member_route = True
    serializer_class = TrashEntrySerializer

    @extend_schema(
        operation_id="trash_purge",
        summary="Delete a trashed record for good",
        description=(
            "Delete a contact, company, lead or deal in the trash for good now, with its "
            "activities and tag links (a deal's line items and history too); a company's "
            "contacts and deals stay, without it. Whoever may delete the record; others get 403. "
            "A record not in the trash is a 404."
        ),
        parameters=[
            OpenApiParameter("type", str, OpenApiParameter.PATH, enum=list(TRASH_TYPES)),
            OpenApiParameter("id", int, OpenApiParameter.PATH),
        ],
        responses={204: None},
        tags=["trash"],
    )
    def delete(self, request: Request, type: str, id: int) -> Response:  # noqa: A002
        principal = authz.principal_for_request(request._request)
        record = trashed_record(principal=principal, kind=type, pk=id)
        if record is None:
            raise Http404
        authz.require(principal, "delete", record=record)
        record_purge(record=record, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RestoreViewSet(TenantViewSet):
    """`POST /api/v1/<records>/<id>/restore/` for one kind of record (`model`)."""

    model: type[Trashable] = Contact
    record_actions = {"restore": "delete"}
    serializer_class = TrashEntrySerializer
    pagination_class = None

    def get_queryset(self) -> Any:
        return self.model.trashed.all()

    def restore(self, request: Request, pk: str | None = None) -> Response:
        record = record_restore(record=self.get_object(), by=request.user)
        kind = record_type(record)
        try:
            url: str | None = request.build_absolute_uri(
                reverse(_API_DETAIL[kind], args=[record.pk])
            )
        except NoReverseMatch:
            url = None
        return Response(
            RestoredSerializer(
                {"type": kind, "id": record.pk, "name": _name_of(record), "url": url}
            ).data
        )


_EMAIL_TAKEN = (
    "A contact whose e-mail address another contact has taken meanwhile: change one of "
    "the two addresses first (the problem names the other contact in `contact`)."
)


def _restore_of_one_type() -> Any:
    # A function of its own per type: the schema's documentation is kept on the function.
    def restore(self: RestoreViewSet, request: Request, pk: str | None = None) -> Response:
        return RestoreViewSet.restore(self, request, pk)

    return restore


def restore_view(model: type[Trashable], plural: str) -> Any:
    """The restore endpoint of one record type, documented as such."""
    kind = model._meta.model_name
    conflicts = (
        {**problem_responses(409, _EMAIL_TAKEN), **plan_limit_responses("the contact back")}
        if model is Contact
        else {}
    )
    documented = extend_schema(
        operation_id=f"{plural}_restore",
        summary=f"Restore a {kind} from the trash",
        description=(
            f"Bring a trashed {kind} back as it was, with its activities, tags and links. "
            f"An id that is not in the trash (never was, was restored, or is of another "
            "organization) is a 404. No body."
        ),
        request=None,
        responses={200: RestoredSerializer, **conflicts},
        tags=["trash"],
    )(_restore_of_one_type())
    view_class: type[RestoreViewSet] = type(
        f"{model.__name__}RestoreViewSet",
        (RestoreViewSet,),
        {
            "model": model,
            "record_type": kind,
            "restore": documented,
            "__doc__": f"Restore a trashed {kind}.",
        },
    )
    return view_class.as_view({"post": "restore"})


RESTORABLE = ((Contact, "contacts"), (Company, "companies"), (Lead, "leads"), (Deal, "deals"))
