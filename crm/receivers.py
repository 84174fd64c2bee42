"""crm's part of provisioning: a new organization starts with a sales pipeline."""

from typing import Any

from tenants.signals import spare_schema_prepared, tenant_provisioned

from .services import pipeline_create_default


def _default_pipeline(sender: Any, *, from_spare: bool = False, **_: Any) -> None:
    if not from_spare:  # a claimed spare got it when the pool made it
        pipeline_create_default()


def _default_pipeline_in_spare(sender: Any, **_: Any) -> None:
    pipeline_create_default()


tenant_provisioned.connect(_default_pipeline, dispatch_uid="crm.default_pipeline")
# Rename the uid when the default pipeline changes, so spares made with the old one go stale.
spare_schema_prepared.connect(_default_pipeline_in_spare, dispatch_uid="crm.default_pipeline.v1")
