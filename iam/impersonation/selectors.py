"""Reading operator impersonations of one organization."""

from tenants.models import Tenant

from .models import Impersonation

RECENT = 5


def impersonation_list_recent(*, tenant: Tenant, limit: int = RECENT) -> list[Impersonation]:
    """The organization's latest impersonations, newest first, with who and for whom."""
    rows = (
        Impersonation.objects.filter(tenant=tenant)
        .select_related("operator", "member")
        .order_by("-started_at")
    )
    return list(rows[:limit])
