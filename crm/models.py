"""CRM records; every table lives in a tenant's own schema.

Users are referred to by id only (no foreign key into `public`), so a tenant schema can be
moved to another database without dragging shared tables along.
"""

import json
import uuid
from collections.abc import Iterable
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.admin.models import ACTION_FLAG_CHOICES, ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from pii.fields import (
    EncryptedCharField,
    EncryptedDateField,
    EncryptedEmailField,
    EncryptedTextField,
    SealedJSONField,
    email_tokens,
    normalize_email,
    normalize_phone,
)

_M = TypeVar("_M", bound=models.Model)


class LiveManager(models.Manager[_M]):
    """The records that are not in the trash: every model that can be trashed has this as its
    default manager (`objects`), so lists, counts, lookups by id, reverse relations
    (`company.contacts`) and duplicate checks never see trashed rows. `with_trashed` holds
    them all, for the trash itself (its page, restore, purge). A forward relation
    (`deal.company`) still reaches a trashed record, as Django reads it through the base
    manager: pages check `deleted_at` where they show one."""

    def get_queryset(self) -> models.QuerySet[_M]:
        return super().get_queryset().filter(deleted_at__isnull=True)


class TrashedManager(models.Manager[_M]):
    """The records in the trash only."""

    def get_queryset(self) -> models.QuerySet[_M]:
        return super().get_queryset().filter(deleted_at__isnull=False)


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


class Tag(models.Model):
    """A label people put on contacts, companies, leads and deals, to find them again."""

    name = models.CharField(max_length=50)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name",)
        constraints = [models.UniqueConstraint(Lower("name"), name="crm_tag_name_ci_unique")]

    def __str__(self) -> str:
        return self.name


class Company(models.Model):
    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=253, blank=True)
    phone = models.CharField(max_length=50, blank=True)
    # Custom field values by key: plain, and (sensitive fields) encrypted per value.
    custom = models.JSONField(default=dict, blank=True, editable=False)
    custom_sealed = SealedJSONField(default=dict, blank=True, editable=False)
    pii_row = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner_id = models.BigIntegerField(null=True, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="companies")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    # In the trash since `deleted_at` (None: not trashed), put there by user `deleted_by_id`.
    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True, editable=False)
    deleted_by_id = models.BigIntegerField(null=True, blank=True, editable=False)
    # Merged into that company (and in the trash since), for the survivor's timeline.
    merged_into_id = models.BigIntegerField(null=True, blank=True, editable=False)

    objects = LiveManager["Company"]()
    with_trashed = models.Manager["Company"]()
    trashed = TrashedManager["Company"]()

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
    email = EncryptedEmailField(
        blank=True,
        blind_index="email_index",
        normalizer=normalize_email,
        word_index="email_tokens",
        tokenizer=email_tokens,
    )
    phone = EncryptedCharField(
        max_length=50, blank=True, blind_index="phone_index", normalizer=normalize_phone
    )
    address = EncryptedTextField(blank=True, help_text="Postal address.")
    birthday = EncryptedDateField(null=True, blank=True)
    # Exact matches only: plain b-tree indexes (Meta), without the pattern-matching (`_like`)
    # copies `db_index=True` adds, which every list's planning would inspect for nothing.
    email_index = models.CharField(max_length=64, blank=True, editable=False)
    phone_index = models.CharField(max_length=64, blank=True, editable=False)
    # Keyed digests of the e-mail address's words (pii.fields.email_tokens), for search;
    # None until the row is indexed (`manage.py pii_reencrypt` indexes older rows).
    email_tokens = ArrayField(models.TextField(), null=True, blank=True, editable=False)
    pii_row = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    custom = models.JSONField(default=dict, blank=True, editable=False)
    custom_sealed = SealedJSONField(default=dict, blank=True, editable=False)
    title = models.CharField(max_length=100, blank=True)
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts"
    )
    owner_id = models.BigIntegerField(null=True, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="contacts")
    # 0-100 from the organization's scoring rules, as a lead's (crm.services.scoring).
    score = models.PositiveSmallIntegerField(default=0)
    score_reasons = models.JSONField(default=list, blank=True, editable=False)
    scored_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    # In the trash since `deleted_at` (None: not trashed), put there by user `deleted_by_id`.
    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True, editable=False)
    deleted_by_id = models.BigIntegerField(null=True, blank=True, editable=False)
    # Merged into that contact (and in the trash since), for the survivor's timeline.
    merged_into_id = models.BigIntegerField(null=True, blank=True, editable=False)

    objects = LiveManager["Contact"]()
    with_trashed = models.Manager["Contact"]()
    trashed = TrashedManager["Contact"]()

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(fields=["email_index"], name="crm_contact_email_index"),
            models.Index(fields=["phone_index"], name="crm_contact_phone_index"),
            GinIndex(fields=["email_tokens"], name="crm_contact_email_tokens"),
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
    is_archived = models.BooleanField(default=False)
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
    is_archived = models.BooleanField(default=False)

    class Meta:
        ordering = ("pipeline", "position")
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "position"], name="crm_stage_position"),
            models.CheckConstraint(
                condition=models.Q(probability__lte=100), name="crm_stage_probability_pct"
            ),
            models.CheckConstraint(
                condition=~models.Q(is_won=True, is_lost=True), name="crm_stage_won_or_lost"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pipeline}: {self.name}"


