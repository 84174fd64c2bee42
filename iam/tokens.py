"""Every write of API tokens, and the check of a token on each API call.

Two kinds of token, one table (`ApiToken`):

- a *personal* token acts as the member who made it, at one organization, within its
  scopes; it goes with its owner's membership (a foreign key deletes it) and stops
  working while the organization's identity provider has that membership switched off;
- a *service* token belongs to the organization: it acts as a service account made for it
  alone (a `User` flagged `is_service_account`, with no password and no membership, so it
  never signs in, is never listed among members and never takes a seat). Records it
  creates are stamped with that account like any user's, and it outlives whoever made it.
  Its rights are exactly its scopes (`iam.token_scopes.scope_grants`).

Both expire at `expires_at` unless made to last ("never"), and only a SHA-256 digest of
the token is kept.
"""

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import structlog
from django.db import transaction
from django.utils import timezone

from problems.exceptions import InvalidFields
from tenants.models import Tenant

from . import authz, limits
from .audit import audit_record
from .authz import Principal
from .authz.catalog import admin_permission
from .exceptions import NotAllowed, NotAMember, TokenInUse
from .models import ApiToken, Membership, User
from .token_scopes import (
    FULL_SCOPES,
    scope_allows,
    scopes_beyond,
    scopes_errors,
    scopes_normalize,
)

log = structlog.get_logger(__name__)

TOKEN_PREFIX = "mcrm_"  # noqa: S105 - a public marker, not a secret
VIA_TOKEN = "token"  # noqa: S105 - a name, not a secret
VIA_SERVICE_TOKEN = "service_token"  # noqa: S105 - a name, not a secret
DEFAULT_EXPIRY_DAYS = 90
# What the pages offer: days, or "never".
EXPIRY_CHOICES: tuple[tuple[str, str], ...] = (
    ("7", "7 days"),
    ("30", "30 days"),
    ("90", "90 days"),
    ("365", "1 year"),
    ("never", "Never"),
)
SERVICE_ACCOUNT_DOMAIN = "service.invalid"  # RFC 2606: no mail can ever reach it


@dataclass(frozen=True)
class TokenCredentials:
    """Who a valid API token speaks for, at the one tenant it was issued for: a member
    there (`via` "token"), or the organization's service account (`via` "service_token");
    and the scopes that bound what it may do."""

    token_id: int
    user: User
    tenant: Tenant
    scopes: frozenset[str] = frozenset(FULL_SCOPES)
    via: str = VIA_TOKEN
    expires_at: dt.datetime | None = None


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def expiry_from_choice(choice: str, *, now: dt.datetime | None = None) -> dt.datetime | None:
    """The `expires_at` of a page's choice ("30", "never"); raises ValueError for others."""
    if choice == "never":
        return None
    if choice not in {value for value, _ in EXPIRY_CHOICES}:
        raise ValueError(choice)
    return (now or timezone.now()) + dt.timedelta(days=int(choice))


def _name_clean(name: str, default: str) -> str:
    return (name or "").strip()[:100] or default


def _checked(*, scopes: Iterable[str], expires_at: dt.datetime | None) -> list[str]:
    """Validated scopes (normalized), or InvalidFields naming scopes and expiry both."""
    raw = list(scopes) if isinstance(scopes, list | tuple | set | frozenset) else scopes
    errors: dict[str, list[str]] = {}
    scope_errors = scopes_errors(raw)
    if scope_errors:
        errors["scopes"] = scope_errors
    if expires_at is not None and (timezone.is_naive(expires_at) or expires_at <= timezone.now()):
        errors["expires_at"] = ["Choose a moment in the future, with its time zone."]
    if errors:
        raise InvalidFields(errors)
    return scopes_normalize(raw)


def _new_raw() -> tuple[str, str, str]:
    """A fresh token: its plaintext, the prefix shown to recognize it, and its digest."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return raw, raw[: len(TOKEN_PREFIX) + 6], digest(raw)


def api_token_create(
    *,
    user: User,
    tenant: Tenant,
    name: str,
    scopes: Iterable[str] = FULL_SCOPES,
    expires_at: dt.datetime | None = None,
    acting: TokenCredentials | None = None,
) -> tuple[ApiToken, str]:
    """Issue a personal token for `user` at `tenant`; return it with its plaintext, shown
    only once. It can do what its owner's roles allow there and its scopes also allow.
    `acting`: the token the request came with, which the new one can't outreach."""
    if not Membership.objects.filter(user=user, tenant=tenant, deactivated_at=None).exists():
        raise NotAMember()
    clean = _checked(scopes=scopes, expires_at=expires_at)
    _within_acting_token(scopes=clean, expires_at=expires_at, acting=acting)
    raw, prefix, hashed = _new_raw()
    with transaction.atomic():
        limits.require_capacity(tenant=tenant, name="api_tokens")
        token = ApiToken.objects.create(
            user=user,
            created_by=user,
            tenant=tenant,
            name=_name_clean(name, "API token"),
            prefix=prefix,
            digest=hashed,
            scopes=clean,
            expires_at=expires_at,
        )
        _audit_created(token, action="api_token.created", actor=user)
    log.info("api_token.created", tenant=tenant.slug, user=user.pk, token=token.pk, scopes=clean)
    return token, raw


