"""Who holds a right: the members a right's mail goes to (billing notices to the billing
right's holders)."""

from django.db.models import Q, QuerySet

from iam.models import Membership
from tenants.models import Tenant

from .catalog import BUILT_IN_ROLES


def member_list_with_permission(*, tenant: Tenant, permission: str) -> QuerySet[Membership]:
    """Active members whose built-in role or one of whose custom roles grants `permission`
    ("admin.billing")."""
    roles = [role for role, grants in BUILT_IN_ROLES.items() if permission in grants]
    return (
        Membership.objects.filter(tenant=tenant, deactivated_at=None)
        .filter(Q(role__in=roles) | Q(custom_roles__permissions__has_key=permission))
        .distinct()
    )
