"""The SCIM settings page's form of the role new SCIM members get."""

from typing import Any

from django import forms

from iam.models import CustomRole, Role
from tenants.models import Tenant

from .services import DEFAULT_ROLES

# The roles only an owner chooses for new members (see services.scim_defaults_set).
_OWNERS_ONLY = frozenset({Role.ADMIN, Role.BILLING})


class ScimDefaultsForm(forms.Form):
    """The built-in role, and optionally a custom role, of the members SCIM creates. The
    roles offered are those this viewer may choose; the service checks again."""

    default_role = forms.ChoiceField(label="Role of new members", initial=Role.MEMBER)
    default_custom_role = forms.ModelChoiceField(
        label="And the custom role",
        queryset=CustomRole.objects.none(),
        required=False,
        help_text="Rights added to the role above. Roles that grant admin rights you don't "
        "hold can't be chosen.",
    )

    def __init__(self, *args: Any, tenant: Tenant, is_owner: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["default_role"].choices = [  # type: ignore[attr-defined]
            (role, Role(role).label)
            for role in DEFAULT_ROLES
            if is_owner or role not in _OWNERS_ONLY
        ]
        self.fields["default_custom_role"].queryset = CustomRole.objects.filter(  # type: ignore[attr-defined]
            tenant=tenant
        )
