"""The organization admin used to write its log to the shared `django_admin_log`, where one
organization's history showed on another's host and outlived the organization. It now keeps
its log in the organization's schema (`crm.AdminLogEntry`). The old rows can't be given back
to their organizations (nothing in them names one), so they are removed: only the
organization admin ever logged changes to CRM records."""

from typing import Any

from django.db import migrations

ORGANIZATION_APPS = ["crm"]


def remove_organization_admin_log(apps: Any, schema_editor: Any) -> None:
    log_entry = apps.get_model("admin", "LogEntry")
    log_entry.objects.using(schema_editor.connection.alias).filter(
        content_type__app_label__in=ORGANIZATION_APPS
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0003_tenant_settings_version"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(remove_organization_admin_log, migrations.RunPython.noop),
    ]
