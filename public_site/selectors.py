"""Reads of the public site: the sign-up request a link names."""

import hashlib

from .exceptions import SignupLinkInvalid
from .models import PendingSignup


def signup_digest(raw: str) -> str:
    """What is stored of a link's token: its SHA-256, so the table alone opens nothing."""
    return hashlib.sha256(raw.encode()).hexdigest()


def signup_pending_get(*, raw: str) -> PendingSignup:
    """The sign-up request a link's token names, used or not; SignupLinkInvalid when it is
    unknown or expired."""
    pending = (
        PendingSignup.objects.select_related("tenant").filter(digest=signup_digest(raw)).first()
    )
    if pending is None or pending.is_expired:
        raise SignupLinkInvalid()
    return pending
