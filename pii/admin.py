"""Operator console for keys: which versions exist, and the rotations that are quick to run."""

from functools import partial

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import TenantKey
from .services import tenant_key_rotate, vault_key_rotate
from .tasks import reencryption_progress, reencryption_queue


@admin.register(TenantKey)
class TenantKeyAdmin(admin.ModelAdmin):
    list_display = (
        "tenant",
        "purpose",
        "version",
        "vault_key",
        "vault_key_version",
        "created_at",
        "reencryption",
    )
    list_filter = ("purpose", "vault_key_version")
    search_fields = ("tenant__slug",)
    ordering = ("tenant__slug", "purpose", "-version")
    actions = ["rotate_vault_key", "rotate_tenant_data_keys"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are made through Vault, never typed in

    def has_change_permission(self, request: HttpRequest, obj: TenantKey | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: TenantKey | None = None) -> bool:
        return False  # deleting a key destroys data; only tenant deletion does it

    @admin.display(description="Re-encryption")
    def reencryption(self, key: TenantKey) -> str:
        if key.purpose != TenantKey.Purpose.DATA:
            return ""
        progress = reencryption_progress(key.tenant)
        if not progress:
            return "—"
        return f"{progress['state']}: {progress['rows']} row(s)"

    @admin.action(description="Rotate the Vault keys and rewrap every tenant key")
    def rotate_vault_key(self, request: HttpRequest, queryset: QuerySet[TenantKey]) -> None:
        rotated, count = vault_key_rotate()
        messages.success(
            request,
            f"Rotated {rotated} Transit key(s); rewrapped {count} tenant key(s) under the new "
            "versions and destroyed the older ones.",
        )

    @admin.action(description="Give the selected keys' organizations a new data key")
    def rotate_tenant_data_keys(self, request: HttpRequest, queryset: QuerySet[TenantKey]) -> None:
        tenants = {key.tenant for key in queryset.select_related("tenant")}
        for tenant in sorted(tenants, key=lambda t: t.slug):
            version = tenant_key_rotate(tenant_id=tenant.pk)
            transaction.on_commit(partial(reencryption_queue, tenant))
            messages.success(
                request,
                f"{tenant.slug}: data key version {version} is used for new writes; older "
                "values are being re-encrypted in the background (progress in this list).",
            )
