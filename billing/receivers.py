"""Billing's part in other packages' events: a trial for each new organization, the limits
gate iam asks, and how members and API tokens are counted."""

from typing import Any

from django.db.models.functions import Lower
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from iam import limits
from iam.models import ApiToken, Invitation, Membership
from tenants.models import Tenant
from tenants.signals import tenant_deleting, tenant_provisioned

from . import entitlements
from .models import Plan, Subscription, SubscriptionChange
from .services import seats, subscriptions


def _trial(sender: Any, *, tenant: Tenant, **kwargs: Any) -> None:
    subscriptions.trial_start(tenant=tenant)


tenant_provisioned.connect(_trial, dispatch_uid="billing.trial_start")
limits.install(entitlements.require_capacity)


@entitlements.register_counter("seats")
def _seats(tenant: Tenant, cap: int | None) -> int:
    """Members, and the invitations still open to people who are not members yet (each
    will take a seat when accepted). A member the organization has switched off (SCIM
    `active: false`) holds no seat until switched back on."""
    memberships = Membership.objects.filter(tenant=tenant)
    member_emails = memberships.annotate(address=Lower("user__email")).values("address")
    pending = (
        Invitation.objects.filter(
            tenant=tenant,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .annotate(address=Lower("email"))
        .exclude(address__in=member_emails)
        .count()
    )
    return memberships.filter(deactivated_at=None).count() + pending


@entitlements.register_counter("api_tokens")
def _api_tokens(tenant: Tenant, cap: int | None) -> int:
    return ApiToken.objects.filter(tenant=tenant, revoked_at__isnull=True).count()


def _membership_changed(sender: Any, instance: Membership, **kwargs: Any) -> None:
    """A member joined, left, or was switched off or on: the seats billed follow, in the
    background (coalesced).

    Not for the owner of an organization being provisioned: its trial, started next, counts
    that first seat itself.
    """
    switched = "deactivated_at" in (kwargs.get("update_fields") or ())
    if not kwargs.get("created", True) and not switched:  # a role change takes no seat
        return
    if Subscription.objects.filter(organization_id=instance.tenant_id).exists():
        seats.seats_sync_queue(organization_id=instance.tenant_id)


post_save.connect(_membership_changed, sender=Membership, dispatch_uid="billing.seats_on_join")
post_delete.connect(_membership_changed, sender=Membership, dispatch_uid="billing.seats_on_leave")


def _subscribed(sender: Any, instance: SubscriptionChange, created: bool, **kwargs: Any) -> None:
    """A first paid subscription bills the seats its checkout named; people who joined
    while the buyer was paying are brought in by a seat sync (a no-op when none did)."""
    if created and instance.kind == SubscriptionChange.Kind.SUBSCRIBED:
        seats.seats_sync_queue(organization_id=instance.organization_id)


post_save.connect(_subscribed, sender=SubscriptionChange, dispatch_uid="billing.seats_on_subscribe")


def _custom_plans_go(sender: Any, *, tenant: Tenant, **kwargs: Any) -> None:
    """Delete the organization's billing rows, then the custom plans only they referred to.

    The plan references are RESTRICT (a plan in use cannot go); removing the organization's
    own rows first lets its custom plans go with it in the same transaction.
    """
    SubscriptionChange.objects.filter(organization=tenant).delete()
    Subscription.objects.filter(organization=tenant).delete()
    Plan.objects.filter(organization=tenant).delete()


tenant_deleting.connect(_custom_plans_go, dispatch_uid="billing.custom_plans_go")
