"""Imports of CSV files through the API: contacts (`POST /api/v1/contacts/import/`, an action
of the contacts' viewset), leads and deals (`POST /api/v1/leads/import/`, `/deals/import/`)."""

import json
from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from crm import imports
from crm.models import ContactImport
from crm.services import imports as import_services
from iam.api.base import TenantViewSet
from iam.authentication import BearerTokenAuthentication
from problems.exceptions import InvalidFields
from problems.openapi import plan_limit_responses, problem_responses

_FILE_HELP = (
    "A CSV file (UTF-8; comma, semicolon or tab separated) whose first row names the "
    "columns. Without `mapping`, the columns are read as last mapped for a file with the same "
    "headings, else as their headings name the fields (see docs/api.md); other columns are "
    "ignored and listed in the answer."
)
_MAPPING_HELP = (
    "A JSON object: for each column heading, the field it fills (`custom.<key>` for a "
    'custom field), or "" to leave it out; headings not named are left out. Once an import '
    "with it is kept, it is remembered (with `date_order`) for the next file with the same "
    "headings."
)
_DATE_ORDER_HELP = (
    "How the file writes dates that don't start with the year: DMY (25/03/1990), MDY "
    "(03/25/1990) or YMD. Needed only when a date column can be read both ways (every value "
    "like 03/04/1920); otherwise each column's own values settle it. YYYY-MM-DD is always read."
)


class ImportRequestSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(help_text=_FILE_HELP)
    dry_run = serializers.BooleanField(
        default=False, help_text="Check the file and report what would happen; keep nothing."
    )
    mapping = serializers.CharField(
        required=False, max_length=64 * 1024, trim_whitespace=False, help_text=_MAPPING_HELP
    )
    date_order = serializers.ChoiceField(
        choices=imports.DATE_ORDERS, required=False, help_text=_DATE_ORDER_HELP
    )

    def validate_mapping(self, value: str) -> dict[str, Any]:
        try:
            mapping = json.loads(value)
        except ValueError:
            mapping = None
        if not isinstance(mapping, dict):
            raise serializers.ValidationError(
                'Give a JSON object of fields by column heading, such as {"E-mail": "email"}.'
            )
        return mapping


class ContactImportRequestSerializer(ImportRequestSerializer):
    on_duplicate = serializers.ChoiceField(
        choices=ContactImport.OnDuplicate.choices,
        default=ContactImport.OnDuplicate.SKIP,
        help_text=(
            "What to do with a row whose e-mail address (or, without one, phone number) "
            "belongs to an existing contact: skip it, or update the contact with the row's "
            "non-empty values."
        ),
    )


_REPORT_HELP = (
    "`skipped`: the rows not imported, each with its `row` number (the headings are row 1) "
    "and `reason` (`duplicate-row` with `of_row`; `existing-contact` with `contact`, or "
    "`existing-lead` with `lead`, its id); `columns`: what each mapped heading fills (a field, "
    "`name` for first and last, or `custom.<key>`); `ignored_columns`: headings left out; "
    "`date_orders`: the order each date column was read in, by heading."
)


class ContactImportSerializer(serializers.ModelSerializer[ContactImport]):
    id = serializers.IntegerField(read_only=True, allow_null=True, help_text="Null on a dry run.")
    dry_run = serializers.BooleanField(read_only=True)
    replayed = serializers.BooleanField(
        read_only=True,
        help_text=(
            "Always false here: a retry with an Idempotency-Key gets the first response again, "
            "with the header `Idempotent-Replayed: true`."
        ),
    )
    report = serializers.JSONField(read_only=True, help_text=_REPORT_HELP)

    class Meta:
        model = ContactImport
        fields: tuple[str, ...] = (
            "id",
            "filename",
            "on_duplicate",
            "rows",
            "contacts_created",
            "contacts_updated",
            "rows_skipped",
            "companies_created",
            "report",
            "dry_run",
            "replayed",
            "created_at",
        )
        read_only_fields: tuple[str, ...] = fields


class RecordImportSerializer(ContactImportSerializer):
    """The answer of a lead or deal import."""

    class Meta(ContactImportSerializer.Meta):
        fields: tuple[str, ...] = (
            "id",
            "entity",
            "filename",
            "rows",
            "records_created",
            "rows_skipped",
            "companies_created",
            "report",
            "dry_run",
            "replayed",
            "created_at",
        )
        read_only_fields: tuple[str, ...] = fields


def import_responses(serializer: type[serializers.Serializer[Any]]) -> dict[Any, Any]:
    return {
        201: serializer,
        200: OpenApiResponse(serializer, description="A dry run: what the import would do."),
        **problem_responses(
            400,
            "The file can't be imported; nothing was. `errors` names the file (`file`), the "
            "mapping (`mapping`), the date order to give (`date_order`: a date column could "
            "be read day first or month first) or each bad cell (`rows.<n>.<field>`, rows "
            "numbered as in a spreadsheet, the headings being row 1).",
        ),
        **problem_responses(
            429, "More than 30 imports of these records an hour (per user and organization)."
        ),
        **plan_limit_responses(
            "an import (the plan's imports a day) or, for contacts, the file's new contacts"
        ),
    }


