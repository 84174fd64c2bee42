"""The Celery app: workers run `python -m celery -A config worker`.

Tasks carry the schema they were queued in and the worker enters that tenant first
(tenant-schemas-celery). By default a task must have a tenant (`TenantRequiredTask`); a task
on shared tables declares `base=PublicTask` (see `tenants/celery.py`).
"""

import os

from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = CeleryApp("mycrm", task_cls="tenants.celery:TenantRequiredTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
