"""`POST /api/v1/{contacts,companies,leads,deals}/bulk/`: up to 1,000 creates, updates and
deletes of one kind of record in one request, all or nothing. Each item is read by the
record's own serializer and written by its own services (crm.services.bulk), so the rules
are those of the single-record endpoints."""

from typing import Any

from django.db import models
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from crm.selectors.deals import deal_list
from crm.selectors.tags import with_tag_names
from crm.services.bulk import (
    BULK_LIMIT,
    NOT_FOUND,
    WRITERS,
    records_bulk_get,
    records_bulk_write,
)
from iam import authz
from iam.api.base import TenantViewSet
from problems.exceptions import InvalidFields
from problems.handlers import _field_errors
from problems.openapi import plan_limit_responses, problem_responses

from .deals import DealSerializer
from .leads import LeadSerializer
from .serializers import CompanySerializer, ContactSerializer

_SERIALIZERS: dict[str, type[serializers.ModelSerializer[Any]]] = {
    "contacts": ContactSerializer,
    "companies": CompanySerializer,
    "leads": LeadSerializer,
    "deals": DealSerializer,
}
_SINGULAR = {"contacts": "contact", "companies": "company", "leads": "lead", "deals": "deal"}


def _update_item(record_serializer: Any, name: str) -> type:
    """The schema of an update item: the record's fields, none required, and its `id`."""

    class Item(record_serializer):
        id = serializers.IntegerField(min_value=1, help_text="The id of the record to change.")

        class Meta(record_serializer.Meta):
            read_only_fields = tuple(
                f for f in record_serializer.Meta.read_only_fields if f != "id"
            )

        def get_fields(self) -> dict[str, Any]:
            fields: dict[str, Any] = super().get_fields()
            for key, field in fields.items():
                if key != "id":
                    field.required = False
            return fields

    Item.__name__ = f"{name}BulkUpdate"
    return Item


def _request_serializer(records: str) -> type[serializers.Serializer[Any]]:
    record = _SERIALIZERS[records]
    name = record.__name__.removesuffix("Serializer")
    one = _SINGULAR[records]
    fields = {
        "create": serializers.ListField(
            child=record(),
            required=False,
            max_length=BULK_LIMIT,
            help_text=f"New {records}, each as for POST /api/v1/{records}/.",
        ),
        "update": serializers.ListField(
            child=_update_item(record, name)(),
            required=False,
            max_length=BULK_LIMIT,
            help_text=(
                f"Changes, each with the `id` of the {one} and only the fields to change, as "
                f"for PATCH /api/v1/{records}/{{id}}/."
            ),
        ),
        "delete": serializers.ListField(
            child=serializers.IntegerField(min_value=1),
            required=False,
            max_length=BULK_LIMIT,
            help_text=f"Ids of {records} to delete, as DELETE /api/v1/{records}/{{id}}/ does.",
        ),
    }
    return type(f"{name}BulkSerializer", (serializers.Serializer,), fields)


def _response_serializer(records: str) -> type[serializers.Serializer[Any]]:
    record = _SERIALIZERS[records]
    name = record.__name__.removesuffix("Serializer")
    fields = {
        "created": record(many=True, help_text="The records made, in the order of `create`."),
        "updated": record(many=True, help_text="The records changed, in the order of `update`."),
        "deleted": serializers.ListField(
            child=serializers.IntegerField(), help_text="The ids deleted, as in `delete`."
        ),
    }
    return type(f"{name}BulkResultSerializer", (serializers.Serializer,), fields)


def _check_list(body: dict[str, Any], part: str, errors: dict[str, list[str]]) -> list[Any]:
    value = body.get(part, [])
    if not isinstance(value, list):
        errors[part] = ["Give a list."]
        return []
    return value


