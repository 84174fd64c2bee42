"""CRM records; every table lives in a tenant's own schema.

Users are referred to by id only (no foreign key into `public`), so a tenant schema can be
moved to another database without dragging shared tables along.
"""

import json
import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.admin.models import ACTION_FLAG_CHOICES, ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from pii.fields import (
    EncryptedCharField,
    EncryptedDateField,
    EncryptedEmailField,
    EncryptedTextField,
    SealedJSONField,
    normalize_email,
    normalize_phone,
)


class CustomField(models.Model):
    """A field an organization adds to its contacts or companies (a custom property).

    Values live on the records themselves: in `custom` (JSON, by key) or, for a field marked
    sensitive, only encrypted in `custom_sealed`. The key names the value there, so it never
    changes once created; neither do the entity and the type, which existing values follow.
    """

    class Entity(models.TextChoices):
        CONTACT = "contact", "Contact"
        COMPANY = "company", "Company"

    class Type(models.TextChoices):
        TEXT = "text", "Text"
        LONG_TEXT = "long_text", "Long text"
        NUMBER = "number", "Number"
        DATE = "date", "Date"
        EMAIL = "email", "E-mail address"
        PHONE = "phone", "Phone number"
        URL = "url", "Web address"
        BOOLEAN = "boolean", "Yes / no"
        CHOICE = "choice", "Single choice"

    entity = models.CharField(max_length=16, choices=Entity.choices)
    key = models.CharField(max_length=50, help_text="Name of the value in the API; fixed.")
    label = models.CharField(max_length=100)
    type = models.CharField(max_length=16, choices=Type.choices)
    options = models.JSONField(default=list, blank=True, help_text="Choices of a single choice.")
    sensitive = models.BooleanField(
        default=False, help_text="Values are stored encrypted, like e-mail addresses."
    )
    required = models.BooleanField(default=False)
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("entity", "position", "id")
        constraints = [
            models.UniqueConstraint(fields=["entity", "key"], name="crm_customfield_key_unique"),
            models.CheckConstraint(
                condition=models.Q(key__regex=r"^[a-z][a-z0-9_]{0,49}$"),
                name="crm_customfield_key_format",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_entity_display()}: {self.label}"


class Company(models.Model):
    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=253, blank=True)
    phone = models.CharField(max_length=50, blank=True)
    # Custom field values by key: plain, and (sensitive fields) encrypted per value.
    custom = models.JSONField(default=dict, blank=True, editable=False)
    custom_sealed = SealedJSONField(default=dict, blank=True, editable=False)
    pii_row = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "companies"
        ordering = ("name",)
        indexes = [models.Index(Lower("name"), name="crm_company_name_ci")]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100, blank=True)
    # Stored encrypted (pii); exact-match lookups go through the *_index columns.
    email = EncryptedEmailField(blank=True, blind_index="email_index", normalizer=normalize_email)
    phone = EncryptedCharField(
        max_length=50, blank=True, blind_index="phone_index", normalizer=normalize_phone
    )
    address = EncryptedTextField(blank=True, help_text="Postal address.")
    birthday = EncryptedDateField(null=True, blank=True)
    # Exact matches only: plain b-tree indexes (Meta), without the pattern-matching (`_like`)
    # copies `db_index=True` adds, which every list's planning would inspect for nothing.
    email_index = models.CharField(max_length=64, blank=True, editable=False)
    phone_index = models.CharField(max_length=64, blank=True, editable=False)
    pii_row = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    custom = models.JSONField(default=dict, blank=True, editable=False)
    custom_sealed = SealedJSONField(default=dict, blank=True, editable=False)
    title = models.CharField(max_length=100, blank=True)
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts"
    )
    owner_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(fields=["email_index"], name="crm_contact_email_index"),
            models.Index(fields=["phone_index"], name="crm_contact_phone_index"),
        ]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Pipeline(models.Model):
    """A sales process: an ordered list of stages a deal moves through."""

    name = models.CharField(max_length=100)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="crm_pipeline_one_default",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Stage(models.Model):
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=100)
    position = models.PositiveSmallIntegerField()
    probability = models.PositiveSmallIntegerField(help_text="Chance to win, in percent.")
    is_won = models.BooleanField(default=False)
    is_lost = models.BooleanField(default=False)

    class Meta:
        ordering = ("pipeline", "position")
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "position"], name="crm_stage_position"),
            models.CheckConstraint(
                condition=models.Q(probability__lte=100), name="crm_stage_probability_pct"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pipeline}: {self.name}"


