"""iam's part of provisioning: the owner becomes the new organization's first member."""

from typing import Any

from tenants.models import Tenant
from tenants.signals import tenant_provisioned

from .services import membership_create_owner_of_new_tenant


def _owner_membership(sender: type[Tenant], *, tenant: Tenant, owner: Any, **_: Any) -> None:
    membership_create_owner_of_new_tenant(user=owner, tenant=tenant)


tenant_provisioned.connect(_owner_membership, dispatch_uid="iam.owner_membership")
