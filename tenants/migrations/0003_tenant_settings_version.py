from django.db import migrations, models

# Versions come from a sequence: nextval is never undone, so no two changes (not even one
# rolled back and the next) share a version.
CREATE_SEQUENCE = "CREATE SEQUENCE tenants_tenant_settings_version_seq"
DROP_SEQUENCE = "DROP SEQUENCE tenants_tenant_settings_version_seq"


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0002_spareschema"),
    ]

    operations = [
        migrations.AddField(
            model_name="tenant",
            name="settings_version",
            field=models.BigIntegerField(default=0, editable=False),
        ),
        migrations.RunSQL(CREATE_SEQUENCE, reverse_sql=DROP_SEQUENCE),
    ]
