"""Wrapped tenant keys; public schema. The plaintext of a key never reaches the database."""

from django.db import models


class TenantKey(models.Model):
    """One version of a tenant's data or index key, as Vault Transit wrapped it."""

    class Purpose(models.TextChoices):
        DATA = "data", "Field encryption (AES-256-GCM)"
        INDEX = "index", "Blind index (HMAC-SHA256)"

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="keys")
    purpose = models.CharField(max_length=8, choices=Purpose.choices)
    version = models.PositiveIntegerField()
    wrapped = models.TextField(help_text="Vault Transit ciphertext of the 256-bit key.")
    vault_key = models.CharField(max_length=100, help_text="The Transit key that wraps it.")
    vault_key_version = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "purpose", "version"], name="pii_tenantkey_version_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}:{self.purpose}:v{self.version}"