class Lead(models.Model):
    """A person not yet qualified; converted in one step into a contact, a company and
    optionally a deal, which it then links to."""

    class Status(models.TextChoices):
        NEW = "new", "New"
        WORKING = "working", "Working"
        QUALIFIED = "qualified", "Qualified"
        DISQUALIFIED = "disqualified", "Disqualified"

    class Source(models.TextChoices):
        WEB = "web", "Website"
        REFERRAL = "referral", "Referral"
        EVENT = "event", "Event"
        COLD = "cold", "Cold outreach"
        PARTNER = "partner", "Partner"
        ADVERTISING = "advertising", "Advertising"
        IMPORT = "import", "Import"
        OTHER = "other", "Other"

    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100)
    email = EncryptedEmailField(
        blank=True,
        blind_index="email_index",
        normalizer=normalize_email,
        word_index="email_tokens",
        tokenizer=email_tokens,
    )
    phone = EncryptedCharField(
        max_length=50, blank=True, blind_index="phone_index", normalizer=normalize_phone
    )
    email_index = models.CharField(max_length=64, blank=True, editable=False)
    phone_index = models.CharField(max_length=64, blank=True, editable=False)
    # Keyed digests of the e-mail address's words (pii.fields.email_tokens), for search;
    # None until the row is indexed (`manage.py pii_reencrypt` indexes older rows).
    email_tokens = ArrayField(models.TextField(), null=True, blank=True, editable=False)
    pii_row = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    company_name = models.CharField(max_length=200, blank=True)
    title = models.CharField(max_length=100, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    disqualified_reason = models.CharField(max_length=200, blank=True)
    owner_id = models.BigIntegerField(null=True, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="leads")
    # 0-100, with each factor's points in `score_reasons` ([{"factor", "points"}]).
    score = models.PositiveSmallIntegerField(default=0)
    score_reasons = models.JSONField(default=list, blank=True, editable=False)
    scored_at = models.DateTimeField(null=True, blank=True, editable=False)
    converted_at = models.DateTimeField(null=True, blank=True, editable=False)
    converted_contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    converted_company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    converted_deal = models.ForeignKey(
        "Deal", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    # In the trash since `deleted_at` (None: not trashed), put there by user `deleted_by_id`.
    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True, editable=False)
    deleted_by_id = models.BigIntegerField(null=True, blank=True, editable=False)

    objects = LiveManager["Lead"]()
    with_trashed = models.Manager["Lead"]()
    trashed = TrashedManager["Lead"]()

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(fields=["email_index"], name="crm_lead_email_index"),
            models.Index(fields=["phone_index"], name="crm_lead_phone_index"),
            GinIndex(fields=["email_tokens"], name="crm_lead_email_tokens"),
            models.Index(fields=["status", "-score"], name="crm_lead_status_score"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(score__lte=100), name="crm_lead_score_pct")
        ]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Deal(models.Model):
    """An opportunity moving through a pipeline's stages; won and lost are stages too."""

    name = models.CharField(max_length=200)
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="deals"
    )
    contacts = models.ManyToManyField(
        Contact, through="DealContact", blank=True, related_name="deals"
    )
    amount = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, default="USD", help_text="ISO 4217 code.")
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="deals")
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="deals")
    # Order of the cards within a stage on the board (smaller first).
    position = models.IntegerField(default=0)
    stage_entered_at = models.DateTimeField(default=timezone.now)
    expected_close_on = models.DateField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    lost_reason = models.CharField(max_length=200, blank=True)
    owner_id = models.BigIntegerField(null=True, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="deals")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    # In the trash since `deleted_at` (None: not trashed), put there by user `deleted_by_id`.
    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True, editable=False)
    deleted_by_id = models.BigIntegerField(null=True, blank=True, editable=False)

    objects = LiveManager["Deal"]()
    with_trashed = models.Manager["Deal"]()
    trashed = TrashedManager["Deal"]()

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=["stage", "position"], name="crm_deal_board_order")]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="crm_deal_amount_gte_0"),
            models.CheckConstraint(
                condition=models.Q(currency__regex=r"^[A-Z]{3}$"), name="crm_deal_currency_iso"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class DealContact(models.Model):
    """A contact involved in a deal; one of them may be the primary one."""

    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="deal_contacts")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="deal_links")
    is_primary = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["deal", "contact"], name="crm_dealcontact_unique"),
            models.UniqueConstraint(
                fields=["deal"], condition=models.Q(is_primary=True), name="crm_deal_one_primary"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.deal_id}:{self.contact_id}"


