"""The organization's Security settings form; ranges are the service's to check."""

from django import forms


class SecuritySettingsForm(forms.Form):
    mfa_required = forms.BooleanField(
        label="Require two-step verification of every member",
        required=False,
        help_text=(
            "Members without an authenticator app or a security key are asked to set one up "
            "before they can open anything else here. API tokens keep working."
        ),
    )
    session_idle_minutes = forms.IntegerField(
        label="Sign out after this many minutes without activity",
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    session_max_hours = forms.IntegerField(
        label="Sign out this many hours after signing in, however active",
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
