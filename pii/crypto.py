"""Field encryption (AES-256-GCM) and blind indexes (HMAC-SHA256) with per-tenant keys.

A ciphertext reads `v1.<key version>.<base64url(nonce || ciphertext || tag)>`. The tenant,
the field and the key version are bound in as associated data, so a value copied to another
row's field of another name, or into another tenant, does not decrypt.
"""

import binascii
import hashlib
import hmac
import os
import threading

from cryptography.exceptions import InvalidTag

from . import keys
from .exceptions import CiphertextInvalid
from .models import TenantKey

FORMAT = "v1"
_NONCE_BYTES = 12
_NONCES_PER_DRAW = 1024
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
_DATA = str(TenantKey.Purpose.DATA.value)  # a plain str hashes faster than the enum member
_PADDING = ("", "", "==", "=")  # by len % 4; 1 never occurs in valid base64


class _Nonces(threading.local):
    """Fresh random nonces, drawn from the OS in blocks of 1,024 per thread.

    Each nonce is 12 unused bytes of `os.urandom` output, exactly as if drawn one by one;
    drawing in blocks saves a system call per value. A forked child drops its parent's
    unused block (`register_at_fork`), so two processes never share a nonce.
    """

    block = b""
    offset = 0

    def take(self) -> bytes:
        offset = self.offset
        if offset >= len(self.block):
            self.block = os.urandom(_NONCE_BYTES * _NONCES_PER_DRAW)
            offset = 0
        self.offset = offset + _NONCE_BYTES
        return self.block[offset : offset + _NONCE_BYTES]


_nonces = _Nonces()


def _forget_nonces() -> None:
    global _nonces
    _nonces = _Nonces()


os.register_at_fork(after_in_child=_forget_nonces)


# Associated data: f"{_AAD_PREFIX}{tenant_id}/{field}/{version}", written inline below (hot path).
_AAD_PREFIX = f"mycrm/{FORMAT}/"


def encrypt(*, tenant_id: int, field: str, value: str) -> str:
    """Encrypt `value` for `field` of `tenant_id` with the tenant's current data key."""
    version, aead = keys.current_cipher(tenant_id, _DATA)
    nonce = _nonces.take()
    aad = f"{_AAD_PREFIX}{tenant_id}/{field}/{version}".encode()
    sealed = aead.encrypt(nonce, value.encode(), aad)
    body = binascii.b2a_base64(nonce + sealed, newline=False).translate(_TO_URLSAFE)
    return f"{FORMAT}.{version}.{body.rstrip(b'=').decode()}"


def decrypt(*, tenant_id: int, field: str, token: str) -> str:
    """The plaintext of a value `encrypt` produced for this tenant and field."""
    try:
        fmt, version_text, body = token.split(".", 2)
        version = int(version_text)
        raw = binascii.a2b_base64(
            (body + _PADDING[len(body) % 4]).encode().translate(_FROM_URLSAFE), strict_mode=True
        )
    except (ValueError, UnicodeEncodeError) as exc:
        raise CiphertextInvalid("The value is not in a known ciphertext format.") from exc
    if fmt != FORMAT or len(raw) <= _NONCE_BYTES:
        raise CiphertextInvalid("The value is not in a known ciphertext format.")
    try:
        aead = keys.cipher_for_version(tenant_id, _DATA, version)
    except TenantKey.DoesNotExist as exc:
        raise CiphertextInvalid("The value's key does not exist for this tenant.") from exc
    try:
        aad = f"{_AAD_PREFIX}{tenant_id}/{field}/{version}".encode()
        plain = aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], aad)
    except InvalidTag as exc:
        raise CiphertextInvalid("The value does not belong to this tenant and field.") from exc
    return plain.decode()


def blind_index(*, tenant_id: int, field: str, normalized: str) -> str:
    """A keyed digest of an already-normalized value, for exact-match lookups."""
    _, key = keys.current_key(tenant_id, TenantKey.Purpose.INDEX)
    message = f"{field}\x00{normalized}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