class DealStageChange(models.Model):
    """One move of a deal between stages: who, when, from, to, and how long it had stayed.
    Stage names are kept, so the history reads the same after a stage is renamed or gone."""

    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="stage_changes")
    from_stage = models.ForeignKey(
        Stage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_stage = models.ForeignKey(
        Stage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_stage_name = models.CharField(max_length=100, blank=True)
    to_stage_name = models.CharField(max_length=100)
    seconds_in_from_stage = models.PositiveIntegerField(null=True, blank=True)
    by_id = models.BigIntegerField(null=True, blank=True)
    changed_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ("-changed_at", "-id")

    def __str__(self) -> str:
        return f"{self.from_stage_name or '—'} → {self.to_stage_name}"


class Product(models.Model):
    name = models.CharField(max_length=200)
    sku = models.CharField(max_length=64, blank=True)
    price = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, default="USD", help_text="ISO 4217 code.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)
        constraints = [
            models.UniqueConstraint(
                fields=["sku"], condition=~models.Q(sku=""), name="crm_product_sku_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(price__gte=0), name="crm_product_price_gte_0"
            ),
            models.CheckConstraint(
                condition=models.Q(currency__regex=r"^[A-Z]{3}$"), name="crm_product_currency_iso"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class LineItem(models.Model):
    """A product on a deal; a deal with line items takes its amount from them."""

    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="line_items")
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.PROTECT, related_name="line_items"
    )
    name = models.CharField(max_length=200)
    quantity = models.DecimalField(max_digits=12, decimal_places=2, default=1)
    unit_price = models.DecimalField(max_digits=14, decimal_places=2)
    discount_percent = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ("deal", "position", "id")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gt=0), name="crm_lineitem_qty_gt_0"
            ),
            models.CheckConstraint(
                condition=models.Q(unit_price__gte=0), name="crm_lineitem_price_gte_0"
            ),
            models.CheckConstraint(
                condition=models.Q(discount_percent__gte=0, discount_percent__lte=100),
                name="crm_lineitem_discount_pct",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.name}"


