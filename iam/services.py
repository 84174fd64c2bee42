"""Every write to identity and access: users, memberships, API tokens, sign-in handoffs."""

import datetime as dt
import enum
import hashlib
import hmac
import re
import secrets
from typing import Any

import structlog
from allauth.account.models import EmailAddress
from allauth.account.utils import has_verified_email
from allauth.core import ratelimit
from django.conf import settings
from django.contrib.auth import password_validation
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone

from problems.exceptions import InvalidFields
from tenants.models import Tenant
from tenants.services import public_url, tenant_url

from . import authz, limits
from .audit import audit_record
from .exceptions import (
    AlreadyMember,
    EmailInvalid,
    EmailTaken,
    HandoffInvalid,
    InvitationForSomeoneElse,
    InvitationInvalid,
    LastOwner,
    ManagedByIdentityProvider,
    NotAllowed,
    NotAMember,
)
from .models import ApiToken, Invitation, Membership, Role, User
from .tokens import TOKEN_PREFIX as TOKEN_PREFIX
from .tokens import TokenCredentials as TokenCredentials
from .tokens import api_token_authenticate as api_token_authenticate
from .tokens import api_token_create as api_token_create
from .tokens import api_token_revoke as api_token_revoke

log = structlog.get_logger(__name__)

HANDOFF_MAX_AGE = 60
_HANDOFF_SALT = "iam.handoff"
_HANDOFF_STATE = re.compile(r"[0-9a-f]{64}")


def user_validate_new(*, email: str, password: str, full_name: str = "") -> str:
    """Check a would-be user's e-mail and password together; return the normalized e-mail.

    Raises InvalidFields naming every failing field, so a form can show them all at once.
    """
    errors: dict[str, list[str]] = {}
    try:
        email = user_validate_credentials(email=email, password=password, full_name=full_name)
    except InvalidFields as exc:
        errors = exc.errors
        email = email.strip().lower()
    if "email" not in errors and User.objects.filter(email__iexact=email).exists():
        errors["email"] = ["An account with this e-mail already exists. Sign in instead."]
    if errors:
        raise InvalidFields(errors)
    return email


def user_validate_credentials(*, email: str, password: str, full_name: str = "") -> str:
    """Check the form of an e-mail address and the strength of a password, but not whether
    the address has an account: for answers that must not tell (a confirm-first sign-up).
    Returns the normalized e-mail; raises InvalidFields naming every failing field."""
    email = email.strip().lower()
    errors: dict[str, list[str]] = {}
    try:
        validate_email(email)
    except ValidationError:
        errors["email"] = [EmailInvalid.title]
    try:
        password_validation.validate_password(password, User(email=email, full_name=full_name))
    except ValidationError as exc:
        errors["password"] = list(exc.messages)
    if errors:
        raise InvalidFields(errors)
    return email


def user_create(
    *, email: str, password: str, full_name: str = "", email_confirmed: bool = False
) -> User:
    """Create a user after validating e-mail uniqueness and password strength, with their
    address recorded as not confirmed yet (unless the caller vouches for it)."""
    email = user_validate_new(email=email, password=password, full_name=full_name)
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password, full_name=full_name)
            EmailAddress.objects.create(
                user=user, email=user.email, primary=True, verified=email_confirmed
            )
    except IntegrityError as exc:
        raise EmailTaken(field="email") from exc
    log.info("user.created", user=user.pk)
    return user


def user_create_confirmed(*, email: str, password_hash: str, full_name: str = "") -> User:
    """Create a user whose address a link has just reached, with a password that was checked
    and hashed when they asked (the plain password is never kept): the address counts as
    confirmed. EmailTaken when the address got an account in the meantime."""
    email = email.strip().lower()
    try:
        with transaction.atomic():
            user = User.objects.create(email=email, full_name=full_name, password=password_hash)
            EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    except IntegrityError as exc:
        raise EmailTaken(field="email") from exc
    log.info("user.created", user=user.pk, confirmed=True)
    return user


def user_email_confirm(*, user: User) -> None:
    """Record the user's address as confirmed (a link reached it, or an operator vouches)."""
    EmailAddress.objects.update_or_create(
        user=user, email=user.email, defaults={"verified": True, "primary": True}
    )


def user_email_is_confirmed(*, user: User) -> bool:
    return bool(has_verified_email(user, user.email))