def _audit_target(token: ApiToken) -> tuple[str, int, str]:
    return ("service_token" if token.is_service else "api_token", token.pk, token.name)


def _audit_created(token: ApiToken, *, action: str, actor: User) -> None:
    """The new token in the organization's audit log: its scopes and expiry, never its
    secret."""
    expires = token.expires_at.isoformat() if token.expires_at else None
    audit_record(
        action=action,
        target=_audit_target(token),
        changes={"scopes": [None, token.scopes], "expires_at": [None, expires]},
        actor=actor,
        tenant=token.tenant,
    )


def api_token_revoke(
    *, token: ApiToken, by: User | None = None, acting: TokenCredentials | None = None
) -> ApiToken:
    """Revoke a token (personal or service): it stops working at once. Revoking twice is
    harmless. A service token's account is switched off with it. `by`: who revoked it, for
    the audit log (default: whoever the request is from).

    `acting`, the token the request came with, can't be the one revoked: a script would cut
    off its own answer and every call after it; the page, or another token, revokes it."""
    if acting is not None and acting.token_id == token.pk:
        raise TokenInUse(
            "This is the token you are calling with; revoke it on the API tokens page or "
            "with another token."
        )
    if token.revoked_at is None:
        with transaction.atomic():
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            if token.service_account_id is not None:
                User.objects.filter(pk=token.service_account_id).update(is_active=False)
            audit_record(
                action="service_token.revoked" if token.is_service else "api_token.revoked",
                target=_audit_target(token),
                actor=by,
                tenant=token.tenant,
            )
        log.info("api_token.revoked", tenant=token.tenant_id, token=token.pk)
    return token


# Service tokens -------------------------------------------------------------------------

_NOT_MANAGER = "Managing the organization's service tokens takes the API tokens admin right."


def _principal(*, user: User, tenant: Tenant, acting: TokenCredentials | None) -> Principal:
    """Who is making a token: the member, bounded by the token they call with, if any."""
    if acting is None:
        return authz.principal_for(user=user, tenant=tenant)
    return authz.principal_for(user=user, tenant=tenant, via=acting.via, token_scopes=acting.scopes)


def service_tokens_manageable(
    *, user: User, tenant: Tenant, acting: TokenCredentials | None = None
) -> bool:
    """Whether `user` may see, create and revoke `tenant`'s service tokens (the admin right
    "api_tokens"; through a token, one with the "admin" scope)."""
    principal = _principal(user=user, tenant=tenant, acting=acting)
    return authz.may(principal, admin_permission("api_tokens"))


def _within_acting_token(
    *, scopes: list[str], expires_at: dt.datetime | None, acting: TokenCredentials | None
) -> None:
    """A token made through another token can't reach further, nor last longer, than it:
    otherwise a narrow or short-lived token could mint a wider or lasting one."""
    if acting is None:
        return
    errors: dict[str, list[str]] = {}
    beyond = scopes_beyond(scopes, may=lambda p: scope_allows(acting.scopes, p))
    if beyond:
        errors["scopes"] = [
            f"The token you call with doesn't reach {', '.join(beyond)}; "
            "a token can't make a token that does more than it."
        ]
    if acting.expires_at is not None and (expires_at is None or expires_at > acting.expires_at):
        errors["expires_at"] = [
            "The token you call with expires at "
            f"{acting.expires_at.isoformat()}; a token it makes must expire no later."
        ]
    if errors:
        raise InvalidFields(errors)


