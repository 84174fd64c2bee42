"""crm's part of provisioning: a new organization starts with a sales pipeline."""

from typing import Any

from tenants.signals import tenant_provisioned

from .services import pipeline_create_default


def _default_pipeline(sender: Any, **_: Any) -> None:
    pipeline_create_default()


tenant_provisioned.connect(_default_pipeline, dispatch_uid="crm.default_pipeline")
