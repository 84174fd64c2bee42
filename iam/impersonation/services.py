"""Every write of operator impersonation: starting it (operator admin, public site), entering
it (the organization's host), ending it, and the owners' switch that refuses it.

The browser is carried from the public site to the organization's host as the sign-in
handoff does (`iam.services.handoff_url`): the organization's host first leaves a nonce in
the browser's cookie, and the public site answers with a one-minute, one-time link bound to
that nonce and to the organization, so the link works in that browser, on that host, once.
"""

import datetime as dt
import hashlib
import hmac
import re
import secrets
from typing import Any

import structlog
from django.core import signing
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from iam.audit import audit_record, audit_snapshot, changes_between
from iam.exceptions import NotAllowed
from iam.models import Membership, Role, SecuritySettings, User
from iam.services import handoff_state_new
from problems.exceptions import InvalidFields
from tenants.models import Tenant
from tenants.services import tenant_url
from tenants.signals import operator_acted

from .exceptions import (
    ImpersonationInvalid,
    ImpersonationNotPermitted,
    OperatorAccessRefused,
)
from .models import Impersonation

log = structlog.get_logger(__name__)

PERMISSION = "iam_impersonation.impersonate_member"
# The hard limit of one impersonation, whatever the organization's session rules say.
TIME_LIMIT = dt.timedelta(minutes=60)
REASON_MAX_LENGTH = 500
LINK_MAX_AGE = 60  # seconds
ENTER_PATH = "/auth/handoff/operator/"
START_PATH = "/auth/handoff/operator/start/"
_SALT = "iam.impersonation"
_STATE = re.compile(r"[0-9a-f]{64}")


def may_impersonate(operator: User) -> bool:
    """Whether this operator account holds the dedicated permission (superusers do)."""
    return bool(operator.is_active and operator.is_staff and operator.has_perm(PERMISSION))


def operator_access_allowed(*, tenant: Tenant) -> bool:
    """Whether the organization's owners let platform operators act as its members."""
    allowed = (
        SecuritySettings.objects.filter(tenant=tenant)
        .values_list("operator_access_allowed", flat=True)
        .first()
    )
    return True if allowed is None else bool(allowed)


def _refusal(tenant: Tenant) -> OperatorAccessRefused:
    return OperatorAccessRefused(
        f"The owners of {tenant.name} have switched off operator access in their Security "
        "settings, so nobody can act as its members. Ask them to switch it on for a while."
    )


def impersonation_start(
    *, tenant: Tenant, operator: User, member_id: Any, reason: str
) -> Impersonation:
    """Open an impersonation of one member of `tenant` by `operator`, with the reason the
    organization will read in its audit log, and log its start there in the same
    transaction. A refusal by the organization's owners is logged there too."""
    if not may_impersonate(operator):
        raise ImpersonationNotPermitted()
    reason = (reason or "").strip()
    errors: dict[str, list[str]] = {}
    if not reason:
        errors["reason"] = ["Say why you act as this member: the organization reads it."]
    elif len(reason) > REASON_MAX_LENGTH:
        errors["reason"] = [f"Keep the reason under {REASON_MAX_LENGTH} characters."]
    membership = None
    if str(member_id or "").isdigit():
        membership = (
            Membership.objects.filter(tenant=tenant, user_id=int(member_id), deactivated_at=None)
            .select_related("user")
            .first()
        )
    if membership is None or not membership.user.is_active:
        errors["member"] = ["Choose an active member of this organization."]
    if errors:
        raise InvalidFields(errors)
    assert membership is not None  # noqa: S101 - checked with the errors above
    member = membership.user
    if tenant.is_suspended:
        raise NotAllowed(f"{tenant.name} is suspended: restore it before acting as a member.")
    if not operator_access_allowed(tenant=tenant):
        with transaction.atomic():
            operator_acted.send(
                sender=Tenant,
                tenant=tenant,
                operator=operator,
                action="impersonation_refused",
                changes={"member": [None, member.email], "reason": [None, reason]},
            )
        log.info("impersonation.refused", tenant=tenant.slug, operator=operator.pk)
        raise _refusal(tenant)
    now = timezone.now()
    with transaction.atomic():
        row = Impersonation.objects.create(
            tenant=tenant,
            operator=operator,
            member=member,
            reason=reason,
            started_at=now,
            expires_at=now + TIME_LIMIT,
        )
        operator_acted.send(
            sender=Tenant,
            tenant=tenant,
            operator=operator,
            action="impersonation_started",
            changes={
                "member": [None, member.email],
                "reason": [None, reason],
                "expires_at": [None, row.expires_at.isoformat(timespec="seconds")],
            },
        )
    log.info(
        "impersonation.started",
        tenant=tenant.slug,
        operator=operator.pk,
        member=member.pk,
        impersonation=row.pk,
    )
    return row


def impersonation_start_url(*, impersonation: Impersonation) -> str:
    """Where the operator's browser goes first: the organization's host, which leaves its
    nonce in the browser and asks the public site back for the link."""
    return tenant_url(impersonation.tenant, f"{START_PATH}?impersonation={impersonation.pk}")


def impersonation_state_new() -> tuple[str, str]:
    """A nonce for the browser's cookie on the organization's host, and the state that names
    it in links (its SHA-256), as the sign-in handoff makes them."""
    return handoff_state_new()


