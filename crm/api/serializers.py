from typing import Any

from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from crm import selectors
from crm.models import Company, Contact, CustomField
from crm.services import CONTACT_FIELDS, CUSTOM_KEY_PATTERN, entity_of
from iam import authz
from problems.serializers import MaxLengthAsSent, StrictCharField, StrictModelSerializer

from .scoring import ScoreReasonSerializer
from .tags import TagsField


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {},
        "description": (
            "Custom field values by key (see /api/v1/custom-fields/). Reads list every "
            "field, null where the record has no value. Writes change only the keys given; "
            "null or an empty string removes a value. Unknown keys and values of the wrong "
            "type are errors (`custom.<key>`)."
        ),
    }
)
class CustomValuesField(serializers.Field):
    """A record's custom field values by key, sensitive ones decrypted for the member."""

    default_error_messages = {"not_an_object": "Give an object of values by custom field key."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(source="*", required=False, **kwargs)
        self._definitions: list[CustomField] | None = None

    def to_representation(self, value: Contact | Company) -> dict[str, Any]:
        if self._definitions is None:  # once per response, not once per record
            self._definitions = list(selectors.custom_field_definitions(entity_of(value)))
        return selectors.custom_values_of(value, self._definitions)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.fail("not_an_object")
        return {"custom": data}


_OWNER_HELP = (
    "The member responsible for the record (a user id; null: nobody); the creator when left "
    "out. Must be a member of the organization."
)


class CompanySerializer(StrictModelSerializer):
    custom = CustomValuesField()
    tags = TagsField()
    owner_id = serializers.IntegerField(
        allow_null=True, required=False, min_value=1, max_value=2**63 - 1, help_text=_OWNER_HELP
    )

    class Meta:
        model = Company
        fields = (
            "id",
            "name",
            "domain",
            "phone",
            "custom",
            "tags",
            "owner_id",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("id", "created_at", "updated_at")


class VisibleCompanyField(serializers.PrimaryKeyRelatedField):
    """A company the caller may view (or the one the contact already has): another is an
    unknown id, as one of another organization is."""

    def get_queryset(self) -> Any:
        companies = Company.objects.all()
        request = self.context.get("request")
        if request is None:
            return companies
        principal = authz.principal_for_request(request._request)
        visible = authz.visible(companies, principal, "company")
        current = getattr(getattr(self.parent, "instance", None), "company_id", None)
        return visible | companies.filter(pk=current) if current else visible


class ContactSerializer(StrictModelSerializer):
    company = VisibleCompanyField(queryset=Company.objects.all(), allow_null=True, required=False)
    custom = CustomValuesField()
    tags = TagsField()
    owner_id = serializers.IntegerField(
        allow_null=True, required=False, min_value=1, max_value=2**63 - 1, help_text=_OWNER_HELP
    )
    score_reasons = serializers.SerializerMethodField(
        help_text="Each factor and its points (`factor`, `points`, `kind`); they sum to `score`."
    )

    @extend_schema_field(ScoreReasonSerializer(many=True))
    def get_score_reasons(self, contact: Contact) -> list[dict[str, Any]]:
        return list(contact.score_reasons)

    class Meta:
        model = Contact
        fields = (
            "id",
            *CONTACT_FIELDS,
            "custom",
            "tags",
            "owner_id",
            "score",
            "score_reasons",
            "scored_at",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("id", "score", "scored_at", "created_at", "updated_at")
        extra_kwargs = {
            "score": {"help_text": "0 to 100, from the organization's scoring rules."},
            "scored_at": {"help_text": "When the score last changed (null: not scored yet)."},
        }


class StrictBooleanField(serializers.BooleanField):
    """Only JSON true and false, not the strings and numbers DRF would read as booleans."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictRegexField(MaxLengthAsSent, serializers.RegexField):
    """Only JSON strings, not numbers DRF would turn into text; no longer than sent."""

    default_error_messages = {
        **serializers.RegexField.default_error_messages,
        "not_a_string": "Must be a string.",
    }

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        value: str = super().to_internal_value(data)
        return value


class StrictIntegerField(serializers.IntegerField):
    """Only JSON integers, not numeric strings or booleans."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class CustomFieldSerializer(StrictModelSerializer):
    """A custom field of contacts or companies; its values are in their `custom`."""

    serializer_field_mapping = {
        **StrictModelSerializer.serializer_field_mapping,
        models.BooleanField: StrictBooleanField,
        models.PositiveSmallIntegerField: StrictIntegerField,
    }

    key: serializers.CharField = StrictRegexField(
        CUSTOM_KEY_PATTERN,
        max_length=50,
        required=False,
        help_text=(
            "Name of the value in `custom`: lowercase letters, digits and underscores. Made "
            "from the label when left out; fixed once created."
        ),
    )
    # A serializer is a field with a `label` of its own; the metaclass takes this one away.
    label = StrictRegexField(r"\S", max_length=100, help_text="Name shown to people.")  # type: ignore[assignment]
    options = serializers.ListField(
        child=StrictCharField(max_length=100),
        max_length=100,
        required=False,
        help_text="The choices of a `choice` field (required for it); empty for other types.",
    )

    class Meta:
        model = CustomField
        fields = (
            "id",
            "entity",
            "key",
            "label",
            "type",
            "options",
            "sensitive",
            "required",
            "position",
            "created_at",
            "updated_at",
        )
        read_only_fields: tuple[str, ...] = ("id", "created_at", "updated_at")
        # A taken key is the service's 409, and a key left out is made from the label.
        validators: list[Any] = []
        extra_kwargs = {
            "sensitive": {
                "help_text": (
                    "Values are stored encrypted. Changing it re-encrypts or decrypts the "
                    "values already stored."
                )
            },
            "required": {"help_text": "New records must have a value; it can't be removed."},
            "position": {"help_text": "Order in forms and pages, smallest first."},
        }


class CustomFieldUpdateSerializer(CustomFieldSerializer):
    """Entity, key and type are fixed once a field exists (values depend on them)."""

    key = serializers.CharField(read_only=True)

    class Meta(CustomFieldSerializer.Meta):
        read_only_fields = ("id", "entity", "type", "created_at", "updated_at")
