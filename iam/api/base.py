"""The one tenant-aware base for API views: tenant, membership and permissions resolved once."""

from typing import Any

from django.db import connection
from rest_framework import viewsets
from rest_framework.request import Request

from iam.permissions import IsTenantMember


class TenantViewSet(viewsets.ModelViewSet):
    """A model viewset that only ever serves the current tenant's schema.

    It refuses to run unless the connection is on the request's tenant schema, so a
    queryset can never be evaluated against `public` or another tenant by accident.
    """

    permission_classes = [IsTenantMember]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        tenant = getattr(request._request, "tenant", None)
        if tenant is None or connection.schema_name != tenant.schema_name:  # type: ignore[attr-defined]
            raise RuntimeError("TenantViewSet used outside its tenant's schema.")
        super().initial(request, *args, **kwargs)
