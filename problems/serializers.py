"""Serializer fields that take the OpenAPI types at their word."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django.db import models
from rest_framework import serializers

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


class StrictCharField(_StringsOnly, serializers.CharField):
    pass


class StrictEmailField(_StringsOnly, serializers.EmailField):
    pass


class StrictModelSerializer(serializers.ModelSerializer):
    """ModelSerializer whose text fields accept only JSON strings."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.EmailField: StrictEmailField,
    }
