"""REST endpoints for contacts, companies and custom fields; thin shells over services and
selectors."""

import functools
from collections.abc import Mapping
from typing import Any, cast

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.throttling import ScopedRateThrottle

from crm import exports, selectors, services
from crm.models import Company, Contact, CustomField
from crm.selectors.tags import tagged_with, with_tag_names
from crm.services import imports as import_services
from iam import authz
from iam.api.base import TenantViewSet
from iam.authentication import BearerTokenAuthentication
from problems.openapi import plan_limit_responses, problem_responses
from problems.pagination import OrderedCursorPagination

from .imports import (
    ContactImportRequestSerializer,
    ContactImportSerializer,
    guard_import_body,
    import_answer,
    import_responses,
)
from .serializers import (
    CompanySerializer,
    ContactSerializer,
    CustomFieldSerializer,
    CustomFieldUpdateSerializer,
)
from .tags import tag_filter

_search = OpenApiParameter("search", str, description="Case-insensitive text to look for.")
_contact_filters = [
    OpenApiParameter(
        "search",
        str,
        description=(
            "Words of the name (whole, as prefixes or one letter off, accents aside), "
            "words of the e-mail address, or a whole phone number (as GET /api/v1/search/)."
        ),
    ),
    OpenApiParameter("email", str, description="Exact e-mail address (case-insensitive)."),
    OpenApiParameter("phone", str, description="Exact phone number (spaces and dashes ignored)."),
    tag_filter,
]


