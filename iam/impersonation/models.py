"""One operator's stay in an organization as one of its members (public schema)."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Impersonation(models.Model):
    """Asked for in the operator admin with a reason; entered once by the operator's browser
    on the organization's host; over at `expires_at` at the latest. The organization's audit
    log has its start and its end; this row is what the requests in between are checked
    against, so ending it here ends it everywhere."""

    class EndReason(models.TextChoices):
        ENDED = "ended", "ended by the operator"
        EXPIRED = "expired", "time limit reached"
        SIGNED_OUT = "signed_out", "signed out"
        REFUSED = "refused", "operator access switched off"

    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="impersonations"
    )
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="impersonations_made"
    )
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="impersonations_of"
    )
    reason = models.TextField()
    started_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    entered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=16, choices=EndReason.choices, blank=True)

    class Meta:
        default_permissions = ("view",)
        permissions = [("impersonate_member", "Can act as a member of an organization")]
        indexes = [
            # The periodic sweep of the ones still open.
            models.Index(
                fields=["expires_at"],
                condition=models.Q(ended_at__isnull=True),
                name="impersonation_open_idx",
            )
        ]

    def __str__(self) -> str:
        return f"operator {self.operator_id} as {self.member_id} in {self.tenant_id}"

    @property
    def is_open(self) -> bool:
        return self.ended_at is None and timezone.now() < self.expires_at
