"""Every write to tenants: provisioning, suspension, deletion."""

import time
from typing import Any, Literal
from zoneinfo import available_timezones

import structlog
from django.conf import settings
from django.db import IntegrityError, ProgrammingError, connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.expressions import RawSQL
from django_tenants.utils import schema_context

from problems.exceptions import InvalidFields

from . import pool, snapshot
from .exceptions import SlugTaken, TenantNotFound
from .models import Domain, Tenant
from .routing import forget_host, tenant_host
from .signals import tenant_deleting, tenant_provisioned
from .slugs import normalize_slug, schema_name_for, validate_slug
from .tasks import spare_schemas_refill_queue

log = structlog.get_logger(__name__)

SchemaMethod = Literal["snapshot", "migrations"]


def slug_is_available(slug: str) -> bool:
    """True when the slug is valid, not reserved and not in use (checked again on create)."""
    slug = validate_slug(normalize_slug(slug))
    return not Tenant.objects.filter(slug=slug).exists()


def provision_tenant(
    *, slug: str, name: str, owner: Any, method: SchemaMethod = "snapshot"
) -> Tenant:
    """Create an organization: schema, tenant row, domain and starter data, all or nothing.

    Validation happens first; then one transaction creates the rows and the schema (by
    renaming a spare from the warm pool, else by replaying the snapshot; or by migrations as
    the fallback), and lets receivers of `tenant_provisioned` add the owner membership and
    default pipeline. Any failure rolls everything back (a claimed spare returns to the
    pool), so a retry with the same slug succeeds.
    """
    slug = validate_slug(normalize_slug(slug))
    name = name.strip() or slug
    schema = schema_name_for(slug)
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    started = time.perf_counter()
    made_by: str = method
    if method == "snapshot":
        # Built outside the transaction so a first-ever build is committed and shared.
        snapshot.snapshot_ddl()
    try:
        with transaction.atomic():
            # One INSERT: TenantMixin.save would first look for a schema name differing only
            # in case; ours come from lower-cased slugs, and the unique constraints on slug and
            # schema_name (IntegrityError -> SlugTaken below) are the real check.
            [tenant] = Tenant.objects.bulk_create(
                [Tenant(schema_name=schema, slug=slug, name=name)]
            )
            # One INSERT: DomainMixin.save would first demote the tenant's other primary
            # domains, and a tenant created a statement ago has none.
            Domain.objects.bulk_create(
                [Domain(domain=tenant_host(slug), tenant=tenant, is_primary=True)]
            )
            if method == "migrations":
                snapshot.create_schema_by_migrations(schema)
            elif pool.spare_schema_claim(schema):
                made_by = "pool"
            else:
                snapshot.create_schema_from_snapshot(schema)
            if method == "snapshot" and pool.pool_is_enabled():
                # Top the pool up again once this is committed; a broker outage must not
                # turn a committed sign-up into an error, hence robust.
                transaction.on_commit(spare_schemas_refill_queue, robust=True)
            with schema_context(schema):
                tenant_provisioned.send(
                    sender=Tenant, tenant=tenant, owner=owner, from_spare=made_by == "pool"
                )
    except IntegrityError as exc:
        raise SlugTaken(field="slug") from exc
    except ProgrammingError as exc:
        if "already exists" in str(exc):
            raise SlugTaken(field="slug") from exc
        raise
    log.info(
        "tenant.provisioned",
        tenant=slug,
        method=made_by,
        ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return tenant


def tenant_get(slug: str) -> Tenant:
    try:
        return Tenant.objects.get(slug=normalize_slug(slug))
    except Tenant.DoesNotExist as exc:
        raise TenantNotFound(f"No organization with subdomain {slug!r}.") from exc


def tenant_suspend(*, tenant: Tenant) -> Tenant:
    """Suspend the organization: its pages and API answer 423 until it is restored."""
    tenant.status = Tenant.Status.SUSPENDED
    tenant.save(update_fields=["status"])
    _forget_domains(tenant)
    log.info("tenant.suspended", tenant=tenant.slug)
    return tenant


def tenant_restore(*, tenant: Tenant) -> Tenant:
    tenant.status = Tenant.Status.ACTIVE
    tenant.save(update_fields=["status"])
    _forget_domains(tenant)
    log.info("tenant.restored", tenant=tenant.slug)
    return tenant


def tenant_rename(*, tenant: Tenant, name: str) -> Tenant:
    """Change the organization's display name; every process's cached row follows."""
    tenant.name = name
    tenant.save(update_fields=["name"])
    _forget_domains(tenant)
    log.info("tenant.renamed", tenant=tenant.slug)
    return tenant


def time_zone_clean(value: str) -> str:
    """An IANA time zone name as zoneinfo knows it, or a field error."""
    name = value.strip()
    if name not in available_timezones():
        raise InvalidFields(
            {"time_zone": [f"{value!r} is not a time zone; pick one from the list."]}
        )
    return name


def tenant_profile_update(*, tenant: Tenant, name: str, time_zone: str) -> Tenant:
    """Change the organization's display name and time zone; every process's cached row
    follows (the host cache holds the whole row, and requests take the time zone from it)."""
    errors: dict[str, list[str]] = {}
    clean_name = " ".join(name.split())
    if not clean_name:
        errors["name"] = ["Give the organization a name."]
    elif len(clean_name) > Tenant._meta.get_field("name").max_length:
        errors["name"] = ["Use at most 200 characters."]
    try:
        clean_zone = time_zone_clean(time_zone)
    except InvalidFields as exc:
        errors.update(exc.errors)
    if errors:
        raise InvalidFields(errors)
    tenant.name, tenant.time_zone = clean_name, clean_zone
    tenant.save(update_fields=["name", "time_zone"])
    _forget_domains(tenant)
    log.info("tenant.profile_updated", tenant=tenant.slug, time_zone=clean_zone)
    return tenant


def tenant_hosts_changed(*, tenant: Tenant, hosts: set[str]) -> None:
    """After the organization's domains were edited: `hosts` (those it had before) and the
    ones it has now are forgotten by every process, so a removed host stops routing to it."""
    for host in hosts | set(tenant.domains.values_list("domain", flat=True)):
        forget_host(host)


def tenant_settings_changed(*, tenant: Tenant) -> None:
    """Give the organization a new settings_version, in the current transaction, and have
    every process re-read its row once that commits: what a process keeps about the
    organization (its custom field definitions) is keyed by the version, so it is read
    afresh."""
    Tenant.objects.filter(pk=tenant.pk).update(
        settings_version=RawSQL("nextval('tenants_tenant_settings_version_seq')", [])
    )
    _forget_domains(tenant)
    if connection.in_atomic_block:
        connection.mycrm_settings_changed_in = connection.atomic_blocks[0]  # type: ignore[attr-defined]


def settings_changed_in_this_transaction() -> bool:
    """Whether the current transaction has changed an organization's settings. What a
    process keeps by settings version must then be read from the database, not kept: the
    transaction sees its own changes, and may yet roll them back."""
    blocks = connection.atomic_blocks
    return bool(blocks) and getattr(connection, "mycrm_settings_changed_in", None) is blocks[0]


def tenant_delete(*, tenant: Tenant) -> None:
    """Delete the organization: its keys first (crypto-shredding), then its rows and schema,
    in one transaction."""
    slug = tenant.slug
    domains = list(tenant.domains.values_list("domain", flat=True))
    conn: BaseDatabaseWrapper = connection
    conn.set_schema_to_public()  # type: ignore[attr-defined]
    with transaction.atomic():
        with conn.cursor() as cur:
            # Deferred FK checks queued in this transaction would block DROP SCHEMA.
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        tenant_deleting.send(sender=Tenant, tenant=tenant)
        tenant.delete(force_drop=True)
        for host in domains:  # announced with the deletion, or not at all
            forget_host(host)
    log.info("tenant.deleted", tenant=slug)


def _forget_domains(tenant: Tenant) -> None:
    for host in tenant.domains.values_list("domain", flat=True):
        forget_host(host)


def public_url(path: str = "/") -> str:
    """The canonical absolute URL of a page of the public site; never from a request's Host."""
    port = f":{settings.PUBLIC_PORT}" if settings.PUBLIC_PORT else ""
    return f"{settings.PUBLIC_SCHEME}://{settings.BASE_DOMAIN}{port}{path}"


def tenant_url(tenant: Tenant, path: str = "/") -> str:
    """The canonical absolute URL of a tenant page; never derived from a request's Host."""
    port = f":{settings.PUBLIC_PORT}" if settings.PUBLIC_PORT else ""
    return f"{settings.PUBLIC_SCHEME}://{tenant_host(tenant.slug)}{port}{path}"
