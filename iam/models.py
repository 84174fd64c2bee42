"""Users, memberships, roles, teams, policies and API tokens; all in the public schema."""

from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> "User":
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> "User":
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """One global identity that may belong to many organizations; logs in by e-mail."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    # The identity a service token acts as (`ApiToken.service_account`): it has no password,
    # no membership and no confirmed address, so it never signs in, is never listed among
    # members and never takes a seat.
    is_service_account = models.BooleanField(default=False)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="iam_user_email_ci_unique")]

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email


class Role(models.TextChoices):
    """The built-in roles; what each grants is `iam.authz.catalog.BUILT_IN_ROLES`."""

    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MANAGER = "manager", "Manager"
    MEMBER = "member", "Member"
    READ_ONLY = "read_only", "Read-only"
    BILLING = "billing", "Billing"


class CustomRole(models.Model):
    """A role an organization's owners and admins made from the permission matrix.

    `permissions` maps a permission key of `iam.authz.catalog` ("deal.edit",
    "admin.people") to the scope it grants ("own", "team" or "all"); a key that is absent
    grants nothing. A member's rights are the union of their built-in and custom roles.
    """

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=60)
    description = models.CharField(max_length=200, blank=True)
    permissions = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)
        constraints = [
            models.UniqueConstraint("tenant", Lower("name"), name="iam_customrole_name_unique")
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's right to enter one tenant, with the built-in role they hold there."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    custom_roles = models.ManyToManyField(CustomRole, blank=True, related_name="memberships")
    created_at = models.DateTimeField(auto_now_add=True)
    # Set while the organization's identity provider has this person switched off (SCIM
    # `active: false`): the membership stays, with its history, but opens nothing.
    deactivated_at = models.DateTimeField(null=True, blank=True)
    # The identity provider's own id for this person in this organization (SCIM externalId).
    external_id = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant"], name="iam_membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.tenant_id}:{self.role}"


class Team(models.Model):
    """A group of members with a manager. Records belong to a team through their owner."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    manager = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    members = models.ManyToManyField(User, through="TeamMember", related_name="teams")
    # The identity provider's id for the group this team mirrors (SCIM externalId).
    external_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name",)
        constraints = [
            models.UniqueConstraint("tenant", Lower("name"), name="iam_team_name_unique")
        ]

    def __str__(self) -> str:
        return self.name


class TeamMember(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="iam_teammember_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.team_id}"


class AccessPolicy(models.Model):
    """An organization's Cedar policy: statements that permit or forbid actions on records
    under conditions (owner, team, amount, time of day...). Checked against the schema of
    `iam.authz.cedar` before it is saved; only enabled policies take part in decisions."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    source = models.TextField()
    is_enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)
        verbose_name_plural = "access policies"
        constraints = [
            models.UniqueConstraint("tenant", Lower("name"), name="iam_accesspolicy_name_unique")
        ]

    def __str__(self) -> str:
        return self.name


class SecuritySettings(models.Model):
    """An organization's sign-in and audit rules. A missing row means the defaults."""

    tenant = models.OneToOneField(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="security_settings"
    )
    mfa_required = models.BooleanField(default=False)
    sso_required = models.BooleanField(default=False)
    # Minutes without a request, and hours since sign-in, after which a session here ends.
    session_idle_minutes = models.PositiveIntegerField(default=120)
    session_max_hours = models.PositiveIntegerField(default=24 * 7)
    audit_retention_days = models.PositiveIntegerField(default=365 * 2)
    # Whether platform operators may act as a member here (support); owners may refuse it.
    operator_access_allowed = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"security of {self.tenant_id}"


class ApiToken(models.Model):
    """An API token for one tenant; only its SHA-256 digest is stored.

    A personal token belongs to a member (`user`) and acts as them, within its `scopes`. A
    service token belongs to the organization: `user` is empty and `service_account` is a
    user made for that token alone, which is never a member, so the token outlives whoever
    created it and its rights are exactly its scopes (`iam.token_scopes`). A token stops
    working when revoked or at `expires_at` (empty: never).
    """

    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.CASCADE, related_name="api_tokens"
    )
    service_account = models.OneToOneField(
        User, null=True, blank=True, on_delete=models.CASCADE, related_name="service_token"
    )
    # Indexed with the user below, which also serves lookups by tenant alone.
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="api_tokens", db_index=False
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    digest = models.CharField(max_length=64)
    # "deal:read", "contact:write", "*:read", "*:write", "admin" (iam.token_scopes).
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=["tenant", "user"])]
        constraints = [
            # Looked up by exact digest on every API call: a unique constraint, without the
            # pattern-matching (`_like`) index `unique=True` adds, which planning would inspect.
            models.UniqueConstraint(fields=["digest"], name="iam_apitoken_digest_unique"),
            # A person's or the organization's, never both: a personal token is tied to its
            # owner's membership (iam migration 0003), which a service token has none of.
            models.CheckConstraint(
                condition=(
                    models.Q(user__isnull=False, service_account__isnull=True)
                    | models.Q(user__isnull=True, service_account__isnull=False)
                ),
                name="iam_apitoken_one_owner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_service(self) -> bool:
        return self.service_account_id is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()


class Invitation(models.Model):
    """An invitation to join a tenant with a role, sent by e-mail as a one-time link; only
    the SHA-256 digest of the link's token is stored. Open until accepted, revoked, replaced
    by a newer invitation to the same address, or expired."""

    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    invited_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(
                "tenant",
                Lower("email"),
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="iam_invitation_one_open_per_address",
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} → {self.tenant_id} ({self.role})"

    @property
    def is_open(self) -> bool:
        return (
            self.accepted_at is None
            and self.revoked_at is None
            and self.expires_at > timezone.now()
        )


class IdempotentRequest(models.Model):
    """A POST made with an `Idempotency-Key`, kept for 24 hours per organization, user and key.

    `fingerprint` is a digest of the request (method, path, body), so the same key with
    another request can be refused. The row is written in the request's own transaction,
    only when it succeeded, with its response: status, the headers a client reads, and the
    body sealed with the organization's data key (responses carry personal data).
    """

    # Indexed by the unique constraint below, which leads with it.
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    headers = models.JSONField(default=dict)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "user", "key"], name="iam_idempotentrequest_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.status_code})"


class UserSession(models.Model):
    """Where a user is signed in: one row per session, so their sessions can be listed and
    ended without reading every session in the store. Written at sign-in, touched at most
    once a minute while the session is used, deleted at sign-out."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    session_key = models.CharField(max_length=40, unique=True)
    # The organization whose host the session lives on (sessions stay on their host); empty
    # for the public site.
    tenant = models.ForeignKey(
        "tenants.Tenant", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    signed_in_at = models.DateTimeField(default=timezone.now)
    last_active_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["user", "-last_active_at"])]

    def __str__(self) -> str:
        return f"session of {self.user_id} since {self.signed_in_at:%Y-%m-%d %H:%M}"
