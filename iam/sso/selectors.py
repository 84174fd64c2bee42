"""Reads of single sign-on."""

from django.db.models import QuerySet

from tenants.models import Tenant

from .models import SsoConnection, SsoDomain


def domain_list(*, tenant: Tenant) -> QuerySet[SsoDomain]:
    return SsoDomain.objects.filter(tenant=tenant)


def connection_list(*, tenant: Tenant, enabled_only: bool = False) -> QuerySet[SsoConnection]:
    connections = SsoConnection.objects.filter(tenant=tenant)
    return connections.filter(is_enabled=True) if enabled_only else connections


def connection_for_email(*, tenant: Tenant, email: str) -> SsoConnection | None:
    """The switched-on connection that signs in an address of a domain this organization
    verified (the first by name when there are several), or None."""
    _, _, domain = email.strip().lower().rpartition("@")
    verified = SsoDomain.objects.filter(
        tenant=tenant, domain__iexact=domain, verified_at__isnull=False
    ).exists()
    if not domain or not verified:
        return None
    return SsoConnection.objects.filter(tenant=tenant, is_enabled=True).first()
