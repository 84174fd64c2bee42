"""REST endpoints for contacts, companies and custom fields; thin shells over services and
selectors."""

from typing import Any, cast

from django.db.models import QuerySet
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework.exceptions import ValidationError
from rest_framework.serializers import BaseSerializer

from crm import selectors, services
from crm.models import Company, Contact, CustomField
from crm.permissions import IsTenantAdminForWrites
from iam.api.base import TenantViewSet
from iam.permissions import IsTenantMember
from problems.openapi import PROBLEM_SCHEMA

from .serializers import (
    CompanySerializer,
    ContactSerializer,
    CustomFieldSerializer,
    CustomFieldUpdateSerializer,
)

_search = OpenApiParameter("search", str, description="Case-insensitive text to look for.")
_contact_filters = [
    OpenApiParameter(
        "search",
        str,
        description="Names by substring; an e-mail address or phone number exactly.",
    ),
    OpenApiParameter("email", str, description="Exact e-mail address (case-insensitive)."),
    OpenApiParameter("phone", str, description="Exact phone number (spaces and dashes ignored)."),
]


_email_taken = {
    (409, "application/problem+json"): OpenApiResponse(
        PROBLEM_SCHEMA,
        description="Another contact of the organization has this e-mail address "
        "(`code` contact-email-taken; `contact` is its id).",
    )
}


@extend_schema_view(
    list=extend_schema(parameters=_contact_filters),
    create=extend_schema(responses={201: ContactSerializer, **_email_taken}),
    update=extend_schema(responses={200: ContactSerializer, **_email_taken}),
    partial_update=extend_schema(responses={200: ContactSerializer, **_email_taken}),
)
class ContactViewSet(TenantViewSet):
    serializer_class = ContactSerializer

    def get_queryset(self) -> QuerySet[Contact]:
        params = self.request.query_params
        return selectors.contact_list(
            search=params.get("search", ""),
            email=params.get("email", ""),
            phone=params.get("phone", ""),
        )

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        serializer.instance = services.contact_create(
            by=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        serializer.instance = services.contact_update(
            contact=cast(Contact, serializer.instance),
            by=self.request.user,
            **serializer.validated_data,
        )

    def perform_destroy(self, instance: Contact) -> None:
        services.contact_delete(contact=instance, by=self.request.user)


@extend_schema_view(list=extend_schema(parameters=[_search]))
class CompanyViewSet(TenantViewSet):
    serializer_class = CompanySerializer

    def get_queryset(self) -> QuerySet[Company]:
        return selectors.company_list(search=self.request.query_params.get("search", ""))

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        serializer.instance = services.company_create(
            by=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        serializer.instance = services.company_update(
            company=cast(Company, serializer.instance),
            by=self.request.user,
            **serializer.validated_data,
        )

    def perform_destroy(self, instance: Company) -> None:
        services.company_delete(company=instance, by=self.request.user)


_entity = OpenApiParameter(
    "entity", str, enum=CustomField.Entity.values, description="Only fields of this entity."
)
_admins_only = "Owners and admins only; members get 403."


@extend_schema_view(
    list=extend_schema(
        parameters=[_entity],
        description="Every custom field definition, in display order (not paginated).",
    ),
    create=extend_schema(
        description=f"Define a custom field. {_admins_only}",
        responses={
            201: CustomFieldSerializer,
            (409, "application/problem+json"): OpenApiResponse(
                PROBLEM_SCHEMA,
                description="The key is taken for this entity, or the entity has as many "
                "fields as allowed.",
            ),
        },
    ),
    update=extend_schema(
        description=f"Change a definition; entity, key and type are fixed. {_admins_only}"
    ),
    partial_update=extend_schema(
        description=(
            "Change some of a definition. Changing `sensitive` re-encrypts or decrypts the "
            f"stored values. {_admins_only}"
        )
    ),
    destroy=extend_schema(
        description=f"Delete a definition and its values on every record. {_admins_only}"
    ),
)
class CustomFieldViewSet(TenantViewSet):
    """Custom fields of contacts and companies: members read them, owners and admins manage."""

    permission_classes = [IsTenantMember, IsTenantAdminForWrites]
    pagination_class = None  # at most CUSTOM_FIELDS_PER_ENTITY per entity

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        if self.action in ("update", "partial_update"):
            return CustomFieldUpdateSerializer
        return CustomFieldSerializer

    def get_queryset(self) -> QuerySet[CustomField]:
        entity = self.request.query_params.get("entity")
        if entity is not None and entity not in CustomField.Entity.values:
            raise ValidationError(
                {"entity": [f"Choose one of: {', '.join(CustomField.Entity.values)}."]}
            )
        return selectors.custom_field_list(entity=entity or None)

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        serializer.instance = services.custom_field_create(
            by=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        serializer.instance = services.custom_field_update(
            field=cast(CustomField, serializer.instance),
            by=self.request.user,
            **serializer.validated_data,
        )

    def perform_destroy(self, instance: CustomField) -> None:
        services.custom_field_delete(field=instance, by=self.request.user)
