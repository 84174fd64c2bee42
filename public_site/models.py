"""Sign-ups waiting for their e-mail link (public schema)."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class PendingSignup(models.Model):
    """An organization someone asked to create, waiting for the link mailed to `email`.

    Only the SHA-256 digest of the link's token is kept, and the password only as Django's
    hash (empty when the address already had an account: that person signs in instead).
    Nothing else exists until the link is followed; `completed_at` and `tenant` then record
    what it made, so opening it again makes nothing more.
    """

    email = models.EmailField()
    organization_name = models.CharField(max_length=200)
    slug = models.CharField(max_length=40)
    full_name = models.CharField(max_length=200, blank=True)
    password = models.CharField(max_length=128, blank=True)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    tenant = models.ForeignKey(
        "tenants.Tenant", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.slug} for {self.email}"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def is_completed(self) -> bool:
        return self.completed_at is not None