def service_token_create(
    *,
    tenant: Tenant,
    by: User,
    name: str,
    scopes: Iterable[str],
    expires_at: dt.datetime | None = None,
    acting: TokenCredentials | None = None,
) -> tuple[ApiToken, str]:
    """Issue a service token of `tenant`, by a member who manages them; return it with its
    plaintext, shown only once. Its service account is made with it, in one transaction.

    Nobody hands out more than they hold: each scope's rights must be rights of `by` (and
    of the token `by` calls with, `acting`)."""
    principal = _principal(user=by, tenant=tenant, acting=acting)
    if not authz.may(principal, admin_permission("api_tokens")):
        raise NotAllowed(_NOT_MANAGER)
    clean = _checked(scopes=scopes, expires_at=expires_at)
    beyond = scopes_beyond(clean, may=lambda permission: authz.may(principal, permission))
    if beyond:
        raise InvalidFields(
            {"scopes": [f"You can't give rights you don't hold yourself: {', '.join(beyond)}."]}
        )
    _within_acting_token(scopes=clean, expires_at=expires_at, acting=acting)
    name = _name_clean(name, "Service token")
    raw, prefix, hashed = _new_raw()
    with transaction.atomic():
        limits.require_capacity(tenant=tenant, name="api_tokens")
        account = User(
            email=f"service+{secrets.token_hex(8)}@{tenant.slug}.{SERVICE_ACCOUNT_DOMAIN}",
            full_name=f"{name} (service token)"[:200],
            is_service_account=True,
        )
        account.set_unusable_password()
        account.save()
        token = ApiToken.objects.create(
            service_account=account,
            created_by=by,
            tenant=tenant,
            name=name,
            prefix=prefix,
            digest=hashed,
            scopes=clean,
            expires_at=expires_at,
        )
        # Named after its token, now that the token has an id: one account per token.
        account.email = f"service+{token.pk}@{tenant.slug}.{SERVICE_ACCOUNT_DOMAIN}"
        account.save(update_fields=["email"])
        _audit_created(token, action="service_token.created", actor=by)
    log.info("service_token.created", tenant=tenant.slug, by=by.pk, token=token.pk, scopes=clean)
    return token, raw


def service_token_revoke(
    *, token: ApiToken, by: User, acting: TokenCredentials | None = None
) -> ApiToken:
    """Revoke one of the organization's service tokens, by a member who manages them."""
    if not token.is_service:
        raise NotAllowed("This is a personal token; its owner revokes it.")
    if not service_tokens_manageable(user=by, tenant=token.tenant, acting=acting):
        raise NotAllowed(_NOT_MANAGER)
    return api_token_revoke(token=token, by=by, acting=acting)


# Authentication -------------------------------------------------------------------------

# The hot path of every API call: the token and the user it acts as in one statement,
# written out so that no ORM query has to be compiled per request. A personal token's
# owner is a member of its tenant: the token can't outlive the membership (a foreign key
# deletes it with it, iam migration 0003), so the membership is only probed, through its
# unique (user, tenant) index, for being switched off; its row is read only when a role
# matters (iam.authentication). A service token acts as its service account. The clock is
# the application's (a parameter), as everywhere tokens are made and shown.
_CREDENTIALS_SQL = """
    SELECT u.*, t.id AS token_id, t.last_used_at AS token_last_used_at,
           t.scopes AS token_scopes, t.expires_at AS token_expires_at,
           t.user_id IS NULL AS token_is_service
    FROM iam_apitoken t
    JOIN iam_user u ON u.id = COALESCE(t.user_id, t.service_account_id)
    WHERE t.digest = %s AND t.tenant_id = %s AND t.revoked_at IS NULL AND u.is_active
      AND (t.expires_at IS NULL OR t.expires_at > %s)
      AND NOT EXISTS (
          SELECT 1 FROM iam_membership m
          WHERE m.user_id = t.user_id AND m.tenant_id = t.tenant_id
            AND m.deactivated_at IS NOT NULL
      )
"""


def api_token_authenticate(*, raw: str, tenant: Tenant) -> TokenCredentials | None:
    """The live token matching `raw` for this tenant, or None: unknown, revoked, expired,
    another tenant's, or its owner switched off there."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    now = timezone.now()
    user = next(iter(User.objects.raw(_CREDENTIALS_SQL, [digest(raw), tenant.pk, now])), None)
    if user is None:
        return None
    extra = user.__dict__
    last_used_at = extra["token_last_used_at"]
    if last_used_at is None or (now - last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=extra["token_id"]).update(last_used_at=now)
    scopes = extra["token_scopes"]
    if isinstance(scopes, str):  # jsonb comes back as text, which the ORM would decode
        scopes = json.loads(scopes)
    return TokenCredentials(
        token_id=extra["token_id"],
        user=user,
        tenant=tenant,
        scopes=frozenset(scopes),
        via=VIA_SERVICE_TOKEN if extra["token_is_service"] else VIA_TOKEN,
        expires_at=extra["token_expires_at"],
    )
