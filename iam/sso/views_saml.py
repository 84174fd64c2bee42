"""Actions of the single sign-on page on a SAML connection: signing our requests or not,
a new key pair, and fetching the identity provider's metadata again now."""

from typing import cast

import structlog
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from iam.authz.guards import requires
from problems.exceptions import DomainError
from tenants.models import Tenant

from .models import SsoConnection
from .services import (
    connection_metadata_refresh,
    connection_sign_requests_set,
    connection_sp_key_rotate,
)

log = structlog.get_logger(__name__)


def _connection(request: HttpRequest, pk: int) -> SsoConnection:
    """The organization's SAML connection `pk`; 404 for one of another organization."""
    tenant = cast(Tenant, request.tenant)  # type: ignore[attr-defined]
    return get_object_or_404(
        SsoConnection.objects.select_related("tenant"),
        pk=pk,
        tenant=tenant,
        protocol=SsoConnection.Protocol.SAML,
    )


@requires("admin.sso")
@require_POST
def sign_requests(request: HttpRequest, pk: int) -> HttpResponse:
    connection = _connection(request, pk)
    enabled = request.POST.get("enabled") == "1"
    connection_sign_requests_set(connection=connection, enabled=enabled)
    messages.success(
        request,
        f"{connection.name} signs its requests now."
        if enabled
        else f"{connection.name} no longer signs its requests.",
    )
    return redirect("iam_sso:settings")


@requires("admin.sso")
@require_POST
def key_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    connection = _connection(request, pk)
    connection_sp_key_rotate(connection=connection)
    messages.success(
        request,
        f"{connection.name} has a new key pair. Give your identity provider the new "
        "metadata: it checks signed requests and encrypts to the new certificate.",
    )
    return redirect("iam_sso:settings")


@requires("admin.sso")
@require_POST
def metadata_refresh(request: HttpRequest, pk: int) -> HttpResponse:
    connection = _connection(request, pk)
    try:
        refreshed = connection_metadata_refresh(connection=connection)
    except DomainError as exc:
        messages.error(request, f"{connection.name}: {exc.detail} The metadata saved stays.")
    else:
        if refreshed.certificates_changed:
            text = "the identity provider's signing certificate changed and is now used."
        elif refreshed.changed:
            text = "the metadata was updated."
        else:
            text = "the metadata is unchanged."
        messages.success(request, f"{connection.name}: {text}")
    return redirect("iam_sso:settings")
