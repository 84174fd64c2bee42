"""The operator admin's "Act as a member" form; the service checks what the form can't."""

from django import forms

from iam.models import Membership
from tenants.models import Tenant

from .services import REASON_MAX_LENGTH


class ImpersonationStartForm(forms.Form):
    member = forms.TypedChoiceField(label="Member", coerce=int)
    reason = forms.CharField(
        label="Reason",
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=(
            "The organization's owners and admins read it in their audit log, with your name. "
            "For example the support ticket and what you need to see."
        ),
    )

    def __init__(self, *args: object, tenant: Tenant, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        members = (
            Membership.objects.filter(tenant=tenant, deactivated_at=None, user__is_active=True)
            .select_related("user")
            .order_by("user__email")
        )
        self.fields["member"].choices = [  # type: ignore[attr-defined]
            ("", "Choose a member"),
            *((m.user_id, f"{m.user.email} ({m.get_role_display()})") for m in members),
        ]