class ContactImport(models.Model):
    """One import of a CSV file of contacts: what it did, for the people who ran it and so a
    retried request (same idempotency key) gets the same answer instead of a second import.
    Holds row numbers and counts only, never the file's personal data."""

    class OnDuplicate(models.TextChoices):
        SKIP = "skip", "Skip the row, keep the contact as it is"
        UPDATE = "update", "Update the contact with the row's values"

    filename = models.CharField(max_length=255, blank=True)
    idempotency_key = models.CharField(max_length=100, null=True, blank=True, unique=True)
    digest = models.CharField(max_length=64, help_text="SHA-256 of the file and the options.")
    on_duplicate = models.CharField(max_length=8, choices=OnDuplicate.choices)
    rows = models.PositiveIntegerField(default=0)
    contacts_created = models.PositiveIntegerField(default=0)
    contacts_updated = models.PositiveIntegerField(default=0)
    rows_skipped = models.PositiveIntegerField(default=0)
    companies_created = models.PositiveIntegerField(default=0)
    # {"skipped": [{"row", "reason", "contact" | "duplicate_of_row"}], "columns", "ignored_columns"}
    report = models.JSONField(default=dict, blank=True)
    by_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    # Not stored: how this answer came about (a dry run is never saved; a replay is an
    # earlier import returned for a retried request).
    dry_run = False
    replayed = False

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return self.filename or f"Import {self.pk}"


class AdminLogEntryManager(models.Manager["AdminLogEntry"]):
    def log(
        self,
        *,
        user_id: int | None,
        objects: Iterable[models.Model],
        action_flag: int,
        change_message: str | list[Any] = "",
    ) -> list["AdminLogEntry"]:
        """One entry per record, with the values Django admin's `LogEntry` would hold."""
        if isinstance(change_message, list):
            change_message = json.dumps(change_message)
        return self.bulk_create(
            self.model(
                user_id=user_id,
                content_type=ContentType.objects.get_for_model(obj, for_concrete_model=False),
                object_id=str(obj.pk),
                object_repr=str(obj)[:200],
                action_flag=action_flag,
                change_message=change_message,
            )
            for obj in objects
        )


class AdminLogEntry(models.Model):
    """What the organization admin did: Django admin's log entry (`LogEntry`), kept in the
    organization's own schema. The shared `django_admin_log` in `public` would show one
    organization's history to another (content type and record ids repeat across schemas)
    and outlive the organization; this table is only ever read on its own host and is
    dropped with the schema."""

    action_time = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    # A relation for the admin's templates (`action.user`, `user__pk`), without a constraint:
    # users live in `public`, and the row refers to one by id, like every table here.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        related_name="+",
    )
    content_type = models.ForeignKey(ContentType, on_delete=models.SET_NULL, null=True, blank=True)
    object_id = models.TextField(blank=True)
    object_repr = models.CharField(max_length=200)
    action_flag = models.PositiveSmallIntegerField(choices=ACTION_FLAG_CHOICES)
    change_message = models.TextField(blank=True)

    objects = AdminLogEntryManager()

    class Meta:
        ordering = ("-action_time", "-id")

    def __str__(self) -> str:
        return str(self._as_log_entry())

    def is_addition(self) -> bool:
        return self.action_flag == ADDITION

    def is_change(self) -> bool:
        return self.action_flag == CHANGE

    def is_deletion(self) -> bool:
        return self.action_flag == DELETION

    def get_change_message(self) -> str:
        return str(self._as_log_entry().get_change_message())

    def get_admin_url(self) -> str | None:
        """The record's change page in the organization admin (None if it has none)."""
        return self._as_log_entry().get_admin_url()

    def _as_log_entry(self) -> LogEntry:
        # An unsaved LogEntry with these values words the message and builds the link as
        # the admin does everywhere else.
        return LogEntry(
            action_time=self.action_time,
            content_type=self.content_type,
            object_id=self.object_id,
            object_repr=self.object_repr,
            action_flag=self.action_flag,
            change_message=self.change_message,
        )