def import_answer(
    request: Request,
    params: ImportRequestSerializer,
    service: Callable[..., ContactImport],
    answer: type[serializers.Serializer[Any]],
    *,
    options: tuple[str, ...] = (),
) -> Response:
    """Run an import for a request whose body `accept_import_uploads` guarded, passing the
    service the file, the common parameters and the `options` named. A retry's
    Idempotency-Key is answered by `TenantViewSet`, as for every POST."""
    params.is_valid(raise_exception=True)
    if imports.files_sent(request._request) > 1:
        raise InvalidFields({"file": [imports.ONE_FILE]})
    data = params.validated_data
    upload = data["file"]
    if upload.size > imports.MAX_BYTES:
        raise InvalidFields({"file": [imports.TOO_LARGE]})
    result = service(
        by=request.user,
        content=upload.read(),
        filename=upload.name or "",
        dry_run=data["dry_run"],
        mapping=data.get("mapping"),
        date_order=data.get("date_order", ""),
        **{name: data[name] for name in options},
    )
    fresh = not (result.dry_run or result.replayed)
    return Response(answer(result).data, status=201 if fresh else 200)


def guard_import_body(request: Request) -> None:
    """Right after the throttles have counted the request, and before anything reads its
    body (an Idempotency-Key's check does, in `TenantViewSet.initial`): its size is checked,
    the in-memory upload handler put in place, then a session's CSRF check (which parses the
    body) made."""
    from .views import DangerouslyDeferredCsrfSessionAuthentication

    imports.accept_import_uploads(request._request)
    authenticator = request.successful_authenticator
    if isinstance(authenticator, DangerouslyDeferredCsrfSessionAuthentication):
        authenticator.enforce_deferred_csrf(request)


class _RecordImportViewSet(TenantViewSet):
    """`POST` a CSV file of records; its body is read only once throttles have counted the
    request and its size is checked (then a session's CSRF token)."""

    parser_classes = [MultiPartParser]
    throttle_classes = [ScopedRateThrottle]
    serializer_class = RecordImportSerializer
    queryset = ContactImport.objects.none()
    service: Callable[..., ContactImport]

    def get_authenticators(self) -> list[Any]:
        from .views import DangerouslyDeferredCsrfSessionAuthentication

        return [BearerTokenAuthentication(), DangerouslyDeferredCsrfSessionAuthentication()]

    def check_throttles(self, request: Request) -> None:
        super().check_throttles(request)
        guard_import_body(request)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        params = ImportRequestSerializer(data=request.data)
        return import_answer(request, params, type(self).service, RecordImportSerializer)


class LeadImportViewSet(_RecordImportViewSet):
    record_type = "lead"
    service = staticmethod(import_services.lead_import)
    throttle_scope = "lead-import"

    @extend_schema(
        operation_id="leads_import",
        summary="Import leads from CSV",
        request={"multipart/form-data": ImportRequestSerializer},
        responses=import_responses(RecordImportSerializer),
        description=(
            "Import leads from a CSV file, all or nothing, each held to the rules of creating "
            "one. Fields: `first_name`, `last_name`, `name` (split into first and last), "
            "`email`, `phone`, `company` (a name), `title`, `source` and `status` (by value or "
            "label), `disqualified_reason`, `owner` (a member's e-mail address; the importer "
            "when empty), `tags` (separated by commas or semicolons). The source is `import` "
            "unless given. A row with the e-mail address of an earlier row or an existing "
            "lead is skipped."
        ),
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().create(request, *args, **kwargs)


class DealImportViewSet(_RecordImportViewSet):
    record_type = "deal"
    service = staticmethod(import_services.deal_import)
    throttle_scope = "deal-import"

    @extend_schema(
        operation_id="deals_import",
        summary="Import deals from CSV",
        request={"multipart/form-data": ImportRequestSerializer},
        responses=import_responses(RecordImportSerializer),
        description=(
            "Import deals from a CSV file, all or nothing, each row a new deal held to the "
            "rules of creating one. Fields: `name`, `company` (matched by name, case aside, "
            "or created), `amount`, `currency` (ISO 4217), `pipeline` and `stage` (by name, "
            "case aside; the default pipeline and the first stage of the pipeline when "
            "empty; an unknown one is an error naming the choices), `expected_close_on` (a "
            "date), `owner` (a member's e-mail address; the importer when empty), `tags` "
            "(separated by commas or semicolons), `lost_reason`."
        ),
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().create(request, *args, **kwargs)