class ConfirmationSend(enum.StrEnum):
    """What asking for an e-mail confirmation link did."""

    SENT = "sent"
    CONFIRMED_ALREADY = "confirmed-already"
    SENT_RECENTLY = "sent-recently"  # the earlier link still works


def user_email_confirmation_send(
    *, request: HttpRequest, user: User, signup: bool = False
) -> ConfirmationSend:
    """E-mail the user a link that confirms their address (on the public site's host, see
    `iam.adapters`). Sends nothing when the address is confirmed already or a link went out
    to it in the last minutes (allauth's `confirm_email` rate limit), and says which. allauth
    renders the mail and counts the limit with the request, so this service takes it."""
    address = EmailAddress.objects.filter(user=user, email__iexact=user.email).first()
    if address is None:  # a user made before addresses were recorded
        address = EmailAddress.objects.create(user=user, email=user.email, primary=True)
    if address.verified:
        return ConfirmationSend.CONFIRMED_ALREADY
    if not ratelimit.consume(request, action="confirm_email", key=address.email.lower()):
        return ConfirmationSend.SENT_RECENTLY
    address.send_confirmation(request, signup=signup)
    log.info("user.email_confirmation_sent", user=user.pk)
    return ConfirmationSend.SENT


def membership_create(*, user: User, tenant: Tenant, role: str = Role.MEMBER) -> Membership:
    """Make `user` a member of `tenant` with `role` (or give an existing member that role).

    A new member takes a seat, so the plan is asked first (402 `plan-limit` when every seat
    is taken); changing an existing member's role takes none."""
    with transaction.atomic():
        earlier = Membership.objects.filter(user=user, tenant=tenant).first()
        if earlier is None:
            limits.require_capacity(tenant=tenant, name="seats")
        membership, _ = Membership.objects.update_or_create(
            user=user, tenant=tenant, defaults={"role": role}
        )
        if earlier is None or earlier.role != role:
            audit_record(
                action="member.added" if earlier is None else "member.role_changed",
                target=_member_target(user),
                changes={"role": [earlier.role if earlier else None, role]},
                tenant=tenant,
            )
    log.info("membership.created", tenant=tenant.slug, user=user.pk, role=role)
    return membership


def membership_create_owner_of_new_tenant(*, user: User, tenant: Tenant) -> Membership:
    """The first membership of an organization being provisioned: one INSERT, since a tenant
    created in this transaction cannot have members yet (nor a plan to ask: every plan has a
    seat for its owner)."""
    membership = Membership.objects.create(user=user, tenant=tenant, role=Role.OWNER)
    log.info("membership.created", tenant=tenant.slug, user=user.pk, role=Role.OWNER)
    return membership


def _member_target(user: User) -> tuple[str, int, str]:
    """How the audit log names a member: by user id and their e-mail at the time."""
    return ("member", user.pk, user.email)


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def handoff_state_new() -> tuple[str, str]:
    """A fresh nonce for the browser that starts a sign-in from another host, and the state
    that names it in links (its SHA-256): the nonce stays in that browser's cookie."""
    nonce = secrets.token_urlsafe(32)
    return nonce, _handoff_state(nonce)


