from django import forms

from .models import Role


class InvitationForm(forms.Form):
    email = forms.EmailField(label="E-mail address")
    role = forms.ChoiceField(
        choices=[(Role.MEMBER, "Member"), (Role.ADMIN, "Admin")],
        initial=Role.MEMBER,
        help_text="Admins also manage members, custom fields and the organization's admin.",
    )
