"""Domains an organization proved it owns, its identity-provider connections, and what
single sign-on keeps between requests; all in the public schema."""

from django.db import models
from django.db.models.functions import Lower

from iam.models import CustomRole, Role, User


class SsoDomain(models.Model):
    """An e-mail domain an organization claims. It counts once DNS shows the TXT record
    `_mycrm-challenge.<domain>` with the value `mycrm-verify=<token>`; a domain verified by
    one organization can't be verified by another (the partial unique constraint)."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    domain = models.CharField(max_length=253)
    token = models.CharField(max_length=64)
    verified_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    # What the last check found, in words for the admin ("no TXT record", ...).
    check_result = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("domain",)
        constraints = [
            models.UniqueConstraint("tenant", Lower("domain"), name="iam_sso_domain_per_tenant"),
            models.UniqueConstraint(
                Lower("domain"),
                condition=models.Q(verified_at__isnull=False),
                name="iam_sso_domain_verified_once",
            ),
        ]

    def __str__(self) -> str:
        return self.domain

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None


class SsoConnection(models.Model):
    """One identity provider of an organization, over OpenID Connect or SAML 2.0.

    It can be switched on only after a test sign-in went through (`tested_at`); changing
    how it reaches the provider asks for a new test. `group_mappings` is a list of
    `{"group": name, "role": built-in key or "", "custom_role": id or None, "team": id or
    None}`, applied at each sign-in."""

    class Protocol(models.TextChoices):
        OIDC = "oidc", "OpenID Connect"
        SAML = "saml", "SAML 2.0"

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    protocol = models.CharField(max_length=8, choices=Protocol.choices)
    # OpenID Connect: the issuer (or its discovery URL), or its discovery document pasted.
    oidc_issuer = models.URLField(max_length=500, blank=True)
    oidc_metadata = models.JSONField(default=dict, blank=True)
    oidc_client_id = models.CharField(max_length=255, blank=True)
    # Sealed with the organization's data key (pii.crypto); never shown again once saved.
    oidc_client_secret = models.TextField(blank=True)
    # SAML: the identity provider's metadata, fetched from a URL or uploaded.
    saml_metadata_url = models.URLField(max_length=500, blank=True)
    saml_metadata_xml = models.TextField(blank=True)
    # A metadata URL is fetched again periodically (and on "refresh now"): when it last
    # worked, and what went wrong the last time it didn't (the stored metadata stays).
    saml_metadata_refreshed_at = models.DateTimeField(null=True, blank=True)
    saml_metadata_error = models.CharField(max_length=300, blank=True)
    saml_metadata_error_at = models.DateTimeField(null=True, blank=True)
    # Our own key pair as the service provider (iam/sso/keys.py): the certificate is in
    # our SP metadata; the private key is sealed with the organization's data key. The
    # previous pair, kept after a rotation, only decrypts assertions still encrypted to it.
    saml_sp_certificate = models.TextField(blank=True)
    saml_sp_private_key = models.TextField(blank=True)
    saml_sp_previous_certificate = models.TextField(blank=True)
    saml_sp_previous_private_key = models.TextField(blank=True)
    # Sign our AuthnRequests with that key (on for a new connection whose identity provider
    # asks for signed requests in its metadata).
    saml_sign_requests = models.BooleanField(default=False)
    is_enabled = models.BooleanField(default=False)
    tested_at = models.DateTimeField(null=True, blank=True)
    jit_enabled = models.BooleanField(default=True)
    default_role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    default_custom_role = models.ForeignKey(
        CustomRole, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    group_mappings = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)
        constraints = [
            models.UniqueConstraint("tenant", Lower("name"), name="iam_sso_connection_name")
        ]

    def __str__(self) -> str:
        return self.name


class SsoGrant(models.Model):
    """What single sign-on last granted a member from their groups, so the next sign-in
    can take back what the groups no longer give, and nothing granted by hand."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    role = models.CharField(max_length=16, blank=True)
    custom_role_ids = models.JSONField(default=list)
    team_ids = models.JSONField(default=list)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="iam_sso_grant_unique")
        ]

    def __str__(self) -> str:
        return f"sso grant of {self.user_id}@{self.tenant_id}"


class SamlAssertionSeen(models.Model):
    """A SAML assertion id already used, kept until the assertion expires, so the same
    assertion posted again is refused."""

    assertion_id = models.CharField(max_length=255, unique=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.assertion_id