def _handoff_state(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def handoff_start_url(*, tenant: Tenant) -> str:
    """Where a browser signed in on the public site goes to be signed in on the tenant's
    host too: that host asks the public site back for a link bound to the browser."""
    return tenant_url(tenant, "/auth/handoff/start/")


def handoff_url(*, user: User, tenant: Tenant | None, state: str) -> str:
    """A one-time, one-minute link that signs `user` in on the tenant's own host (the public
    site's when `tenant` is None), in the browser whose nonce `state` names and no other."""
    if not _HANDOFF_STATE.fullmatch(state):
        raise HandoffInvalid("This sign-in did not start where it signs in; open it again.")
    if tenant is not None and not Membership.objects.filter(user=user, tenant=tenant).exists():
        raise NotAMember()
    payload: dict[str, Any] = {
        "u": user.pk,
        "t": tenant.pk if tenant is not None else None,
        "s": state,
        "n": secrets.token_urlsafe(16),
    }
    token = signing.dumps(payload, salt=_HANDOFF_SALT, compress=True)
    path = f"/auth/handoff/?token={token}"
    return tenant_url(tenant, path) if tenant is not None else public_url(path)


def handoff_redeem(*, token: str, tenant: Tenant | None, nonce: str) -> User:
    """The user a handoff token names, once, in the browser that holds `nonce`; raises
    HandoffInvalid for any other use (another host, another browser, a second time)."""
    try:
        payload = signing.loads(token, salt=_HANDOFF_SALT, max_age=HANDOFF_MAX_AGE)
    except signing.BadSignature as exc:
        raise HandoffInvalid() from exc
    if payload.get("t") != (tenant.pk if tenant is not None else None):
        raise HandoffInvalid()
    if not nonce or not hmac.compare_digest(_handoff_state(nonce), str(payload.get("s"))):
        raise HandoffInvalid(
            "This sign-in link was opened in another browser than the one that asked for it."
        )
    if not cache.add(f"iam:handoff:{payload['n']}", 1, timeout=HANDOFF_MAX_AGE * 2):
        raise HandoffInvalid()
    user = User.objects.filter(pk=payload.get("u"), is_active=True).first()
    if user is None:
        raise HandoffInvalid()
    if tenant is not None and not Membership.objects.filter(user=user, tenant=tenant).exists():
        raise HandoffInvalid()
    return user


# Invitations ----------------------------------------------------------------------------

INVITATION_DAYS = 7
# Who may invite, and to which roles. Ownership is handed over, not invited.
_INVITES: dict[str, frozenset[str]] = {
    Role.OWNER: frozenset({Role.ADMIN, Role.MEMBER}),
    Role.ADMIN: frozenset({Role.ADMIN, Role.MEMBER}),
}


def _inviter_role(*, user: User, tenant: Tenant) -> str:
    role = Membership.objects.filter(user=user, tenant=tenant).values_list("role", flat=True)
    found = role.first()
    if found not in _INVITES:
        raise NotAllowed("Only owners and admins invite people and withdraw invitations.")
    return str(found)


def invitation_create(
    *, tenant: Tenant, by: User, email: str, role: str = Role.MEMBER
) -> tuple[Invitation, str]:
    """Invite `email` to join `tenant` as `role`, by one of its owners or admins. The link
    (to the public site, valid INVITATION_DAYS days, usable once) is e-mailed when the
    transaction commits; an open invitation to the same address is replaced. Returns the
    invitation and its link."""
    allowed = _INVITES[_inviter_role(user=by, tenant=tenant)]
    email = (email or "").strip().lower()
    errors: dict[str, list[str]] = {}
    try:
        validate_email(email)
    except ValidationError:
        errors["email"] = [EmailInvalid.title]
    if role not in allowed:
        errors["role"] = [f"Choose one of: {', '.join(sorted(allowed))}."]
    if errors:
        raise InvalidFields(errors)
    if Membership.objects.filter(tenant=tenant, user__email__iexact=email).exists():
        raise AlreadyMember(field="email")
    raw = secrets.token_urlsafe(32)
    link = public_url(f"/invitations/{raw}/")
    now = timezone.now()
    try:
        with transaction.atomic():
            Invitation.objects.filter(
                tenant=tenant, email__iexact=email, accepted_at=None, revoked_at=None
            ).update(revoked_at=now)
            # An open invitation holds a seat from now on (accepting it takes no other), so
            # the plan is asked here; the one just replaced no longer holds its seat.
            limits.require_capacity(tenant=tenant, name="seats")
            invitation = Invitation.objects.create(
                tenant=tenant,
                email=email,
                role=role,
                invited_by=by,
                digest=_digest(raw),
                expires_at=now + dt.timedelta(days=INVITATION_DAYS),
            )
            transaction.on_commit(lambda: _invitation_mail(invitation, link))
            audit_record(
                action="invitation.created",
                target=("invitation", invitation.pk, email),
                changes={"email": [None, email], "role": [None, role]},
                actor=by,
                tenant=tenant,
            )
    except IntegrityError:  # another admin invited the same address at the same moment
        raise AlreadyMember(
            "An invitation to this address was sent just now.", field="email"
        ) from None
    log.info("invitation.created", tenant=tenant.slug, invitation=invitation.pk, by=by.pk)
    return invitation, link


def _invitation_mail(invitation: Invitation, link: str) -> None:
    context = {
        "invitation": invitation,
        "inviter": invitation.invited_by.get_full_name() if invitation.invited_by else "",
        "organization": invitation.tenant.name,
        "link": link,
        "days": INVITATION_DAYS,
    }
    subject = render_to_string("iam/email/invitation_subject.txt", context).strip()
    body = render_to_string("iam/email/invitation_message.txt", context)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [invitation.email])


