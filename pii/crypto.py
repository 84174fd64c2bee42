"""Field encryption (AES-256-GCM) and blind indexes (HMAC-SHA256) with per-tenant keys.

A ciphertext reads `v1.<key version>.<base64url(nonce || ciphertext || tag)>`. The tenant,
the field and the key version are bound in as associated data, so a value copied to another
row's field of another name, or into another tenant, does not decrypt.
"""

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag

from . import keys
from .exceptions import CiphertextInvalid
from .models import TenantKey

FORMAT = "v1"
_NONCE_BYTES = 12


def _aad(tenant_id: int, field: str, version: int) -> bytes:
    return f"mycrm/{FORMAT}/{tenant_id}/{field}/{version}".encode()


def encrypt(*, tenant_id: int, field: str, value: str) -> str:
    """Encrypt `value` for `field` of `tenant_id` with the tenant's current data key."""
    version, aead = keys.current_cipher(tenant_id, TenantKey.Purpose.DATA)
    nonce = os.urandom(_NONCE_BYTES)
    sealed = aead.encrypt(nonce, value.encode(), _aad(tenant_id, field, version))
    body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
    return f"{FORMAT}.{version}.{body}"


def decrypt(*, tenant_id: int, field: str, token: str) -> str:
    """The plaintext of a value `encrypt` produced for this tenant and field."""
    try:
        fmt, version_text, body = token.split(".", 2)
        version = int(version_text)
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except ValueError as exc:
        raise CiphertextInvalid("The value is not in a known ciphertext format.") from exc
    if fmt != FORMAT or len(raw) <= _NONCE_BYTES:
        raise CiphertextInvalid("The value is not in a known ciphertext format.")
    try:
        aead = keys.cipher_for_version(tenant_id, TenantKey.Purpose.DATA, version)
    except TenantKey.DoesNotExist as exc:
        raise CiphertextInvalid("The value's key does not exist for this tenant.") from exc
    try:
        plain = aead.decrypt(
            raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _aad(tenant_id, field, version)
        )
    except InvalidTag as exc:
        raise CiphertextInvalid("The value does not belong to this tenant and field.") from exc
    return plain.decode()


def blind_index(*, tenant_id: int, field: str, normalized: str) -> str:
    """A keyed digest of an already-normalized value, for exact-match lookups."""
    _, key = keys.current_key(tenant_id, TenantKey.Purpose.INDEX)
    message = f"{field}\x00{normalized}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
