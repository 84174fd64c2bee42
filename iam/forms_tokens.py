"""The form of a new API token (personal or service): a name, an expiry, and a scope picker
with one level per record type (none, read, read and write) and an admin box. It only
parses what is posted; `iam.tokens` validates and decides."""

from typing import Any

from django import forms
from django.http import QueryDict

from .authz.catalog import RECORD_TYPES
from .token_scopes import READ, WRITE, scopes_from_levels
from .tokens import DEFAULT_EXPIRY_DAYS, EXPIRY_CHOICES

NONE = "none"
LEVEL_CHOICES = [(NONE, "No access"), (READ, "Read"), (WRITE, "Read and write")]
# What the picker starts from, and what a post that leaves a field out gets.
DEFAULT_LEVEL = WRITE
DEFAULT_EXPIRY = str(DEFAULT_EXPIRY_DAYS)


def level_field_name(record_type: str) -> str:
    return f"scope_{record_type}"


def with_defaults(data: QueryDict, *, prefix: str = "") -> QueryDict:
    """Posted data with the picker's defaults for the fields it leaves out (a form from an
    older page, or a script that only names its token); `prefix` is the form's."""
    named = f"{prefix}-" if prefix else ""
    filled = data.copy()
    for t in RECORD_TYPES:
        filled.setdefault(named + level_field_name(t.key), DEFAULT_LEVEL)
    filled.setdefault(named + "expires", DEFAULT_EXPIRY)
    return filled


class TokenForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=100,
        error_messages={"required": "Give the token a name, such as the script that will use it."},
    )
    expires = forms.ChoiceField(label="Expires", choices=EXPIRY_CHOICES, initial=DEFAULT_EXPIRY)
    admin = forms.BooleanField(label="Admin rights", required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for t in RECORD_TYPES:
            self.fields[level_field_name(t.key)] = forms.ChoiceField(
                label=t.label, choices=LEVEL_CHOICES, initial=DEFAULT_LEVEL
            )

    def clean_name(self) -> str:
        name = str(self.cleaned_data.get("name") or "").strip()
        if not name:
            raise forms.ValidationError(
                "Give the token a name, such as the script that will use it."
            )
        return name

    def level_fields(self) -> list[forms.BoundField]:
        return [self[level_field_name(t.key)] for t in RECORD_TYPES]

    def scopes(self) -> list[str]:
        levels = {
            t.key: str(self.cleaned_data.get(level_field_name(t.key)) or "") for t in RECORD_TYPES
        }
        return scopes_from_levels(levels, admin=bool(self.cleaned_data.get("admin")))