def invitation_revoke(*, invitation: Invitation, by: User) -> Invitation:
    """Withdraw an open invitation (its link stops working), by an owner or admin."""
    _inviter_role(user=by, tenant=invitation.tenant)
    if invitation.accepted_at is None and invitation.revoked_at is None:
        with transaction.atomic():
            invitation.revoked_at = timezone.now()
            invitation.save(update_fields=["revoked_at"])
            audit_record(
                action="invitation.revoked",
                target=("invitation", invitation.pk, invitation.email),
                actor=by,
                tenant=invitation.tenant,
            )
        log.info("invitation.revoked", tenant=invitation.tenant_id, invitation=invitation.pk)
    return invitation


def invitation_open_get(*, raw: str) -> Invitation:
    """The open invitation a link's token names, or InvitationInvalid."""
    invitation = (
        Invitation.objects.select_related("tenant", "invited_by")
        .filter(digest=_digest(raw))
        .first()
    )
    if invitation is None or not invitation.is_open or invitation.tenant.is_suspended:
        raise InvitationInvalid()
    return invitation


def invitation_accept(*, raw: str, user: User) -> Membership:
    """Join the invitation's organization as `user`, whose address must be the invited one;
    the invitation is used up, and (since the link reached that inbox) the address counts
    as confirmed. Someone already a member keeps their role. The plan is not asked again:
    the open invitation held its seat, which the membership now takes in its place."""
    with transaction.atomic():
        found = invitation_open_get(raw=raw)
        invitation = (
            Invitation.objects.select_for_update().select_related("tenant").get(pk=found.pk)
        )
        if not invitation.is_open:  # used or withdrawn while we waited for the lock
            raise InvitationInvalid()
        if invitation.email.lower() != user.email.lower():
            raise InvitationForSomeoneElse(
                f"This invitation was sent to {invitation.email}; sign in with that address."
            )
        membership, _ = Membership.objects.get_or_create(
            user=user, tenant=invitation.tenant, defaults={"role": invitation.role}
        )
        invitation.accepted_at, invitation.accepted_by = timezone.now(), user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        audit_record(
            action="invitation.accepted",
            target=_member_target(user),
            changes={"role": [None, membership.role]},
            actor=user,
            tenant=invitation.tenant,
        )
        user_email_confirm(user=user)
    log.info(
        "invitation.accepted",
        tenant=invitation.tenant.slug,
        invitation=invitation.pk,
        user=user.pk,
        role=membership.role,
    )
    return membership


def invitation_accept_as_new_user(*, raw: str, full_name: str, password: str) -> Membership:
    """Create the invited person's account (at the invited address) and join, together."""
    with transaction.atomic():
        invitation = invitation_open_get(raw=raw)
        user = user_create(email=invitation.email, password=password, full_name=full_name.strip())
        return invitation_accept(raw=raw, user=user)


# Managing members -------------------------------------------------------------------------


