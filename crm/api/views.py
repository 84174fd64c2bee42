"""REST endpoints for contacts and companies; thin shells over services and selectors."""

from typing import Any, cast

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework.serializers import BaseSerializer

from crm import selectors, services
from crm.models import Company, Contact
from iam.api.base import TenantViewSet

from .serializers import CompanySerializer, ContactSerializer

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


@extend_schema_view(list=extend_schema(parameters=_contact_filters))
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
