"""Domain errors shown on Django forms, as the API shows them in problem+json `errors`."""

from django import forms

from .exceptions import DomainError


def add_field_errors(form: forms.Form, exc: DomainError) -> bool:
    """Put each of the error's field errors next to its field (above the form when the form
    has no such field). Returns False when the error names no field, for the caller to show
    its `detail` where it fits."""
    found = exc.field_errors()
    for field, notes in found.items():
        for note in notes:
            form.add_error(field if field in form.fields else None, note)
    return bool(found)
