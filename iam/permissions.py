"""DRF permission: the caller must be a member of the tenant the request is for."""

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from .selectors import membership_get


class IsTenantMember(BasePermission):
    """Deny unless the request is on a tenant host and the user holds a membership there."""

    message = "You are not a member of this organization."

    def has_permission(self, request: Request, view: Any) -> bool:
        tenant = getattr(request._request, "tenant", None)
        user = request.user
        if tenant is None or not user or not user.is_authenticated:
            return False
        membership = getattr(request._request, "membership", None)
        if membership is None or membership.tenant_id != tenant.pk:
            membership = membership_get(user=user, tenant=tenant)
            request._request.membership = membership  # type: ignore[attr-defined]
        return membership is not None
