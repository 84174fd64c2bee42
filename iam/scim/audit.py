"""SCIM's changes in the organization's audit trail: one row per change, written in the
change's transaction. Who acted and through what (`via="scim"`, the token) come from the
`acting_as` block the SCIM endpoints open (iam.scim.views)."""

from typing import Any

from iam.audit import audit_record
from tenants.models import Tenant


def record(
    *,
    tenant: Tenant,
    action: str,
    target_type: str,
    target_id: str,
    target_label: str = "",
    changes: dict[str, Any] | None = None,
) -> None:
    audit_record(
        action=action,
        target=(target_type, target_id, target_label),
        changes=changes or {},
        tenant=tenant,
    )
