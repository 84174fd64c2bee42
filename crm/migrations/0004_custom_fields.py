"""Custom fields: their definitions, and their values on contacts and companies.

Companies get a `pii_row` like contacts, since sensitive values are bound to their row; each
existing company gets its own random one.
"""

import uuid

from django.db import migrations, models

import pii.fields


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0003_contact_address_birthday"),
    ]

    operations = [
        migrations.AddField(
            model_name="company",
            name="custom",
            field=models.JSONField(blank=True, default=dict, editable=False),
        ),
        migrations.AddField(
            model_name="company",
            name="custom_sealed",
            field=pii.fields.SealedJSONField(blank=True, default=dict, editable=False),
        ),
        migrations.AddField(
            model_name="company",
            name="pii_row",
            field=models.UUIDField(editable=False, null=True),
        ),
        migrations.RunSQL(
            "UPDATE crm_company SET pii_row = gen_random_uuid() WHERE pii_row IS NULL",
            migrations.RunSQL.noop,
        ),
        migrations.AlterField(
            model_name="company",
            name="pii_row",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
        migrations.AddField(
            model_name="contact",
            name="custom",
            field=models.JSONField(blank=True, default=dict, editable=False),
        ),
        migrations.AddField(
            model_name="contact",
            name="custom_sealed",
            field=pii.fields.SealedJSONField(blank=True, default=dict, editable=False),
        ),
        migrations.CreateModel(
            name="CustomField",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "entity",
                    models.CharField(
                        choices=[("contact", "Contact"), ("company", "Company")], max_length=16
                    ),
                ),
                (
                    "key",
                    models.CharField(
                        help_text="Name of the value in the API; fixed.", max_length=50
                    ),
                ),
                ("label", models.CharField(max_length=100)),
                (
                    "type",
                    models.CharField(
                        choices=[
                            ("text", "Text"),
                            ("long_text", "Long text"),
                            ("number", "Number"),
                            ("date", "Date"),
                            ("email", "E-mail address"),
                            ("phone", "Phone number"),
                            ("url", "Web address"),
                            ("boolean", "Yes / no"),
                            ("choice", "Single choice"),
                        ],
                        max_length=16,
                    ),
                ),
                (
                    "options",
                    models.JSONField(
                        blank=True, default=list, help_text="Choices of a single choice."
                    ),
                ),
                (
                    "sensitive",
                    models.BooleanField(
                        default=False,
                        help_text="Values are stored encrypted, like e-mail addresses.",
                    ),
                ),
                ("required", models.BooleanField(default=False)),
                ("position", models.PositiveSmallIntegerField(default=0)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={
                "ordering": ("entity", "position", "id"),
                "constraints": [
                    models.UniqueConstraint(
                        fields=("entity", "key"), name="crm_customfield_key_unique"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("key__regex", "^[a-z][a-z0-9_]{0,49}$")),
                        name="crm_customfield_key_format",
                    ),
                ],
            },
        ),
    ]
