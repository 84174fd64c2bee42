"""Background work on the tables of iam inside an organization. Tasks run in the organization
they were queued in (`tenants.celery.TenantRequiredTask`); the beat schedule reaches every
organization through `tenants.tasks.organizations_fan_out`."""

from celery import shared_task
from django.db import connection

from iam.audit import audit_purge


@shared_task(ignore_result=True)  # the count goes to the log
def audit_retention_purge() -> int:
    """Delete this organization's audit rows older than its retention
    (SecuritySettings.audit_retention_days); the chain keeps verifying from its anchor."""
    return audit_purge(tenant=connection.tenant)  # type: ignore[attr-defined]
