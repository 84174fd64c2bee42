"""The OpenAPI schema and Swagger UI of an organization's API, for its members only."""

import functools
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseBase
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from iam.authz.guards import Authorized
from iam.permissions import IsTenantMember
from tenants.services import tenant_url


@functools.cache
def generated_schema() -> dict[str, Any]:
    """The schema, generated once per process: it depends on the code alone (no request, no
    user: every operation is listed for everyone), so every organization gets the same."""
    generator = spectacular_settings.DEFAULT_GENERATOR_CLASS()
    schema: dict[str, Any] = generator.get_schema(request=None, public=True)
    return schema


def organization_schema(tenant: Any) -> dict[str, Any]:
    """The schema as this organization's members see it: with its own address."""
    schema = generated_schema()
    address = tenant_url(tenant, "").rstrip("/")
    return {
        **schema,
        "info": {
            **schema["info"],
            "description": (
                f"The REST API of {tenant.name}, at `{address}/api/v1/`. "
                f"{schema['info']['description']}"
            ),
        },
        "servers": [{"url": address, "description": tenant.name}],
    }


class OrganizationSchemaView(SpectacularAPIView):
    """`/api/schema/`: members only, by session or token."""

    permission_classes = [IsTenantMember, Authorized]
    member_route = True

    @extend_schema(exclude=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(
            organization_schema(request._request.tenant),  # type: ignore[attr-defined]
            headers={
                "Content-Disposition": f'inline; filename="{self._get_filename(request, None)}"'
            },
        )


class OrganizationDocsView(SpectacularSwaggerView):
    """`/api/docs/`: Swagger UI for members, with a way back to the workspace. A visitor who
    isn't signed in is sent to sign in first, as on every other page."""

    permission_classes = [IsTenantMember, Authorized]
    member_route = True

    template_name = "api/docs.html"

    # DRF finalizes any Django response, a redirect included; its stubs expect its own.
    def handle_exception(self, exc: Exception) -> HttpResponseBase:  # type: ignore[override]
        if isinstance(exc, NotAuthenticated):
            return redirect_to_login(self.request.get_full_path(), settings.LOGIN_URL)
        return super().handle_exception(exc)
