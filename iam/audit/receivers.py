"""Audit rows for what happens outside our services: sign-in and sign-out on an
organization's host (Django's auth signals), and what platform operators do to an
organization (`tenants.signals.operator_acted`, since tenants may not import iam)."""

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.http import HttpRequest
from django_tenants.utils import get_public_schema_name

from tenants.models import Tenant
from tenants.signals import operator_acted

from .services import audit_record


def _tenant_of(request: HttpRequest | None) -> Tenant | None:
    tenant = getattr(request, "tenant", None)
    if tenant is None or tenant.schema_name == get_public_schema_name():
        return None
    return tenant


def _signed_in(sender: Any, request: HttpRequest | None = None, user: Any = None, **_: Any) -> None:
    from iam.sso.receivers import signed_in_through_sso

    tenant = _tenant_of(request)
    if request is not None and tenant is not None and user is not None:
        audit_record(
            action="sign_in.succeeded",
            target=("member", user.pk, user.email),
            actor=user,
            # A sign-in that began at the organization's identity provider is through SSO,
            # its second factor included; otherwise the request's own channel.
            via="sso" if signed_in_through_sso(request, user) else None,
            tenant=tenant,
        )


def _sign_in_failed(
    sender: Any,
    credentials: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
    **_: Any,
) -> None:
    tenant = _tenant_of(request)
    if tenant is None:
        return
    typed = str((credentials or {}).get("email") or (credentials or {}).get("username") or "")
    # Its own transaction: the failed attempt is kept whatever the sign-in view does next.
    with transaction.atomic():
        audit_record(
            action="sign_in.failed",
            target=("member", "", typed[:200]),
            actor=None,
            via="session",
            tenant=tenant,
        )


def _signed_out(
    sender: Any, request: HttpRequest | None = None, user: Any = None, **_: Any
) -> None:
    tenant = _tenant_of(request)
    if tenant is not None and user is not None:
        audit_record(
            action="sign_out",
            target=("member", user.pk, user.email),
            actor=user,
            tenant=tenant,
        )


def _operator_acted(
    sender: Any,
    *,
    tenant: Tenant,
    operator: Any,
    action: str,
    changes: dict[str, Any] | None = None,
    **_: Any,
) -> None:
    audit_record(
        action=f"operator.{action}",
        target=("organization", tenant.pk, tenant.name),
        changes=changes or {},
        actor=operator,
        via="operator",
        tenant=tenant,
    )


user_logged_in.connect(_signed_in, dispatch_uid="iam.audit.signed_in")
user_login_failed.connect(_sign_in_failed, dispatch_uid="iam.audit.sign_in_failed")
user_logged_out.connect(_signed_out, dispatch_uid="iam.audit.signed_out")
operator_acted.connect(_operator_acted, dispatch_uid="iam.audit.operator_acted")
