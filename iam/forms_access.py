"""Forms of the access settings pages: the permission matrix of a custom role, teams and
policies. They only parse what is posted; the services validate and decide."""

from typing import Any

from django import forms

from .authz import catalog
from .models import CustomRole

NONE = "none"
_SCOPE_CHOICES = [(NONE, "None"), ("own", "Own"), ("team", "Team"), ("all", "All")]
_TYPE_LEVEL_CHOICES = [(NONE, "None"), ("all", "All")]


def matrix_field_name(permission: str) -> str:
    """The form field of one permission: `deal.view` → `p_deal_view`."""
    return "p_" + permission.replace(".", "_")


class RoleForm(forms.Form):
    """A custom role: name, description, one select per record type and action, one
    checkbox per admin right."""

    name = forms.CharField(label="Name", max_length=60)
    description = forms.CharField(label="Description", max_length=200, required=False)

    def __init__(self, *args: Any, role: CustomRole | None = None, **kwargs: Any) -> None:
        held = catalog.grants_clean(role.permissions) if role is not None else {}
        if role is not None:
            kwargs.setdefault("initial", {"name": role.name, "description": role.description})
        super().__init__(*args, **kwargs)
        for record_type in catalog.RECORD_TYPES:
            for action, label in catalog.RECORD_ACTIONS:
                permission = catalog.record_permission(record_type.key, action)
                choices = (
                    _TYPE_LEVEL_CHOICES if action in catalog.TYPE_LEVEL_ACTIONS else _SCOPE_CHOICES
                )
                self.fields[matrix_field_name(permission)] = forms.ChoiceField(
                    label=f"{label} {record_type.label.lower()}",
                    choices=choices,
                    initial=str(held.get(permission, NONE)),
                    required=False,
                )
        for right, label in catalog.ADMIN_RIGHTS:
            permission = catalog.admin_permission(right)
            self.fields[matrix_field_name(permission)] = forms.BooleanField(
                label=label, required=False, initial=permission in held
            )

    def permissions(self) -> dict[str, str]:
        """The matrix as the service takes it: permission → scope ("none" for nothing)."""
        chosen: dict[str, str] = {}
        for permission in sorted(catalog.ALL_PERMISSIONS):
            value = self.cleaned_data.get(matrix_field_name(permission))
            if permission.startswith("admin."):
                if value:
                    chosen[permission] = "all"
            elif value and value != NONE:
                chosen[permission] = str(value)
        return chosen

    def matrix_rows(self) -> list[tuple[catalog.RecordType, list[tuple[str, forms.BoundField]]]]:
        """Per record type, each action's label and its select."""
        return [
            (
                t,
                [
                    (label, self[matrix_field_name(catalog.record_permission(t.key, a))])
                    for a, label in catalog.RECORD_ACTIONS
                ],
            )
            for t in catalog.RECORD_TYPES
        ]

    def admin_fields(self) -> list[forms.BoundField]:
        return [
            self[matrix_field_name(catalog.admin_permission(r))] for r, _ in catalog.ADMIN_RIGHTS
        ]

    def field_for_error(self, key: str) -> str | None:
        """The form field an error of the service names (`permissions.deal.view`)."""
        if key.startswith("permissions."):
            name = matrix_field_name(key.removeprefix("permissions."))
            return name if name in self.fields else None
        return key if key in self.fields else None


class TeamForm(forms.Form):
    name = forms.CharField(label="Team name", max_length=100)
    manager = forms.TypedChoiceField(label="Manager", required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, members: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["manager"].choices = [("", "No manager"), *members]  # type: ignore[attr-defined]


class PolicyForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100)
    description = forms.CharField(label="Description", max_length=300, required=False)
    source = forms.CharField(
        label="Cedar policy",
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false", "class": "font-mono"}),
        max_length=20_000,
        help_text="One or more <code>permit</code> or <code>forbid</code> statements. "
        "It is checked against the reference below before it is saved.",
    )
