"""Reads of sign-in security: an organization's session rules, whether a user has a second
factor, and the list of a user's sessions."""

import re
from dataclasses import dataclass
from datetime import datetime

from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.utils import timezone

from iam.models import SecuritySettings, User, UserSession
from tenants.models import Tenant

# Settings change rarely and every signed-in request reads them: kept in the cache briefly,
# and dropped when they are saved (services.security_settings_update).
RULES_CACHE_SECONDS = 60
# The second factors that count as MFA: recovery codes alone are only a way back in.
SECOND_FACTORS = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)


@dataclass(frozen=True)
class SessionRules:
    """What an organization asks of sessions on its host (the platform's defaults on the
    public site and where the organization saved nothing)."""

    mfa_required: bool
    idle_minutes: int
    max_hours: int


def session_rules_default() -> SessionRules:
    return SessionRules(
        mfa_required=False,
        idle_minutes=settings.SESSION_IDLE_MINUTES,
        max_hours=settings.SESSION_MAX_HOURS,
    )


def rules_cache_key(tenant: Tenant) -> str:
    """Read and written only while the connection is on the tenant's schema, which the
    cache's key function adds to it."""
    return f"iam.security.rules:{tenant.pk}"


def session_rules(*, tenant: Tenant | None) -> SessionRules:
    """The rules of sessions on the tenant's host; the platform's on the public site."""
    if tenant is None:
        return session_rules_default()
    key = rules_cache_key(tenant)
    cached = cache.get(key)
    if cached is not None:
        return SessionRules(*cached)
    row = security_settings_get(tenant=tenant)
    rules = SessionRules(
        mfa_required=row.mfa_required,
        idle_minutes=row.session_idle_minutes,
        max_hours=row.session_max_hours,
    )
    cache.set(key, (rules.mfa_required, rules.idle_minutes, rules.max_hours), RULES_CACHE_SECONDS)
    return rules


def security_settings_get(*, tenant: Tenant) -> SecuritySettings:
    """The organization's saved settings, or an unsaved row with the platform's defaults."""
    row = SecuritySettings.objects.filter(tenant=tenant).first()
    if row is None:
        defaults = session_rules_default()
        row = SecuritySettings(
            tenant=tenant,
            session_idle_minutes=defaults.idle_minutes,
            session_max_hours=defaults.max_hours,
        )
    return row


def user_has_mfa(*, user: User) -> bool:
    """True when the user signs in with a second factor (an authenticator app or a security
    key / passkey)."""
    return Authenticator.objects.filter(user_id=user.pk, type__in=SECOND_FACTORS).exists()


@dataclass(frozen=True)
class SessionRow:
    """One of a user's sessions, as the Security page lists it."""

    id: int
    device: str
    ip: str | None
    place: str
    signed_in_at: datetime
    last_active_at: datetime
    is_current: bool


def session_list(*, user: User, current_key: str | None) -> list[SessionRow]:
    """The user's sessions that are still alive, most recently used first. Sessions live on
    the host they were opened on: `place` names the organization, or the MyCRM website."""
    alive = Session.objects.filter(expire_date__gt=timezone.now()).values("session_key")
    rows = (
        UserSession.objects.filter(user=user, session_key__in=alive)
        .select_related("tenant")
        .order_by("-last_active_at", "-pk")
    )
    return [
        SessionRow(
            id=row.pk,
            device=device_label(row.user_agent),
            ip=row.ip,
            place=row.tenant.name if row.tenant else "MyCRM website",
            signed_in_at=row.signed_in_at,
            last_active_at=row.last_active_at,
            is_current=bool(current_key) and row.session_key == current_key,
        )
        for row in rows
    ]


# Tried in order: Edge and Opera name Chrome too, and every browser on iOS names Safari.
_BROWSERS = (
    ("Edge", re.compile(r"Edg(e|A|iOS)?/")),
    ("Opera", re.compile(r"OPR/|Opera")),
    ("Firefox", re.compile(r"Firefox/|FxiOS/")),
    ("Chrome", re.compile(r"Chrome/|CriOS/|Chromium/")),
    ("Safari", re.compile(r"Safari/")),
)
_SYSTEMS = (
    ("iOS", re.compile(r"iPhone|iPad|iPod")),
    ("Android", re.compile(r"Android")),
    ("ChromeOS", re.compile(r"CrOS")),
    ("Windows", re.compile(r"Windows")),
    ("macOS", re.compile(r"Macintosh|Mac OS X")),
    ("Linux", re.compile(r"Linux")),
)


def device_label(user_agent: str) -> str:
    """ "Firefox on Windows" from a User-Agent header; what can't be told stays unsaid."""
    browser = next((name for name, found in _BROWSERS if found.search(user_agent)), "")
    system = next((name for name, found in _SYSTEMS if found.search(user_agent)), "")
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown device"
