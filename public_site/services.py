"""Self-serve sign-up, confirmed by e-mail first: asking answers the same whether or not the
address has an account; following the mailed link creates the organization and its owner
together or not at all."""

import datetime as dt
import secrets

import structlog
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from iam.models import User
from iam.services import (
    user_create_confirmed,
    user_email_confirm,
    user_validate_credentials,
)
from problems.exceptions import DomainError, InvalidFields
from tenants.exceptions import SlugTaken
from tenants.models import Tenant
from tenants.services import provision_tenant, public_url, slug_is_available
from tenants.slugs import normalize_slug

from .exceptions import SignupLinkInvalid, SignupLinkUsed, SignupNeedsSignIn
from .models import PendingSignup
from .selectors import signup_digest

log = structlog.get_logger(__name__)

SIGNUP_LINK_HOURS = 24


def signup_start(
    *, organization_name: str, slug: str, full_name: str, email: str, password: str
) -> PendingSignup:
    """Validate the form (all but whether the address has an account), keep the request and
    mail its link when the transaction commits.

    Both kinds of address take the same path, so neither the answer nor its timing tells
    them apart: one password hash, one row, one mail from `_signup_mail`. A new address gets
    a link that creates the organization; an address with an account gets a message that
    says so, with a link that creates the organization for that account once signed in (its
    row keeps no password)."""
    errors: dict[str, list[str]] = {}
    slug = normalize_slug(slug)
    if not organization_name.strip():
        errors["organization_name"] = ["Enter your organization's name."]
    try:
        if not slug_is_available(slug):
            errors["slug"] = [SlugTaken.title]
    except DomainError as exc:
        errors.update(exc.field_errors() or {"slug": [exc.detail]})
    try:
        email = user_validate_credentials(email=email, password=password, full_name=full_name)
    except DomainError as exc:
        errors.update(exc.field_errors())
    if errors:
        raise InvalidFields(errors)
    has_account = User.objects.filter(email__iexact=email).exists()
    password_hash = make_password(password)
    raw = secrets.token_urlsafe(32)
    link = public_url(f"/signup/finish/{raw}/")
    with transaction.atomic():
        pending = PendingSignup.objects.create(
            email=email,
            organization_name=organization_name.strip(),
            slug=slug,
            full_name=full_name.strip(),
            password="" if has_account else password_hash,
            digest=signup_digest(raw),
            expires_at=timezone.now() + dt.timedelta(hours=SIGNUP_LINK_HOURS),
        )
        transaction.on_commit(lambda: _signup_mail(pending, link=link, has_account=has_account))
    log.info("signup.started", pending=pending.pk, tenant=slug)
    return pending


def _signup_mail(pending: PendingSignup, *, link: str, has_account: bool) -> None:
    context = {
        "pending": pending,
        "link": link,
        "has_account": has_account,
        "hours": SIGNUP_LINK_HOURS,
        "sign_in": public_url("/accounts/login/"),
        "reset": public_url("/accounts/password/reset/"),
        "address": f"{pending.slug}.{settings.BASE_DOMAIN}",
    }
    subject = render_to_string("public_site/email/signup_subject.txt", context).strip()
    body = render_to_string("public_site/email/signup_message.txt", context)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [pending.email])


def signup_account(*, pending: PendingSignup) -> User | None:
    """The account the link's address has (then the organization is made for it), if any."""
    return User.objects.filter(email__iexact=pending.email).first()


def signup_finish(
    *, raw: str, user: User | None, slug: str | None = None
) -> tuple[Tenant, User, bool]:
    """Create the organization a sign-up link names, and its owner; returns the organization,
    the owner and whether the owner is a new account.

    The owner is a new account made from the kept password hash, or, when the address has an
    account, `user` if that is the account (else SignupNeedsSignIn); either way the address
    counts as confirmed, as the link reached it. `slug` replaces the requested subdomain
    (taken meanwhile, say). One transaction with the row locked: a failure leaves the link
    usable, and a second use, even at the same moment, gets SignupLinkUsed rather than a
    second organization."""
    with transaction.atomic():
        pending = (
            PendingSignup.objects.select_for_update().filter(digest=signup_digest(raw)).first()
        )
        if pending is None or pending.is_expired:
            raise SignupLinkInvalid()
        if pending.is_completed:
            raise SignupLinkUsed()
        account = signup_account(pending=pending)
        if account is not None and (user is None or user.pk != account.pk):
            raise SignupNeedsSignIn()
        if account is None and not pending.password:
            raise SignupLinkInvalid()  # the account it was sent to has gone since
        slug = normalize_slug(slug) if slug else pending.slug
        if account is not None:
            user_email_confirm(user=account)  # the link reached its inbox
        owner = account or user_create_confirmed(
            email=pending.email, password_hash=pending.password, full_name=pending.full_name
        )
        tenant = provision_tenant(slug=slug, name=pending.organization_name, owner=owner)
        pending.slug, pending.tenant, pending.owner = slug, tenant, owner
        pending.completed_at, pending.password = timezone.now(), ""
        pending.save(update_fields=["slug", "tenant", "owner", "completed_at", "password"])
    log.info("signup.finished", pending=pending.pk, tenant=tenant.slug, user=owner.pk)
    return tenant, owner, account is None


def signup_pending_purge() -> int:
    """Forget sign-up requests whose link has expired, used or not; returns how many."""
    deleted, _ = PendingSignup.objects.filter(expires_at__lte=timezone.now()).delete()
    log.info("signup.pending_purged", count=deleted)
    return deleted
