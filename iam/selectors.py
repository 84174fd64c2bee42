"""Reads of identity and access."""

from django.db.models import QuerySet

from tenants.models import Tenant

from .models import ApiToken, Membership, User


def membership_get(*, user: User, tenant: Tenant) -> Membership | None:
    return Membership.objects.filter(user=user, tenant=tenant).first()


def membership_list_for_user(*, user: User) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(user=user, tenant__status=Tenant.Status.ACTIVE)
        .select_related("tenant")
        .order_by("tenant__name")
    )


def api_token_list(*, user: User, tenant: Tenant) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user, tenant=tenant, revoked_at__isnull=True)
