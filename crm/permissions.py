"""Who may change an organization's CRM set-up (its custom fields, its admin): owners and
admins. Members use the set-up; the membership itself is checked before any of this."""

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from iam.permissions import is_tenant_admin


class IsTenantAdminForWrites(BasePermission):
    """Reads for every member, writes for owners and admins. Put after IsTenantMember, which
    resolves the membership of the request's tenant."""

    message = "Only owners and admins of this organization can change this."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return is_tenant_admin(getattr(request._request, "membership", None))