def _locked_with_owners(membership: Membership) -> tuple[list[int], Membership]:
    """Inside a transaction: the ids of the organization's owner memberships and
    `membership` itself, all locked. Owners are locked first, in id order, so concurrent
    changes queue instead of deadlocking, and two owners stepping down at once can't both
    see the other still there."""
    owners = list(
        Membership.objects.select_for_update()
        .filter(tenant=membership.tenant, role=Role.OWNER)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return owners, Membership.objects.select_for_update().get(pk=membership.pk)


# The built-in roles an admin gives; only owners make owners.
# Admins give every role but owner and billing: nobody hands out a right they don't hold,
# and the billing right is the owners' (and the billing role's) alone.
ADMIN_ASSIGNABLE_ROLES = frozenset(set(Role.values) - {Role.OWNER, Role.BILLING})


def membership_role_change(*, membership: Membership, by: User, role: str) -> Membership:
    """Change someone's role in an organization. Owners give and take any role, as long as
    an owner remains; admins switch non-owners among the roles other than owner."""
    tenant = membership.tenant
    by_role = _inviter_role(user=by, tenant=tenant)
    assignable = set(Role.values) if by_role == Role.OWNER else ADMIN_ASSIGNABLE_ROLES
    if role == Role.OWNER and by_role != Role.OWNER:
        raise NotAllowed("Only owners make someone an owner.")
    if role == Role.BILLING and by_role != Role.OWNER:
        raise NotAllowed("Only owners give the billing role: it holds a right admins don't.")
    if role not in assignable:
        raise InvalidFields({"role": [f"Choose one of: {', '.join(sorted(assignable))}."]})
    with transaction.atomic():
        owners, locked = _locked_with_owners(membership)
        if locked.role == Role.OWNER and by_role != Role.OWNER:
            raise NotAllowed("Only owners change an owner's role.")
        if role != Role.OWNER and owners == [locked.pk]:
            raise LastOwner()
        before = locked.role
        locked.role = role
        locked.save(update_fields=["role"])
        if before != role:
            audit_record(
                action="member.role_changed",
                target=_member_target(membership.user),
                changes={"role": [before, role]},
                actor=by,
                tenant=tenant,
            )
    log.info(
        "membership.role_changed",
        tenant=tenant.slug,
        user=membership.user_id,
        role=role,
        by=by.pk,
    )
    membership.role = role
    return membership


def membership_remove(*, membership: Membership, by: User) -> None:
    """Take a person out of an organization, by an owner or admin of it (only owners remove
    owners, and never the last one): their access ends with their next request, and their
    API tokens for it are deleted in the same transaction."""
    by_role = _inviter_role(user=by, tenant=membership.tenant)
    _membership_end(membership=membership, by=by, owners_only=by_role != Role.OWNER)


def membership_leave(*, user: User, tenant: Tenant) -> None:
    """Leave an organization oneself (the last owner can't: hand ownership over first)."""
    membership = Membership.objects.filter(user=user, tenant=tenant).first()
    if membership is None:
        raise NotAMember()
    _membership_end(membership=membership, by=user, owners_only=False)


def _membership_end(*, membership: Membership, by: User, owners_only: bool) -> None:
    """Delete a membership, and with it the person's API tokens for that tenant, in one
    transaction, keeping an owner. `owners_only`: the acting user may not end an owner's."""
    tenant = membership.tenant
    with transaction.atomic():
        owners, locked = _locked_with_owners(membership)
        if locked.role == Role.OWNER and owners_only:
            raise NotAllowed("Only owners remove an owner.")
        if owners == [locked.pk]:
            raise LastOwner()
        live_tokens = ApiToken.objects.filter(
            user_id=locked.user_id, tenant=tenant, revoked_at=None
        ).count()
        locked.delete()  # the person's tokens for this tenant go with it (a foreign key)
        audit_record(
            action="member.left" if by.pk == membership.user_id else "member.removed",
            target=_member_target(membership.user),
            changes={"role": [locked.role, None]},
            actor=by,
            tenant=tenant,
        )
    log.info(
        "membership.removed",
        tenant=tenant.slug,
        user=membership.user_id,
        tokens_deleted=live_tokens,
        by=by.pk,
    )


def membership_reactivate(*, membership: Membership, by: User) -> Membership:
    """Switch a switched-off member back on, by someone with the "People" right (only
    owners switch an owner on). A member the identity provider manages (`external_id`
    set) is switched on there, or SCIM would switch them off again. A switched-off member
    holds no seat, so the plan is asked for one (402 `plan-limit` when every seat is
    taken). Nothing happens to a member who is on already."""
    tenant = membership.tenant
    principal = authz.principal_for(user=by, tenant=tenant)
    if not principal.is_member or not authz.may(principal, "admin.people"):
        raise NotAllowed("Only members with the admin right “People” switch members on.")
    with transaction.atomic():
        locked = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
        if locked.deactivated_at is None:
            return locked
        if locked.external_id:
            raise ManagedByIdentityProvider(
                "Your identity provider manages this member: switch them on there, or it "
                "would switch them off again."
            )
        if locked.role == Role.OWNER and principal.role != Role.OWNER:
            raise NotAllowed("Only owners switch an owner back on.")
        limits.require_capacity(tenant=tenant, name="seats")
        switched_off_at = locked.deactivated_at
        locked.deactivated_at = None
        locked.save(update_fields=["deactivated_at"])
        audit_record(
            action="member.reactivated",
            target=_member_target(locked.user),
            changes={"active": [False, True], "deactivated_at": [switched_off_at, None]},
            actor=by,
            tenant=tenant,
        )
    log.info("membership.reactivated", tenant=tenant.slug, user=locked.user_id, by=by.pk)
    return locked
