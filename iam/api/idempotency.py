"""Idempotency-Key on every POST of the tenant API.

A client that may retry a POST (a timeout, a lost connection) sends the same
`Idempotency-Key` with each try:

- the first try that succeeds is kept with its response for 24 hours, per organization,
  user and key; a retry with the same request gets that response again (with
  `Idempotent-Replayed: true`) and changes nothing;
- a retry while the first try is still running gets 409, and one with the same key but
  another request (method, path or body) gets 422;
- a try that failed (any status outside 2xx) is not kept: it changed nothing, so the retry
  runs again.

The claim is a transaction-scoped advisory lock on (organization, user, key), taken in the
transaction the request runs in; the response is written in that same transaction, so the
record of the first try and its effect commit together or not at all.
"""

import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection
from django.http import HttpResponse, QueryDict
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response

from iam.exceptions import IdempotencyKeyInUse, IdempotencyKeyInvalid, IdempotencyKeyReused
from iam.models import IdempotentRequest
from pii.crypto import decrypt, encrypt

HEADER = "Idempotency-Key"
KEPT_FOR = timedelta(hours=24)
_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, no spaces
_KEPT_HEADERS = ("Content-Type", "Location", "ETag")
_SEALED_AS = "iam.idempotent_request.body"


@dataclass(frozen=True)
class Claim:
    """A POST's hold on its key, from the check until its response is kept."""

    tenant_id: int
    user_id: int
    key: str
    fingerprint: str


class Replay(Exception):  # noqa: N818 - not an error: carries the kept response out of `initial`
    """The request was made before: answer with the kept response."""

    def __init__(self, response: HttpResponse):
        super().__init__("replayed")
        self.response = response


def _fingerprint(request: Request) -> str:
    """A digest of what makes two requests the same: method, path with query, and body."""
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.get_full_path()}\n".encode())
    if request.content_type.startswith("multipart/"):
        # The body was (or will be) streamed into the upload handlers; digest what they made.
        fields = request.data if isinstance(request.data, QueryDict) else QueryDict()
        for name in sorted(fields.keys()):
            if name not in request.FILES:
                digest.update(f"{name}={fields.getlist(name)!r}\n".encode())
        for name in sorted(request.FILES.keys()):
            for upload in request.FILES.getlist(name):
                digest.update(f"{name}:{upload.name}\n".encode())
                for chunk in upload.chunks():
                    digest.update(chunk)
                upload.seek(0)
    else:
        digest.update(request._request.body)
    return digest.hexdigest()


def lock_id(claim: Claim) -> int:
    """The advisory lock a request holds on its key while it runs."""
    name = f"iam.idempotency:{claim.tenant_id}:{claim.user_id}:{claim.key}".encode()
    return int.from_bytes(hashlib.blake2b(name, digest_size=8).digest(), "big", signed=True)


def claim(request: Request, *, tenant_id: int) -> Claim | None:
    """Check the request's Idempotency-Key inside its transaction.

    Returns the claim to keep the response under, or None when the request has no key.
    Raises `Replay` with the kept response for a repeat, `IdempotencyKeyInUse` while the
    first try runs, `IdempotencyKeyReused` for another request under the key, and
    `IdempotencyKeyInvalid` for a malformed key.
    """
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not _KEY.fullmatch(key):
        raise IdempotencyKeyInvalid(
            "Send 1 to 255 visible ASCII characters without spaces, for example a UUID.",
            field=HEADER,
        )
    held = Claim(
        tenant_id=tenant_id,
        user_id=request.user.pk or 0,  # a member: authenticated before this runs
        key=key,
        fingerprint=_fingerprint(request),
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [lock_id(held)])
        (locked,) = cursor.fetchone()
    if not locked:
        raise IdempotencyKeyInUse(
            "The first request with this key has not finished; retry when it has."
        )
    kept = IdempotentRequest.objects.filter(
        tenant_id=tenant_id, user_id=held.user_id, key=key
    ).first()
    if kept is not None and kept.created_at < timezone.now() - KEPT_FOR:
        kept.delete()
        kept = None
    if kept is None:
        return held
    if kept.fingerprint != held.fingerprint:
        raise IdempotencyKeyReused(
            "This key was used with another request in the last 24 hours; "
            "use a new key for a new request."
        )
    raise Replay(_replayed(kept))


def _replayed(kept: IdempotentRequest) -> HttpResponse:
    body = decrypt(tenant_id=kept.tenant_id, field=_SEALED_AS, token=kept.body)
    response = HttpResponse(body.encode(), status=kept.status_code)
    for name, value in kept.headers.items():
        response[name] = value
    response["Idempotent-Replayed"] = "true"
    return response


def keep(held: Claim, response: Response) -> None:
    """Keep a successful response under its claim, in the request's transaction."""
    if not 200 <= response.status_code < 300:
        return
    response.render()
    IdempotentRequest.objects.create(
        tenant_id=held.tenant_id,
        user_id=held.user_id,
        key=held.key,
        fingerprint=held.fingerprint,
        status_code=response.status_code,
        headers={name: response[name] for name in _KEPT_HEADERS if response.has_header(name)},
        body=encrypt(
            tenant_id=held.tenant_id,
            field=_SEALED_AS,
            value=response.content.decode(),
        ),
    )


def expired_delete() -> int:
    """Forget the requests kept longer than 24 hours; returns how many."""
    deleted, _ = IdempotentRequest.objects.filter(created_at__lt=timezone.now() - KEPT_FOR).delete()
    return deleted