class Activity(models.Model):
    """Something done or to do about one record: a task, call, meeting, note or logged
    e-mail. Exactly one of contact, company, lead and deal is set."""

    class Kind(models.TextChoices):
        TASK = "task", "Task"
        CALL = "call", "Call"
        MEETING = "meeting", "Meeting"
        NOTE = "note", "Note"
        EMAIL = "email", "E-mail"

    class Direction(models.TextChoices):
        INBOUND = "inbound", "Inbound"
        OUTBOUND = "outbound", "Outbound"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.CASCADE, related_name="activities"
    )
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.CASCADE, related_name="activities"
    )
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="activities"
    )
    deal = models.ForeignKey(
        Deal, null=True, blank=True, on_delete=models.CASCADE, related_name="activities"
    )
    # task
    due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    assignee_id = models.BigIntegerField(null=True, blank=True)
    is_done = models.BooleanField(default=False)
    done_at = models.DateTimeField(null=True, blank=True)
    # call and e-mail
    direction = models.CharField(max_length=8, choices=Direction.choices, blank=True)
    # call
    outcome = models.CharField(max_length=100, blank=True)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    # meeting
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    attendees = models.ManyToManyField(Contact, blank=True, related_name="meetings")
    created_by_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "activities"
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(fields=["assignee_id", "is_done", "due_at"], name="crm_activity_my_tasks")
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(
                        contact__isnull=False,
                        company__isnull=True,
                        lead__isnull=True,
                        deal__isnull=True,
                    )
                    | models.Q(
                        contact__isnull=True,
                        company__isnull=False,
                        lead__isnull=True,
                        deal__isnull=True,
                    )
                    | models.Q(
                        contact__isnull=True,
                        company__isnull=True,
                        lead__isnull=False,
                        deal__isnull=True,
                    )
                    | models.Q(
                        contact__isnull=True,
                        company__isnull=True,
                        lead__isnull=True,
                        deal__isnull=False,
                    )
                ),
                name="crm_activity_one_record",
            ),
            models.CheckConstraint(
                condition=models.Q(ends_at__isnull=True)
                | models.Q(starts_at__isnull=True)
                | models.Q(ends_at__gte=models.F("starts_at")),
                name="crm_activity_meeting_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.subject or self.get_kind_display()


class ContactImport(models.Model):
    """One import of a CSV file of contacts, leads or deals (`entity`): what it did, for the
    people who ran it and so a retried request (same idempotency key) gets the same answer
    instead of a second import. Holds row numbers and counts only, never the file's personal
    data."""

    class Entity(models.TextChoices):
        CONTACT = "contact", "Contacts"
        LEAD = "lead", "Leads"
        DEAL = "deal", "Deals"

    class OnDuplicate(models.TextChoices):
        SKIP = "skip", "Skip the row, keep the contact as it is"
        UPDATE = "update", "Update the contact with the row's values"

    entity = models.CharField(max_length=8, choices=Entity.choices, default=Entity.CONTACT)
    filename = models.CharField(max_length=255, blank=True)
    idempotency_key = models.CharField(max_length=100, null=True, blank=True, unique=True)
    digest = models.CharField(max_length=64, help_text="SHA-256 of the file and the options.")
    on_duplicate = models.CharField(max_length=8, choices=OnDuplicate.choices)
    rows = models.PositiveIntegerField(default=0)
    contacts_created = models.PositiveIntegerField(default=0)
    contacts_updated = models.PositiveIntegerField(default=0)
    rows_skipped = models.PositiveIntegerField(default=0)
    companies_created = models.PositiveIntegerField(default=0)
    # The records of `entity` made (for contacts, the same as `contacts_created`).
    records_created = models.PositiveIntegerField(default=0)
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


class SavedView(models.Model):
    """A named way of looking at a list of records (contacts, companies, leads or deals):
    its filters and sort (`query`, the list page's own URL parameters) and its columns. It
    belongs to the member who saved it and may be shared with the whole organization.

    The row named "" (one per member and list, never shared) is no view anyone picks: it
    remembers the columns the member last chose for that list."""

    class Records(models.TextChoices):
        CONTACTS = "contacts", "Contacts"
        COMPANIES = "companies", "Companies"
        LEADS = "leads", "Leads"
        DEALS = "deals", "Deals"

    user_id = models.BigIntegerField()
    records = models.CharField(max_length=16, choices=Records.choices)
    name = models.CharField(max_length=100, blank=True)
    query = models.JSONField(default=dict, blank=True)
    columns = models.JSONField(default=list, blank=True)
    is_shared = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("records", Lower("name"), "id")
        constraints = [
            models.UniqueConstraint(
                "user_id", "records", Lower("name"), name="crm_savedview_name_unique"
            ),
            models.CheckConstraint(
                condition=~models.Q(name="") | models.Q(is_shared=False),
                name="crm_savedview_columns_row_private",
            ),
        ]
        indexes = [models.Index(fields=["records", "user_id"], name="crm_savedview_list_user")]

    def __str__(self) -> str:
        return self.name or f"{self.get_records_display()} columns"


class ImportMapping(models.Model):
    """How the columns of an import file were mapped to fields, remembered for the record type
    and the file's set of headings, and proposed for the next file with the same headings.
    Each organization has its own (the table is in its schema)."""

    class DateOrder(models.TextChoices):
        DMY = "DMY", "Day, month, year (25/03/1990)"
        MDY = "MDY", "Month, day, year (03/25/1990)"
        YMD = "YMD", "Year, month, day (1990/03/25)"

    entity = models.CharField(max_length=8, choices=ContactImport.Entity.choices)
    # SHA-256 of the headings, trimmed, in sorted order (`crm.imports.headings_digest`).
    headings_digest = models.CharField(max_length=64)
    # heading -> what it fills: a field, `custom.<key>`, or "" (ignored).
    mapping = models.JSONField(default=dict)
    date_order = models.CharField(max_length=3, choices=DateOrder.choices, blank=True)
    by_id = models.BigIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["entity", "headings_digest"], name="crm_importmapping_headings_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_entity_display()} columns {self.headings_digest[:8]}"


class ScoringRule(models.Model):
    """One of an organization's lead scoring rules: when its condition holds for a lead (or
    a contact), the lead gets `points` (negative ones take points away)."""

    class Condition(models.TextChoices):
        TITLE_CONTAINS = "title_contains", "Title contains"
        SOURCE_IS = "source_is", "Source is"
        STATUS_IS = "status_is", "Status is"
        EMAIL_IS_FREE_MAIL = "email_free_mail", "E-mail address is at a free-mail domain"
        EMAIL_IS_BUSINESS = "email_business", "E-mail address is at a company domain"
        HAS_PHONE = "has_phone", "Has a phone number"
        TAG_IS = "tag_is", "Has the tag"
        HAS_COMPANY_NAME = "has_company", "Names a company"
        NO_ACTIVITY_DAYS = "no_activity_days", "No activity in N days"
        MIN_CALLS = "min_calls", "At least N calls"
        MIN_MEETINGS = "min_meetings", "At least N meetings"
        OPENED_DEAL = "opened_deal", "Opened a deal"

    condition = models.CharField(max_length=20, choices=Condition.choices)
    # The text the condition compares with (a word of the title, a source, a status, a tag).
    value = models.CharField(max_length=100, blank=True)
    # N of the conditions that count (days, calls, meetings).
    number = models.PositiveIntegerField(null=True, blank=True)
    points = models.SmallIntegerField()
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("position", "id")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(points__gte=-100, points__lte=100),
                name="crm_scoringrule_points_range",
            )
        ]

    def __str__(self) -> str:
        return f"{self.condition} {self.value or self.number or ''}: {self.points:+d}"


class ScoringModel(models.Model):
    """A lead scoring model trained on this organization's own won and lost history.

    `coefficients` holds what scoring needs, as plain JSON (never a pickle): the features'
    names, their weights and means, and the intercept. The newest row is the one in use."""

    algorithm = models.CharField(max_length=40, default="logistic_regression")
    coefficients = models.JSONField()
    won_count = models.PositiveIntegerField()
    lost_count = models.PositiveIntegerField()
    holdout_accuracy = models.FloatField(help_text="Share of the held-out leads predicted right.")
    trained_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ("-trained_at", "-id")

    def __str__(self) -> str:
        return f"{self.algorithm} of {self.trained_at:%Y-%m-%d %H:%M}"
