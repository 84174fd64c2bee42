"""API tokens get scopes and an expiry; service tokens belong to the organization, acting
as a service account that is never a member. Tokens made before scopes existed could do
everything their owner could, and keep exactly that: every record type to read and write,
and the owner's admin rights."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("iam", "0006_roles_teams_policies"),
        ("tenants", "0009_tenant_time_zone"),
    ]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="created_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="expires_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="scopes",
            field=models.JSONField(default=list),
        ),
        migrations.RunSQL(
            """UPDATE iam_apitoken SET scopes = '["*:write", "admin"]'::jsonb""",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AddField(
            model_name="apitoken",
            name="service_account",
            field=models.OneToOneField(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="service_token",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="user",
            name="is_service_account",
            field=models.BooleanField(default=False),
        ),
        migrations.AlterField(
            model_name="apitoken",
            name="user",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="api_tokens",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddConstraint(
            model_name="apitoken",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("service_account__isnull", True), ("user__isnull", False)),
                    models.Q(("service_account__isnull", False), ("user__isnull", True)),
                    _connector="OR",
                ),
                name="iam_apitoken_one_owner",
            ),
        ),
    ]
