"""Who may do what in a tenant: membership (the wall), and the owner/admin roles."""

from dataclasses import dataclass
from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from .models import Membership, Role
from .selectors import membership_get
from .services import TokenCredentials

ADMIN_ROLES = frozenset({Role.OWNER, Role.ADMIN})


def is_tenant_admin(membership: Membership | None) -> bool:
    """True for an owner or admin of the request's organization."""
    return membership is not None and membership.role in ADMIN_ROLES


class IsTenantMember(BasePermission):
    """Deny unless the request is on a tenant host and the user holds a membership there."""

    message = "You are not a member of this organization."

    def has_permission(self, request: Request, view: Any) -> bool:
        tenant = getattr(request._request, "tenant", None)
        user = request.user
        if tenant is None or not user or not user.is_authenticated:
            return False
        credentials = request.auth
        if isinstance(credentials, TokenCredentials):
            # Issued for this tenant, and it can't outlive its owner's membership here.
            return credentials.tenant.pk == tenant.pk
        membership = getattr(request._request, "membership", None)
        if membership is None or membership.tenant_id != tenant.pk:
            membership = membership_get(user=user, tenant=tenant)
            request._request.membership = membership  # type: ignore[attr-defined]
        return membership is not None


class IsTenantAdmin(BasePermission):
    """Owners and admins only, reads included (an export of personal data, the member list).
    Put after IsTenantMember, which resolves the membership of the request's tenant."""

    message = "Only owners and admins of this organization can do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return is_tenant_admin(getattr(request._request, "membership", None))


@dataclass(frozen=True)
class MemberActions:
    """What the Members page offers for one membership: the roles it may be switched
    between, as (value, label) (empty: this viewer can't change it), whether it can be
    removed, and whether it is the organization's only owner (who must hand over first)."""

    roles: tuple[tuple[str, str], ...]
    removable: bool
    only_owner: bool = False


def member_actions(*, membership: Membership, viewer_role: str, owner_count: int) -> MemberActions:
    """The changes `membership_role_change` and `membership_remove` would accept from a
    viewer of `viewer_role`, so a page offers only those: owners change anyone and make
    owners, admins switch non-owners among every role but owner and billing, and the only
    owner stays."""
    only_owner = membership.role == Role.OWNER and owner_count <= 1
    if viewer_role not in ADMIN_ROLES:
        return MemberActions(roles=(), removable=False, only_owner=only_owner)
    if membership.role == Role.OWNER and (viewer_role != Role.OWNER or only_owner):
        return MemberActions(roles=(), removable=False, only_owner=only_owner)
    roles = [Role.MEMBER, Role.MANAGER, Role.READ_ONLY, Role.ADMIN]
    if viewer_role == Role.OWNER:  # the billing right is the owners': they alone give it
        roles += [Role.BILLING, Role.OWNER]
    return MemberActions(roles=tuple((r.value, str(r.label)) for r in roles), removable=True)
