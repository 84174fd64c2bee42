"""Tenants (customer organizations) and the host names that route to them; public schema."""

from typing import Any

from django.db import models
from django_tenants.models import DomainMixin, TenantMixin


class Tenant(TenantMixin):
    """One customer organization, living in its own PostgreSQL schema."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=40, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    # The IANA time zone the organization's days are counted in (My tasks' "today", the
    # dashboard's months) and its times shown in; every request on its host runs in it.
    time_zone = models.CharField(max_length=64, default="UTC")
    # Changes whenever something each process keeps about the organization changes (its
    # custom field definitions): processes hold this row in the host cache, which learns of
    # the change through Redis (tenants.services.tenant_settings_changed), and key what they
    # keep by it. Taken from a sequence, so a value is never handed out twice, not even by a
    # transaction that rolled back.
    settings_version = models.BigIntegerField(default=0, editable=False)

    # Provisioning creates the schema itself (fast path); deletion drops it.
    auto_create_schema = False
    auto_drop_schema = True

    class Meta:
        ordering = ("slug",)

    def __str__(self) -> str:
        return self.slug

    @property
    def is_suspended(self) -> bool:
        return self.status == self.Status.SUSPENDED

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding and kwargs.get("update_fields") is None:
            # Never write settings_version back from a row read earlier: it only moves
            # forward, through tenant_settings_changed.
            kwargs["update_fields"] = _TENANT_SAVED_FIELDS
        super().save(*args, **kwargs)


_TENANT_SAVED_FIELDS = [
    field.name
    for field in Tenant._meta.concrete_fields
    if not field.primary_key and field.name != "settings_version"
]


class Domain(DomainMixin):
    """A host name served by a tenant; exactly one per tenant is primary."""

    class Meta:
        ordering = ("domain",)


class SchemaSnapshot(models.Model):
    """The DDL of a fully migrated tenant schema, rendered once per migration state.

    Replaying it creates a new tenant schema in one transaction, without running migrations.
    """

    key = models.CharField(max_length=64, unique=True)
    ddl = models.TextField()
    migrations = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.key[:12]


class SpareSchema(models.Model):
    """A ready-made tenant schema waiting in the warm pool; not a tenant (no row, no domain).

    Provisioning renames one to the new organization's schema instead of replaying the
    snapshot. `snapshot_key` is `pool.spare_key()` when it was made: the snapshot it was
    replayed from and the starter-data receivers that filled it. A spare made under any other
    key is stale (migrations or starter data changed since) and is dropped, never claimed.
    """

    schema_name = models.CharField(max_length=63, unique=True)
    snapshot_key = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("id",)

    def __str__(self) -> str:
        return self.schema_name


class HostAnnouncement(models.Model):
    """A host whose routing changed, written in the transaction that changed it.

    Every web process drops the host from its host cache when Redis passes the announcement
    on; the row is how a process learns of it when that message was lost (the publishing
    process couldn't reach Redis, say). See `tenants.routing`.
    """

    host = models.CharField(max_length=253)
    # pg_current_xact_id() of the writing transaction: compared with a snapshot's xmin, it
    # tells which rows a reader may not have been able to see yet.
    xid = models.BigIntegerField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("id",)

    def __str__(self) -> str:
        return self.host
