"""Billing's part in other packages' events: a trial for each new organization, the limits
gate iam asks, and how members and API tokens are counted."""

from typing import Any

from django.utils import timezone

from iam import limits
from iam.models import ApiToken, Invitation, Membership
from tenants.models import Tenant
from tenants.signals import tenant_provisioned

from . import entitlements
from .services import subscriptions


def _trial(sender: Any, *, tenant: Tenant, **kwargs: Any) -> None:
    subscriptions.trial_start(tenant=tenant)


tenant_provisioned.connect(_trial, dispatch_uid="billing.trial_start")
limits.install(entitlements.require_capacity)


@entitlements.register_counter("seats")
def _seats(tenant: Tenant, cap: int | None) -> int:
    """Members, and the invitations still open (each will take a seat when accepted)."""
    members = Membership.objects.filter(tenant=tenant).count()
    pending = Invitation.objects.filter(
        tenant=tenant,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).count()
    return members + pending


@entitlements.register_counter("api_tokens")
def _api_tokens(tenant: Tenant, cap: int | None) -> int:
    return ApiToken.objects.filter(tenant=tenant, revoked_at__isnull=True).count()
