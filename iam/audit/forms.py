"""The audit page's search and its retention setting."""

from typing import Any

from django import forms

from .selectors import AuditFilters, day_bounds

RETENTION_MIN_DAYS, RETENTION_MAX_DAYS = 30, 3650


class AuditSearchForm(forms.Form):
    person = forms.CharField(
        label="Person", required=False, max_length=254, help_text="E-mail address or part of it."
    )
    action = forms.CharField(
        label="Action",
        required=False,
        max_length=64,
        help_text='A code such as "member.role_changed"; "member." finds them all.',
    )
    record_type = forms.CharField(label="Record type", required=False, max_length=32)
    record_id = forms.CharField(label="Record id", required=False, max_length=64)
    since = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "Choose a day on or after the first one.")
        return data

    def filters(self, *, time_zone: str) -> AuditFilters:
        """The search as selector filters; days run midnight to midnight in `time_zone`."""
        data = self.cleaned_data if self.is_valid() else {}
        since, until = day_bounds(data.get("since"), data.get("until"), time_zone=time_zone)
        return AuditFilters(
            person=data.get("person", ""),
            action=data.get("action", ""),
            record_type=data.get("record_type", ""),
            record_id=data.get("record_id", ""),
            since=since,
            until=until,
        )


class AuditRetentionForm(forms.Form):
    audit_retention_days = forms.IntegerField(
        label="Keep the audit log for (days)",
        min_value=RETENTION_MIN_DAYS,
        max_value=RETENTION_MAX_DAYS,
        help_text="Older entries are deleted every night; the chain of what remains still "
        "verifies.",
    )
