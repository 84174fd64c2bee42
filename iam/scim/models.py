"""SCIM tokens and what an identity provider said about each member; in the public schema,
beside the memberships they describe."""

from django.db import models

from iam.models import Role


class ScimToken(models.Model):
    """The bearer token an organization's identity provider calls /scim/v2/ with.

    Scoped to one organization; only the SHA-256 digest is kept, so the token is shown once.
    A revoked token stays listed (who made it, when it was last used) but opens nothing.
    """

    # Indexed by the lookups below, which lead with the digest or the tenant.
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    digest = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        "iam.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=["tenant", "revoked_at"], name="iam_scim_token_tenant")]
        constraints = [
            models.UniqueConstraint(fields=["digest"], name="iam_scim_token_digest_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class ScimProfile(models.Model):
    """What the identity provider last sent about one member that our user has no field for:
    its user name (sign-in name at the provider), the parts of the name and the e-mail list.

    Users are global and may belong to other organizations, so these stay per membership;
    the user's own full name and e-mail are kept in step where it is safe (see services).
    """

    membership = models.OneToOneField(
        "iam.Membership", on_delete=models.CASCADE, related_name="scim_profile"
    )
    # Denormalized from the membership so uniqueness within the organization is a constraint.
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    user_name = models.CharField(max_length=255)
    formatted = models.CharField(max_length=200, blank=True)
    given_name = models.CharField(max_length=150, blank=True)
    family_name = models.CharField(max_length=150, blank=True)
    emails = models.JSONField(default=list, blank=True)
    # False once the provider removed the `active` attribute: it then asserts nothing.
    active_reported = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "tenant", models.functions.Lower("user_name"), name="iam_scim_user_name_unique"
            )
        ]

    def __str__(self) -> str:
        return self.user_name


class ScimSettings(models.Model):
    """How the members an organization's identity provider creates start: their built-in
    role and, if chosen, a custom role beside it. A missing row means the member role alone.

    Never owner, and only what the person who chose it could give themselves
    (`iam.scim.services.scim_defaults_set`): an identity provider creates people unseen,
    so the role it hands out is decided here, by someone who holds its rights.
    """

    tenant = models.OneToOneField("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    default_role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    default_custom_role = models.ForeignKey(
        "iam.CustomRole", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        "iam.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "SCIM settings"
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(default_role=Role.OWNER),
                name="iam_scim_settings_never_owner",
            )
        ]

    def __str__(self) -> str:
        return f"SCIM defaults of {self.tenant_id}"
