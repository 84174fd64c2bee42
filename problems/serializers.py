"""Serializer fields that take the OpenAPI types, and lengths, at their word."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django.db import models
from rest_framework import serializers
from rest_framework.fields import empty

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


class _StringsOnly:
    """Refuses numbers and booleans instead of silently converting them to text."""

    default_error_messages: ClassVar[dict[str, StrOrPromise]] = {
        "not_a_string": "Must be a string."
    }

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")  # type: ignore[attr-defined]
        value: str = super().to_internal_value(data)  # type: ignore[misc]
        return value


class MaxLengthAsSent:
    """Checks `max_length` on the text as sent, before surrounding whitespace is trimmed: the
    schema's `maxLength` is about the JSON string a client sends, so a value longer than it is
    refused even when it would fit once trimmed (4 spaces and 50 digits for a phone of at most
    50). What is stored is still trimmed."""

    def run_validation(self, data: Any = empty) -> Any:
        max_length = getattr(self, "max_length", None)
        if max_length is not None and isinstance(data, str) and len(data) > max_length:
            self.fail("max_length", max_length=max_length)  # type: ignore[attr-defined]
        return super().run_validation(data)  # type: ignore[misc]


class StrictCharField(MaxLengthAsSent, _StringsOnly, serializers.CharField):
    pass


class StrictEmailField(MaxLengthAsSent, _StringsOnly, serializers.EmailField):
    pass


class StrictModelSerializer(serializers.ModelSerializer):
    """ModelSerializer whose text fields accept only JSON strings."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.EmailField: StrictEmailField,
    }