class BulkViewSet(TenantViewSet):
    """The bulk endpoint of one kind of record (`records`, as in its URL)."""

    records = ""
    # Membership at the route; each item is then decided on its record by the service
    # (`crm.services.bulk`), and one refused item refuses the batch.
    record_actions = {"bulk": "edit"}

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        return _SERIALIZERS[self.records]

    def bulk(self, request: Request) -> Response:
        body = request.data
        if not isinstance(body, dict):
            raise InvalidFields(
                {"non_field_errors": ["Give an object with `create`, `update` and `delete`."]}
            )
        errors: dict[str, list[str]] = {}
        unknown = set(body) - {"create", "update", "delete"}
        for key in sorted(unknown):
            errors[key] = ["Unknown part; use `create`, `update` and `delete`."]
        create = _check_list(body, "create", errors)
        update = _check_list(body, "update", errors)
        delete = _check_list(body, "delete", errors)
        if errors:
            raise InvalidFields(errors)
        if len(create) + len(update) + len(delete) > BULK_LIMIT:
            raise InvalidFields(
                {"non_field_errors": [f"Send at most {BULK_LIMIT} items in one request."]}
            )
        if not (create or update or delete):
            raise InvalidFields({"non_field_errors": ["Give at least one item."]})

        ids: list[Any] = [item.get("id") for item in update if isinstance(item, dict)]
        # A record the caller may not view is "Not found.", as a missing one; the others are
        # decided item by item by the service (edit, assign, delete, create).
        principal = authz.principal_for_request(request._request)
        found = records_bulk_get(records=self.records, ids=[*ids, *delete], principal=principal)
        seen: set[int] = set()
        creates = [
            self._validated(f"create.{i}", None, item, errors) for i, item in enumerate(create)
        ]
        updates: list[tuple[models.Model, dict[str, Any]] | None] = []
        for i, item in enumerate(update):
            updates.append(None)
            if not isinstance(item, dict):
                errors[f"update.{i}"] = ["Give an object with the record's `id`."]
                continue
            record = self._record(f"update.{i}.id", item.get("id"), found, seen, errors)
            if record is None:
                continue
            data = self._validated(f"update.{i}", record, item, errors)
            if data is not None:
                updates[i] = (record, data)
        deletes = [
            self._record(f"delete.{i}", pk, found, seen, errors) for i, pk in enumerate(delete)
        ]
        # Items refused here are left out, and the rest still tried by the services, so the
        # answer lists every error of the batch at once; nothing is written if there is one.
        outcome = records_bulk_write(
            records=self.records,
            by=request.user,
            create=creates,
            update=updates,
            delete=deletes,
            refused=errors,
            principal=principal,
        )
        record_serializer = _SERIALIZERS[self.records]
        context = self.get_serializer_context()
        created, updated = self._read_back(outcome.created), self._read_back(outcome.updated)
        return Response(
            {
                "created": record_serializer(created, many=True, context=context).data,
                "updated": record_serializer(updated, many=True, context=context).data,
                "deleted": outcome.deleted,
            }
        )

    def _read_back(self, written: list[models.Model]) -> list[models.Model]:
        """The records as the list endpoint reads them (tags, a deal's contacts), in a fixed
        number of statements, in the order written."""
        if not written:
            return []
        if self.records == "deals":
            qs: Any = deal_list()
        else:
            qs = with_tag_names(WRITERS[self.records].model._default_manager.all())
        by_pk = {r.pk: r for r in qs.filter(pk__in=[w.pk for w in written])}
        return [by_pk[w.pk] for w in written]

    def _record(
        self,
        key: str,
        pk: Any,
        found: dict[int, models.Model],
        seen: set[int],
        errors: dict[str, list[str]],
    ) -> models.Model | None:
        if isinstance(pk, bool) or not isinstance(pk, int):
            errors[key] = ["Give the record's id, an integer."]
            return None
        record = found.get(pk)
        if record is None:
            errors[key] = [NOT_FOUND]
        elif pk in seen:
            errors[key] = ["The record is already changed or deleted earlier in the request."]
            return None
        seen.add(pk)
        return record

    def _validated(
        self,
        key: str,
        record: models.Model | None,
        item: Any,
        errors: dict[str, list[str]],
    ) -> dict[str, Any] | None:
        if not isinstance(item, dict):
            errors[key] = ["Give an object of the record's fields."]
            return None
        data = {k: v for k, v in item.items() if record is None or k != "id"}
        serializer = _SERIALIZERS[self.records](
            record, data=data, partial=record is not None, context=self.get_serializer_context()
        )
        if serializer.is_valid():
            return dict(serializer.validated_data)
        for name, notes in _field_errors(serializer.errors).items():
            errors[f"{key}.{name}"] = notes
        return None


def bulk_view(records: str) -> Any:
    """The view of `POST /api/v1/<records>/bulk/`."""
    one = _SINGULAR[records]
    description = (
        f"Create, update and delete up to {BULK_LIMIT} {records} in one request (`create`, "
        "`update` and `delete` together), all or nothing: each item follows the rules of "
        f"the single-{one} endpoints (required fields, custom fields, tags, owners that are "
        "members, unique e-mail addresses among the items too). If any item is refused, "
        "nothing is written and the 400 problem's `errors` names each by part and index: "
        "`create.3.email`, `update.0.id`, `delete.2` (an id that is missing or another "
        "organization's is `Not found.`). On success the answer lists the records created "
        "and updated, and the ids deleted, in the order sent."
    )

    def bulk(self: BulkViewSet, request: Request) -> Response:
        return BulkViewSet.bulk(self, request)

    # A function of its own per kind of record: the schema is attached to the function.
    documented = extend_schema(
        operation_id=f"{records}_bulk",
        summary=f"Create, update and delete {records} in bulk",
        description=description,
        request=_request_serializer(records),
        responses={
            200: _response_serializer(records),
            **problem_responses(
                400,
                "Some items were refused; nothing was written. `errors` names each by part "
                "and index (`create.3.email`).",
            ),
            **(plan_limit_responses("the batch's contacts") if records == "contacts" else {}),
        },
    )(bulk)
    view: Any = type(
        f"{records.title()}BulkViewSet",
        (BulkViewSet,),
        {"records": records, "record_type": _SINGULAR[records], "bulk": documented},
    )
    return view.as_view({"post": "bulk"})
