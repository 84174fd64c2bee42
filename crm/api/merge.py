"""`POST /api/v1/contacts/merge/` and `POST /api/v1/companies/merge/`: duplicates merged into
one surviving record (`crm.services.merge`)."""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from crm.access import merge_require
from crm.api.serializers import CompanySerializer, ContactSerializer
from crm.models import Company, Contact
from crm.services import merge as services
from iam import authz
from iam.api.base import TenantViewSet
from problems.openapi import problem_responses

_FIELDS_HELP = (
    "Which record's value the survivor keeps, by field: field name -> the id of one of the "
    "records being merged. Fields not named keep the survivor's value. Custom fields are "
    "named `custom.<key>`. Fields: {}."
)


def _merge_request(model: type[Contact] | type[Company]) -> type[serializers.Serializer[Any]]:
    kind = model._meta.verbose_name

    class MergeRequestSerializer(serializers.Serializer[Any]):
        survivor = serializers.PrimaryKeyRelatedField(
            queryset=model.objects.all(), help_text=f"The {kind} that stays."
        )
        others = serializers.ListField(
            child=serializers.PrimaryKeyRelatedField(queryset=model.objects.all()),
            min_length=1,
            max_length=services.MAX_MERGED - 1,
            help_text=(
                f"The {kind} ids merged into the survivor, then put in the trash (at most "
                f"{services.MAX_MERGED - 1}; not the survivor, none in the trash)."
            ),
        )
        fields = serializers.DictField(  # type: ignore[assignment]
            child=serializers.IntegerField(),
            required=False,
            default=dict,
            help_text=_FIELDS_HELP.format(", ".join(services.merge_fields(model))),
        )

    MergeRequestSerializer.__name__ = f"{model.__name__}MergeRequest"
    return MergeRequestSerializer


ContactMergeRequest = _merge_request(Contact)
CompanyMergeRequest = _merge_request(Company)

_PROBLEMS = problem_responses(
    400,
    "An unknown id (or one of another organization, or in the trash) in `survivor` or "
    "`others`, the survivor among the others, an unknown field, or a choice that names no "
    "record of the merge; nothing changed.",
)


class _MergeViewSet(TenantViewSet):
    model: type[Contact] | type[Company] = Contact
    record_actions = {"merge": "edit"}
    request_serializer: type[serializers.Serializer[Any]] = ContactMergeRequest

    def get_queryset(self) -> QuerySet[Any]:
        return self.model.objects.all()

    def merge(self, request: Request) -> Response:
        body = self.request_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        principal = authz.principal_for_request(request._request)
        self._visible_check(principal, data["survivor"], data["others"])
        merge_require(
            principal, survivor=data["survivor"], others=data["others"], fields=data["fields"]
        )
        merge = services.contact_merge if self.model is Contact else services.company_merge
        kept = merge(
            survivor=data["survivor"], others=data["others"], fields=data["fields"], by=request.user
        )
        kept = self.model.objects.get(pk=kept.pk)
        return Response(self.get_serializer(kept).data)

    def _visible_check(
        self, principal: authz.Principal | None, survivor: Any, others: list[Any]
    ) -> None:
        """A record the caller may not view is answered as an unknown id (400), as one of
        another organization is: its existence isn't revealed."""
        ids = {survivor.pk, *(o.pk for o in others)}
        seen = set(
            authz.visible(
                self.model.objects.filter(pk__in=ids), principal, self.record_type or ""
            ).values_list("pk", flat=True)
        )
        errors: dict[str, Any] = {}
        if survivor.pk not in seen:
            errors["survivor"] = [f'Invalid pk "{survivor.pk}" - object does not exist.']
        unseen = [o.pk for o in others if o.pk not in seen]
        if unseen:
            errors["others"] = [f'Invalid pk "{pk}" - object does not exist.' for pk in unseen]
        if errors:
            raise serializers.ValidationError(errors)


class ContactMergeViewSet(_MergeViewSet):
    record_type = "contact"
    serializer_class = ContactSerializer

    @extend_schema(
        operation_id="contacts_merge",
        summary="Merge duplicate contacts",
        description=(
            "Merge one or more contacts into a surviving one, all or nothing: the survivor "
            "keeps, field by field, the value of the record named in `fields`; activities, "
            "deal links (primary kept), meetings attended, tags and leads converted into the "
            "others move to it; the others go to the trash (restorable for 30 days). Answers "
            "the survivor as it now is. Taking an e-mail address that a contact outside the "
            "merge holds is a 409."
        ),
        request=ContactMergeRequest,
        responses={
            200: ContactSerializer,
            **_PROBLEMS,
            **problem_responses(409, "Another contact already has the chosen e-mail address."),
        },
        examples=[
            OpenApiExample(
                "Keep contact 12, with 34's e-mail address and phone",
                value={"survivor": 12, "others": [34], "fields": {"email": 34, "phone": 34}},
                request_only=True,
            )
        ],
        tags=["contacts"],
    )
    def merge(self, request: Request) -> Response:
        return super().merge(request)


class CompanyMergeViewSet(_MergeViewSet):
    record_type = "company"
    model = Company
    request_serializer = CompanyMergeRequest
    serializer_class = CompanySerializer

    @extend_schema(
        operation_id="companies_merge",
        summary="Merge duplicate companies",
        description=(
            "Merge one or more companies into a surviving one, all or nothing: the survivor "
            "keeps, field by field, the value of the record named in `fields`; contacts, "
            "deals, activities, tags and leads converted into the others move to it; the "
            "others go to the trash (restorable for 30 days). Answers the survivor as it "
            "now is."
        ),
        request=CompanyMergeRequest,
        responses={200: CompanySerializer, **_PROBLEMS},
        examples=[
            OpenApiExample(
                "Keep company 3, with 7's domain",
                value={"survivor": 3, "others": [7], "fields": {"domain": 7}},
                request_only=True,
            )
        ],
        tags=["companies"],
    )
    def merge(self, request: Request) -> Response:
        return super().merge(request)
