"""Writes of sign-in security: the index of a user's sessions, ending sessions, and an
organization's security settings."""

from datetime import datetime
from importlib import import_module

import structlog
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.core.cache import cache
from django.db import transaction
from django_tenants.utils import schema_context

from iam.audit.services import audit_record, audit_snapshot, changes_between
from iam.models import SecuritySettings, User, UserSession
from problems.exceptions import InvalidFields
from tenants.models import Tenant

from .exceptions import MfaRequiredOfAdmin, SessionNotFound
from .selectors import rules_cache_key, security_settings_get, user_has_mfa

log = structlog.get_logger(__name__)

IDLE_MINUTES_RANGE = (5, 24 * 60)
MAX_HOURS_RANGE = (1, 30 * 24)
_USER_AGENT_LENGTH = UserSession._meta.get_field("user_agent").max_length or 300


def _session_store(session_key: str) -> SessionBase:
    store: SessionBase = import_module(settings.SESSION_ENGINE).SessionStore(
        session_key=session_key
    )
    return store


def session_record(
    *,
    user: User,
    session_key: str,
    tenant: Tenant | None,
    ip: str | None,
    user_agent: str,
    at: datetime,
    signed_in_at: datetime | None = None,
) -> None:
    """Keep the index row of a session up to date: at sign-in (`signed_in_at` given, which
    starts it anew) and on activity (which moves `last_active_at`, or adds the row of a
    session the index did not hold yet)."""
    fields = {
        "user": user,
        "tenant": tenant,
        "ip": ip,
        "user_agent": user_agent[:_USER_AGENT_LENGTH],
        "last_active_at": at,
    }
    if signed_in_at is None:
        touched = UserSession.objects.filter(session_key=session_key, user=user).update(
            last_active_at=at
        )
        if touched:
            return
    UserSession.objects.update_or_create(
        session_key=session_key, defaults={**fields, "signed_in_at": signed_in_at or at}
    )


def session_forget(*, session_key: str) -> None:
    """Drop the index row of a session that ended (signed out, timed out)."""
    UserSession.objects.filter(session_key=session_key).delete()


def session_end(*, user: User, session_id: int) -> None:
    """Sign out one of the user's sessions, wherever it is; another user's is not found."""
    row = UserSession.objects.filter(pk=session_id, user=user).first()
    if row is None:
        raise SessionNotFound()
    _session_store(row.session_key).delete()
    row.delete()
    log.info("session.ended", user=user.pk, session=session_id)


def session_end_all(*, user: User, except_key: str | None = None) -> int:
    """Sign the user out of every session (all but `except_key`, the one in use, when
    given): after a password change, or when they ask to. Returns how many ended."""
    rows = UserSession.objects.filter(user=user)
    if except_key:
        rows = rows.exclude(session_key=except_key)
    keys = list(rows.values_list("session_key", flat=True))
    for key in keys:
        _session_store(key).delete()
    UserSession.objects.filter(user=user, session_key__in=keys).delete()
    log.info("session.ended_all", user=user.pk, count=len(keys), kept_current=bool(except_key))
    return len(keys)


def security_settings_update(
    *,
    tenant: Tenant,
    by: User,
    mfa_required: bool,
    session_idle_minutes: int,
    session_max_hours: int,
) -> SecuritySettings:
    """Save the organization's MFA requirement and session timeouts. Requiring MFA is
    refused to an admin who has none, whom it would lock out at once."""
    errors: dict[str, list[str]] = {}
    low, high = IDLE_MINUTES_RANGE
    if not low <= session_idle_minutes <= high:
        errors["session_idle_minutes"] = [f"Enter between {low} and {high} minutes."]
    low, high = MAX_HOURS_RANGE
    if not low <= session_max_hours <= high:
        errors["session_max_hours"] = [f"Enter between {low} and {high} hours."]
    if errors:
        raise InvalidFields(errors)
    if mfa_required and not user_has_mfa(user=by):
        raise MfaRequiredOfAdmin(field="mfa_required")
    fields = ("mfa_required", "session_idle_minutes", "session_max_hours")
    with transaction.atomic():
        row = SecuritySettings.objects.select_for_update().filter(tenant=tenant).first()
        before = audit_snapshot(row or security_settings_get(tenant=tenant), fields)
        row, _ = SecuritySettings.objects.update_or_create(
            tenant=tenant,
            defaults={
                "mfa_required": mfa_required,
                "session_idle_minutes": session_idle_minutes,
                "session_max_hours": session_max_hours,
            },
        )
        changes = changes_between(before, audit_snapshot(row, fields), model=SecuritySettings)
        if changes:
            audit_record(
                action="security_settings.updated",
                target=row,
                changes=changes,
                actor=by,
                tenant=tenant,
            )
        transaction.on_commit(lambda: _rules_forget(tenant))
    log.info(
        "security_settings.updated",
        tenant=tenant.slug,
        by=by.pk,
        mfa_required=mfa_required,
        idle_minutes=session_idle_minutes,
        max_hours=session_max_hours,
    )
    return row


def _rules_forget(tenant: Tenant) -> None:
    with schema_context(tenant.schema_name):
        cache.delete(rules_cache_key(tenant))
