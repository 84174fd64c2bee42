from zoneinfo import available_timezones

from django import forms

from .models import Role


class InvitationForm(forms.Form):
    email = forms.EmailField(label="E-mail address")
    role = forms.ChoiceField(
        choices=[(Role.MEMBER, "Member"), (Role.ADMIN, "Admin")],
        initial=Role.MEMBER,
        help_text="Admins also manage members, custom fields and the organization's admin.",
    )


def _time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in sorted(available_timezones())]


class OrganizationForm(forms.Form):
    name = forms.CharField(label="Organization name", max_length=200)
    time_zone = forms.ChoiceField(
        label="Time zone",
        choices=_time_zone_choices,
        help_text="Days are counted in it (tasks due today, this month's deals) and times "
        "are shown in it, for every member.",
    )