def _state_of(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def impersonation_link(*, impersonation_id: Any, operator: User, state: str) -> str:
    """The one-time link that signs the operator's browser in on the organization's host as
    the member, for the operator who started the impersonation only, while it has not been
    entered nor ended, in the browser whose nonce `state` names."""
    if not _STATE.fullmatch(state or ""):
        raise ImpersonationInvalid(
            "This operator sign-in did not start on the organization's host."
        )
    row = (
        Impersonation.objects.filter(
            pk=int(impersonation_id) if str(impersonation_id).isdigit() else 0,
            operator=operator,
            entered_at=None,
            ended_at=None,
        )
        .select_related("tenant")
        .first()
    )
    if row is None or not row.is_open:
        raise ImpersonationInvalid()
    payload = {"i": row.pk, "t": row.tenant_id, "s": state, "n": secrets.token_urlsafe(16)}
    token = signing.dumps(payload, salt=_SALT, compress=True)
    return tenant_url(row.tenant, f"{ENTER_PATH}?token={token}")


def impersonation_enter(*, token: str, tenant: Tenant, nonce: str) -> Impersonation:
    """Redeem a link on the organization's host: the impersonation it names, once, in the
    browser holding `nonce`, at the organization it was started for, while still open and
    allowed. Raises ImpersonationInvalid (or OperatorAccessRefused) otherwise."""
    try:
        payload = signing.loads(token, salt=_SALT, max_age=LINK_MAX_AGE)
    except signing.BadSignature as exc:
        raise ImpersonationInvalid() from exc
    if payload.get("t") != tenant.pk:
        raise ImpersonationInvalid()
    if not nonce or not hmac.compare_digest(_state_of(nonce), str(payload.get("s"))):
        raise ImpersonationInvalid(
            "This link was opened in another browser than the one that asked for it."
        )
    if not cache.add(f"iam:impersonation:{payload.get('n')}", 1, timeout=LINK_MAX_AGE * 2):
        raise ImpersonationInvalid()
    with transaction.atomic():
        row = (
            Impersonation.objects.select_for_update()
            .filter(pk=payload.get("i"), tenant=tenant, entered_at=None, ended_at=None)
            .first()
        )
        if row is None or not row.is_open:
            raise ImpersonationInvalid()
        if not Membership.objects.filter(
            tenant=tenant, user_id=row.member_id, deactivated_at=None, user__is_active=True
        ).exists():
            raise ImpersonationInvalid("This person is no longer a member of the organization.")
        if not operator_access_allowed(tenant=tenant):
            _end(row, Impersonation.EndReason.REFUSED)
            raise _refusal(tenant)
        row.entered_at = timezone.now()
        row.save(update_fields=["entered_at"])
    log.info("impersonation.entered", tenant=tenant.slug, impersonation=row.pk)
    return row


def _end(row: Impersonation, reason: str) -> None:
    now = timezone.now()
    row.ended_at = min(now, row.expires_at)
    row.end_reason = reason
    row.save(update_fields=["ended_at", "end_reason"])
    minutes = int((row.ended_at - (row.entered_at or row.started_at)).total_seconds() // 60)
    operator_acted.send(
        sender=Tenant,
        tenant=row.tenant,
        operator=row.operator,
        action="impersonation_ended",
        changes={
            "member": [None, row.member.email],
            "ended": [None, Impersonation.EndReason(reason).label],
            "minutes": [None, minutes],
        },
    )


def impersonation_end(*, impersonation_id: int, reason: str) -> bool:
    """End an impersonation (the operator's End, the time limit, a sign-out, the owners'
    switch) and log its end in the organization; False when it had ended already."""
    with transaction.atomic():
        row = (
            Impersonation.objects.select_for_update()
            .filter(pk=impersonation_id, ended_at=None)
            .select_related("tenant", "operator", "member")
            .first()
        )
        if row is None:
            return False
        _end(row, reason)
    log.info("impersonation.ended", impersonation=impersonation_id, reason=reason)
    return True


def impersonations_expire() -> int:
    """End, and log, every impersonation past its time limit that nobody ended: an operator
    who closed the browser still gets an end in the organization's log."""
    due = Impersonation.objects.filter(ended_at=None, expires_at__lte=timezone.now())
    ended = 0
    for pk in due.values_list("pk", flat=True):
        ended += impersonation_end(impersonation_id=pk, reason=Impersonation.EndReason.EXPIRED)
    return ended


def operator_access_set(*, tenant: Tenant, by: User, allowed: bool) -> SecuritySettings:
    """Let platform operators act as members here, or refuse it (owners only). Switching it
    off ends the impersonations open at that moment."""
    is_owner = Membership.objects.filter(
        tenant=tenant, user=by, role=Role.OWNER, deactivated_at=None
    ).exists()
    if not is_owner:
        raise NotAllowed("Only owners decide whether platform operators may act as members.")
    with transaction.atomic():
        row = SecuritySettings.objects.select_for_update().filter(tenant=tenant).first()
        if row is None:
            row, _ = SecuritySettings.objects.get_or_create(tenant=tenant)
        before = audit_snapshot(row, ["operator_access_allowed"])
        row.operator_access_allowed = allowed
        row.save(update_fields=["operator_access_allowed", "updated_at"])
        changes = changes_between(
            before, audit_snapshot(row, ["operator_access_allowed"]), model=SecuritySettings
        )
        if changes:
            audit_record(
                action="security_settings.updated",
                target=row,
                changes=changes,
                actor=by,
                tenant=tenant,
            )
        if not allowed:
            open_ids = Impersonation.objects.filter(tenant=tenant, ended_at=None).values_list(
                "pk", flat=True
            )
            for pk in open_ids:
                impersonation_end(impersonation_id=pk, reason=Impersonation.EndReason.REFUSED)
    log.info("operator_access.set", tenant=tenant.slug, by=by.pk, allowed=allowed)
    return row
