"""Reads of identity and access."""

from collections.abc import Iterable

from django.db.models import Case, QuerySet, Value, When
from django.utils import timezone

from tenants.models import Tenant

from .models import ApiToken, Invitation, Membership, Role, User
from .org.models import AuditEvent


def membership_get(*, user: User, tenant: Tenant) -> Membership | None:
    """The user's membership of the organization, unless the identity provider has it
    switched off (a deactivated membership opens nothing)."""
    return Membership.objects.filter(user=user, tenant=tenant, deactivated_at=None).first()


def membership_list_for_user(*, user: User) -> QuerySet[Membership]:
    """The organizations the user can enter: active ones, where they are not switched off."""
    return (
        Membership.objects.filter(
            user=user, tenant__status=Tenant.Status.ACTIVE, deactivated_at=None
        )
        .select_related("tenant")
        .order_by("tenant__name")
    )


def api_token_list(*, user: User, tenant: Tenant) -> QuerySet[ApiToken]:
    """The user's personal tokens at the organization, not revoked (expired ones too, so
    the page can say they expired)."""
    return ApiToken.objects.filter(user=user, tenant=tenant, revoked_at__isnull=True)


def service_token_list(*, tenant: Tenant) -> QuerySet[ApiToken]:
    """The organization's service tokens, not revoked (expired ones too)."""
    return ApiToken.objects.filter(
        tenant=tenant, user=None, revoked_at__isnull=True
    ).select_related("created_by", "service_account")


def member_list(*, tenant: Tenant) -> QuerySet[Membership]:
    """The organization's members, owners first."""
    rank = Case(
        When(role=Role.OWNER, then=Value(0)), When(role=Role.ADMIN, then=Value(1)), default=2
    )
    return (
        Membership.objects.filter(tenant=tenant)
        .select_related("user")
        .order_by(rank, "user__email")
    )


def invitation_list_open(*, tenant: Tenant) -> QuerySet[Invitation]:
    """Invitations of the organization still waiting to be accepted."""
    return Invitation.objects.filter(
        tenant=tenant, accepted_at=None, revoked_at=None, expires_at__gt=timezone.now()
    ).select_related("invited_by")


def member_switch_offs(*, user_ids: Iterable[int]) -> dict[int, AuditEvent]:
    """For each of these users, the latest row of the connection's organization's audit log
    that switched their membership off (who or what did it, and through what), if the log
    still holds one; in one statement."""
    ids = [str(pk) for pk in user_ids]
    if not ids:
        return {}
    events = (
        AuditEvent.objects.filter(action="member.deactivated", target_id__in=ids)
        .order_by("target_id", "-seq")
        .distinct("target_id")
    )
    return {int(event.target_id): event for event in events}
