"""Forms of the single sign-on settings and sign-in pages."""

import json
from typing import Any

from django import forms

from iam.models import CustomRole, Role
from tenants.models import Tenant

from .models import SsoConnection
from .services import SSO_ROLES

MAX_UPLOAD_BYTES = 1_000_000


class DomainForm(forms.Form):
    domain = forms.CharField(
        label="E-mail domain", max_length=253, help_text="For example example.com."
    )


class EmailFirstForm(forms.Form):
    email = forms.EmailField(label="Work e-mail address")


class ConnectionForm(forms.Form):
    name = forms.CharField(max_length=100)
    protocol = forms.ChoiceField(choices=SsoConnection.Protocol.choices)
    oidc_issuer = forms.URLField(
        assume_scheme="https",
        label="Issuer URL",
        required=False,
        max_length=500,
        help_text="The provider's issuer, or the URL of its discovery document.",
    )
    oidc_metadata = forms.CharField(
        label="Discovery document (JSON)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Instead of the URL: paste the provider's openid-configuration.",
    )
    oidc_client_id = forms.CharField(label="Client id", required=False, max_length=255)
    oidc_client_secret = forms.CharField(
        label="Client secret",
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored encrypted; leave empty to keep the one saved.",
    )
    saml_metadata_url = forms.URLField(
        assume_scheme="https",
        label="Identity provider metadata URL",
        required=False,
        max_length=500,
    )
    saml_metadata_file = forms.FileField(label="Or the metadata file (XML)", required=False)
    jit_enabled = forms.BooleanField(
        label="Create members just in time at their first sign-in", required=False
    )
    default_role = forms.ChoiceField(
        label="Role of new members",
        choices=[(r.value, r.label) for r in Role if r.value in SSO_ROLES],
        initial=Role.MEMBER,
    )
    default_custom_role = forms.ModelChoiceField(
        label="And the custom role", queryset=CustomRole.objects.none(), required=False
    )
    group_mappings = forms.CharField(
        label="Group mappings",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "Sales = manager, Sales team"}),
        help_text="One a line: <code>group = role</code> or <code>group = role, team</code>. "
        "The role is admin, manager, member, billing, read_only or a custom role's name. "
        "At each sign-in, roles and teams from groups replace the ones groups gave before.",
    )

    def __init__(self, *args: Any, tenant: Tenant, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["default_custom_role"].queryset = CustomRole.objects.filter(  # type: ignore[attr-defined]
            tenant=tenant
        )

    def clean_oidc_metadata(self) -> dict[str, Any] | None:
        text = self.cleaned_data.get("oidc_metadata", "").strip()
        if not text:
            return None
        try:
            value = json.loads(text)
        except ValueError:
            raise forms.ValidationError("This is not valid JSON.") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("Paste the JSON object of the discovery document.")
        return value

    def clean_saml_metadata_file(self) -> str:
        upload = self.cleaned_data.get("saml_metadata_file")
        if not upload:
            return ""
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError("The file is too large.")
        try:
            return str(upload.read().decode("utf-8"))
        except UnicodeDecodeError:
            raise forms.ValidationError("The file is not UTF-8 XML.") from None