_owner_filters = [
    OpenApiParameter(
        "owner",
        {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
        description="Only records this member (a user id) owns.",
    ),
    OpenApiParameter("mine", bool, description="Only your own records (`owner` is then ignored)."),
]


class OwnerFilterParams(serializers.Serializer[Any]):
    owner = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    mine = serializers.BooleanField(required=False, default=False)


class ListParams(serializers.Serializer[Any]):
    company = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    created_after = serializers.DateField(required=False)
    created_before = serializers.DateField(required=False)
    ordering = serializers.CharField(required=False)


def _list_params(orderings: Mapping[str, Any], *, company: bool) -> list[OpenApiParameter]:
    found = [
        OpenApiParameter(
            "created_after",
            OpenApiTypes.DATE,
            description="Created on this day or later (the organization's time zone).",
        ),
        OpenApiParameter(
            "created_before",
            OpenApiTypes.DATE,
            description="Created on this day or earlier (the organization's time zone).",
        ),
        OpenApiParameter(
            "ordering",
            str,
            enum=list(orderings),
            description="Sort order (default `-created_at`, newest first). Custom field "
            "values filter as `custom.<key>=<value>` (text whatever its case, numbers, "
            "`true`/`false`, dates as YYYY-MM-DD; empty: without a value); sensitive fields "
            "are encrypted and can't be filtered (400).",
        ),
    ]
    if company:
        found.append(
            OpenApiParameter(
                "company",
                {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
                description="Only contacts of this company (its id).",
            )
        )
    return found


def _listed(
    qs: QuerySet[Any],
    request: Request,
    *,
    entity: str,
    orderings: Mapping[str, tuple[str, ...]],
) -> QuerySet[Any]:
    """A list's filters beyond search and tags: owner, company, creation days, custom field
    values (`custom.<key>`) and the ordering; field errors for bad values."""
    qs = _owned_by(qs, request)
    names = ("company", "created_after", "created_before", "ordering")
    params = ListParams(
        data={k: request.query_params[k] for k in names if k in request.query_params}
    )
    params.is_valid(raise_exception=True)
    given = params.validated_data
    if "company" in given and entity == CustomField.Entity.CONTACT:
        qs = qs.filter(company_id=given["company"])
    if "created_after" in given:
        qs = qs.filter(created_at__date__gte=given["created_after"])
    if "created_before" in given:
        qs = qs.filter(created_at__date__lte=given["created_before"])
    ordering = given.get("ordering", "-created_at")
    if ordering not in orderings:
        raise ValidationError({"ordering": [f"Choose one of: {', '.join(orderings)}."]})
    query = request.query_params
    custom = {k: str(query[k]) for k in query if k.startswith("custom.")}
    qs = selectors.custom_value_filter(qs, entity=entity, filters=custom)
    return qs.order_by(*orderings[ordering])


def _owned_by(qs: QuerySet[Any], request: Request) -> QuerySet[Any]:
    """The list's records of the owner it asks for (`owner`), or the caller's (`mine`)."""
    given = {k: request.query_params[k] for k in ("owner", "mine") if k in request.query_params}
    params = OwnerFilterParams(data=given)
    params.is_valid(raise_exception=True)
    if params.validated_data["mine"]:
        return qs.filter(owner_id=request.user.pk)
    if "owner" in params.validated_data:
        return qs.filter(owner_id=params.validated_data["owner"])
    return qs


def _assign_check(request: Request, record_type: str, record: Any, data: Mapping[str, Any]) -> None:
    """Giving a record to an owner other than its current one (or, for a new record, other
    than its creator) is the `assign` action, decided for the record or its type."""
    if "owner_id" not in data:
        return
    principal = authz.principal_for_request(request._request)
    if record is not None:
        if data["owner_id"] != record.owner_id:
            authz.require(principal, "assign", record=record)
    elif data["owner_id"] not in (None, request.user.pk):
        authz.require(principal, "assign", record_type=record_type)


_too_many = problem_responses(429, "More than 30 of these an hour (per user and organization).")

_email_taken = problem_responses(
    409,
    "Another contact of the organization has this e-mail address "
    "(`code` contact-email-taken; `contact` is its id).",
)


class DangerouslyDeferredCsrfSessionAuthentication(SessionAuthentication):
    """Session authentication that leaves its CSRF check to the view, which must call
    `enforce_deferred_csrf` itself. The check parses the request body; an upload is read only
    once throttles have counted the request and its size has been checked."""

    def enforce_csrf(self, request: Request) -> None:
        """Deferred: see `enforce_deferred_csrf`."""

    def enforce_deferred_csrf(self, request: Request) -> None:
        super().enforce_csrf(request)


class DeferredCsrfSessionScheme(OpenApiAuthenticationExtension):
    """In the schema, the session cookie of every other endpoint (`cookieAuth`, which
    drf-spectacular defines for SessionAuthentication); no scheme of its own."""

    target_class = "crm.api.views.DangerouslyDeferredCsrfSessionAuthentication"
    name: list[str] = []

    def get_security_requirement(self, auto_schema: AutoSchema) -> dict[str, list[str]]:
        return {"cookieAuth": []}

    def get_security_definition(self, auto_schema: AutoSchema) -> list[dict[str, Any]]:
        return []


@extend_schema_view(
    list=extend_schema(
        summary="List contacts",
        description=(
            "The organization's contacts, newest first, 25 a page (`page_size` up to 100; "
            "follow `next` for more). `search` finds them as `GET /api/v1/search/` does (words "
            "of the name whole, as prefixes or one letter off, accents aside; words of the "
            "e-mail address; a whole phone number); `email` and `phone` match exactly."
        ),
        parameters=[
            *_contact_filters,
            *_owner_filters,
            *_list_params(selectors.CONTACT_ORDERINGS, company=True),
        ],
    ),
    create=extend_schema(
        summary="Create a contact",
        description=(
            "`first_name` is required. E-mail, phone, address and birthday are stored "
            "encrypted; custom field values go in `custom`, by key."
        ),
        responses={
            201: ContactSerializer,
            **_email_taken,
            **plan_limit_responses("a contact"),
        },
    ),
    retrieve=extend_schema(
        summary="Get a contact",
        description="One contact, with its custom field values (`custom`, by key).",
    ),
    update=extend_schema(
        summary="Replace a contact",
        description="Set a contact's fields; `first_name` is required, as when creating one.",
        responses={200: ContactSerializer, **_email_taken},
    ),
    partial_update=extend_schema(
        summary="Update a contact",
        description="Change only the fields sent; the others keep their values.",
        responses={200: ContactSerializer, **_email_taken},
    ),
    destroy=extend_schema(
        summary="Delete a contact",
        description=(
            "Move a contact to the trash: gone from lists, search and its address, restorable "
            "for 30 days (`POST /api/v1/contacts/{id}/restore/`), then deleted for good."
        ),
    ),
    export_file=extend_schema(summary="Export contacts as CSV"),
    import_file=extend_schema(summary="Import contacts from CSV"),
)
class ContactViewSet(TenantViewSet):
    record_type = "contact"
    record_actions = {"export_file": "export", "import_file": "create"}
    serializer_class = ContactSerializer
    pagination_class = OrderedCursorPagination
    throttle_scope: str | None = None  # set by the import and export actions

    def get_queryset(self) -> QuerySet[Contact]:
        params = self.request.query_params
        contacts = selectors.contact_list(
            principal=authz.principal_for_request(self.request._request),
            search=params.get("search", ""),
            email=params.get("email", ""),
            phone=params.get("phone", ""),
        )
        if self.action == "list":
            contacts = _listed(
                contacts,
                self.request,
                entity=CustomField.Entity.CONTACT,
                orderings=selectors.CONTACT_ORDERINGS,
            )
        return with_tag_names(tagged_with(contacts, params.get("tag", "")))

    def check_throttles(self, request: Request) -> None:
        super().check_throttles(request)
        if self.action == "import_file":
            guard_import_body(request)

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        _assign_check(self.request, "contact", None, serializer.validated_data)
        serializer.instance = services.contact_create(
            by=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        _assign_check(self.request, "contact", serializer.instance, serializer.validated_data)
        serializer.instance = services.contact_update(
            contact=cast(Contact, serializer.instance),
            by=self.request.user,
            **serializer.validated_data,
        )

    def perform_destroy(self, instance: Contact) -> None:
        services.contact_delete(contact=instance, by=self.request.user)

    @extend_schema(
        operation_id="contacts_export",
        parameters=_contact_filters,
        responses={(200, "text/csv"): OpenApiTypes.STR, **_too_many},
        description=(
            "The organization's contacts (filtered as the list is) as a CSV file in the "
            "columns the import reads: e-mail, phone, address, birthday and sensitive custom "
            "values decrypted, of the contacts you may view. Roles with the export right only "
            "(owners, admins and managers; others get 403 `access-denied`). Each export is "
            "logged."
        ),
    )
    @action(
        detail=False,
        methods=["get"],
        url_path="export",
        pagination_class=None,
        throttle_classes=[ScopedRateThrottle],
        throttle_scope="contact-export",
    )
    def export_file(self, request: Request) -> StreamingHttpResponse:
        return exports.contact_export_response(request._request, request.query_params)

    @extend_schema(
        operation_id="contacts_import",
        request={"multipart/form-data": ContactImportRequestSerializer},
        responses=import_responses(ContactImportSerializer),
        description=(
            "Import contacts from a CSV file, all or nothing. Duplicates (same e-mail address, "
            "or without one the same phone number, as an earlier row or an existing contact) "
            "are skipped or, with `on_duplicate=update`, update the existing contact. Companies "
            "are matched by name and made when missing. Fields: `first_name`, `last_name`, "
            "`name` (split into first and last), `email`, `phone`, `title`, `company` (a "
            "name), `address`, `birthday`, and `custom.<key>`."
        ),
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=[MultiPartParser],
        authentication_classes=[
            BearerTokenAuthentication,
            DangerouslyDeferredCsrfSessionAuthentication,
        ],
        throttle_classes=[ScopedRateThrottle],
        throttle_scope="contact-import",
    )
    def import_file(self, request: Request) -> Response:
        principal = authz.principal_for_request(request._request)
        return import_answer(
            request,
            ContactImportRequestSerializer(data=request.data),
            functools.partial(import_services.contact_import, principal=principal),
            ContactImportSerializer,
            options=("on_duplicate",),
        )


@extend_schema_view(
    list=extend_schema(
        summary="List companies",
        description=(
            "The organization's companies, newest first, 25 a page (`page_size` up to 100; "
            "follow `next` for more). `search` finds them as `GET /api/v1/search/` does "
            "(words of the name and domain whole, as prefixes or one letter off, accents aside)."
        ),
        parameters=[
            _search,
            tag_filter,
            *_owner_filters,
            *_list_params(selectors.COMPANY_ORDERINGS, company=False),
        ],
    ),
    create=extend_schema(
        summary="Create a company",
        description="`name` is required; `domain`, `phone` and custom fields (`custom`) aren't.",
    ),
    retrieve=extend_schema(
        summary="Get a company",
        description="One company, with its custom field values (`custom`, by key).",
    ),
    update=extend_schema(
        summary="Replace a company",
        description="Set a company's fields; `name` is required, as when creating one.",
    ),
    partial_update=extend_schema(
        summary="Update a company",
        description="Change only the company fields sent; the others keep their values.",
    ),
    destroy=extend_schema(
        summary="Delete a company",
        description=(
            "Move a company to the trash, restorable for 30 days (`POST "
            "/api/v1/companies/{id}/restore/`); its contacts and deals keep the link meanwhile, "
            "and stay without a company once it is deleted for good."
        ),
    ),
)
class CompanyViewSet(TenantViewSet):
    record_type = "company"
    serializer_class = CompanySerializer
    pagination_class = OrderedCursorPagination

    def get_queryset(self) -> QuerySet[Company]:
        params = self.request.query_params
        companies = selectors.company_list(
            principal=authz.principal_for_request(self.request._request),
            search=params.get("search", ""),
        )
        if self.action == "list":
            companies = _listed(
                companies,
                self.request,
                entity=CustomField.Entity.COMPANY,
                orderings=selectors.COMPANY_ORDERINGS,
            )
        return with_tag_names(tagged_with(companies, params.get("tag", "")))

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        _assign_check(self.request, "company", None, serializer.validated_data)
        serializer.instance = services.company_create(
            by=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        _assign_check(self.request, "company", serializer.instance, serializer.validated_data)
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
        summary="List custom fields",
        parameters=[_entity],
        description="Every custom field definition, in display order (not paginated).",
    ),
    retrieve=extend_schema(
        summary="Get a custom field",
        description=(
            "One definition: entity, key, label, type, choices, and whether values are "
            "required or stored encrypted (`sensitive`)."
        ),
    ),
    create=extend_schema(
        summary="Define a custom field",
        description=f"Define a custom field. {_admins_only}",
        responses={
            201: CustomFieldSerializer,
            **problem_responses(
                409,
                "The key is taken for this entity, or the entity has as many fields as allowed.",
            ),
            **plan_limit_responses("a custom field"),
        },
    ),
    update=extend_schema(
        summary="Replace a custom field",
        description=f"Change a definition; entity, key and type are fixed. {_admins_only}",
    ),
    partial_update=extend_schema(
        summary="Update a custom field",
        description=(
            "Change some of a definition. Changing `sensitive` re-encrypts or decrypts the "
            f"stored values. {_admins_only}"
        ),
    ),
    destroy=extend_schema(
        summary="Delete a custom field",
        description=f"Delete a definition and its values on every record. {_admins_only}",
    ),
)
class CustomFieldViewSet(TenantViewSet):
    admin_right_for_writes = "custom_fields"
    """Custom fields of contacts and companies: members read them, owners and admins manage."""

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
