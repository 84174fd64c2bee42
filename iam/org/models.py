"""Tables of iam that live in each organization's schema, next to the records they guard."""

from django.db import models


class RecordShare(models.Model):
    """One record shared with one member or one team, to view or to edit.

    Records are named by type and id (record types of `iam.authz.catalog`) rather than by
    foreign key, so one table serves every record type and list queries test it with one
    `EXISTS`. Users and teams live in the public schema; ids only, as elsewhere in a
    tenant schema, so the schema can move to another database.
    """

    class Level(models.TextChoices):
        VIEW = "view", "Can view"
        EDIT = "edit", "Can edit"

    record_type = models.CharField(max_length=16)
    record_id = models.BigIntegerField()
    user_id = models.BigIntegerField(null=True, blank=True)
    team_id = models.BigIntegerField(null=True, blank=True)
    level = models.CharField(max_length=8, choices=Level.choices, default=Level.VIEW)
    shared_by_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["record_type", "record_id"], name="iam_share_record")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user_id__isnull=False, team_id__isnull=True)
                | models.Q(user_id__isnull=True, team_id__isnull=False),
                name="iam_share_one_grantee",
            ),
            models.UniqueConstraint(
                fields=["record_type", "record_id", "user_id"],
                condition=models.Q(user_id__isnull=False),
                name="iam_share_user_unique",
            ),
            models.UniqueConstraint(
                fields=["record_type", "record_id", "team_id"],
                condition=models.Q(team_id__isnull=False),
                name="iam_share_team_unique",
            ),
        ]

    def __str__(self) -> str:
        grantee = f"user {self.user_id}" if self.user_id else f"team {self.team_id}"
        return f"{self.record_type} {self.record_id} → {grantee} ({self.level})"


class AuditEvent(models.Model):
    """One security-relevant or data-changing action in this organization, append-only.

    Rows form a hash chain: `hash` is the SHA-256 of the row's content and `prev_hash`,
    the previous row's hash, so editing or removing a row breaks every later link
    (`iam.audit.chain_verify`). `seq` has no gaps: it is given under the organization's
    chain lock, not by a sequence, so a missing number means a removed row. A database
    trigger refuses UPDATE and DELETE unless the retention purge switches it off for its
    own transaction. People are named by id and by the e-mail they had at the time: users
    live in the public schema, and the log must outlive them.
    """

    class Via(models.TextChoices):
        SESSION = "session", "Session"
        TOKEN = "token", "API token"
        SERVICE_TOKEN = "service_token", "Service token"
        SCIM = "scim", "SCIM"
        SSO = "sso", "SSO"
        OPERATOR = "operator", "Platform operator"
        TASK = "task", "Background task"
        SYSTEM = "system", "System"

    seq = models.BigIntegerField(unique=True)
    occurred_at = models.DateTimeField()
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_label = models.CharField(max_length=254, blank=True)
    via = models.CharField(max_length=16, choices=Via.choices)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=32, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    ip = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["-seq"]
        indexes = [
            models.Index(fields=["occurred_at"], name="iam_audit_occurred"),
            models.Index(fields=["actor_id", "seq"], name="iam_audit_actor"),
            models.Index(fields=["action", "seq"], name="iam_audit_action"),
            models.Index(fields=["target_type", "target_id"], name="iam_audit_target"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"


class AuditAnchor(models.Model):
    """Where the chain starts after a retention purge: the seq and hash of the last row
    purged. The oldest remaining row must follow it, so a row removed from the start of the
    log is told apart from rows the purge removed. One row at most."""

    seq = models.BigIntegerField()
    hash = models.CharField(max_length=64)
    purged_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"audit chain starts after #{self.seq}"
