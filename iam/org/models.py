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
