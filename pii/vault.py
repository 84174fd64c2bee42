"""The Vault (or OpenBao) Transit calls PII protection needs, and nothing else."""

import base64
from dataclasses import dataclass

import hvac
from django.conf import settings
from hvac.exceptions import InvalidPath, InvalidRequest, VaultError
from requests.exceptions import RequestException

from .exceptions import KeyServiceUnavailable


@dataclass(frozen=True)
class DataKey:
    plaintext: bytes
    wrapped: str
    vault_key_version: int


def client() -> hvac.Client:
    return hvac.Client(url=settings.VAULT_ADDR, token=settings.VAULT_TOKEN or None, timeout=5)


def _mount() -> str:
    return str(settings.VAULT_TRANSIT_MOUNT)


def transit_key_ensure(name: str) -> None:
    """Create the Transit wrapping key if it does not exist yet (idempotent)."""
    try:
        transit = client().secrets.transit
        try:
            transit.read_key(name=name, mount_point=_mount())
        except InvalidPath:
            transit.create_key(name=name, key_type="aes256-gcm96", mount_point=_mount())
    except (VaultError, RequestException) as exc:
        raise KeyServiceUnavailable(str(exc)) from exc


def data_key_generate(name: str, *, create_missing: bool = True) -> DataKey:
    """A fresh 256-bit key from Transit, with its wrapped form to store.

    The wrapping key is created on first use, so a new Vault needs no manual set-up.
    """
    try:
        response = client().secrets.transit.generate_data_key(
            name=name, key_type="plaintext", bits=256, mount_point=_mount()
        )
    except (InvalidPath, InvalidRequest) as exc:
        if not create_missing or "not found" not in str(exc):
            raise KeyServiceUnavailable(str(exc)) from exc
        transit_key_ensure(name)
        return data_key_generate(name, create_missing=False)
    except (VaultError, RequestException) as exc:
        raise KeyServiceUnavailable(str(exc)) from exc
    data = response["data"]
    return DataKey(
        plaintext=base64.b64decode(data["plaintext"]),
        wrapped=data["ciphertext"],
        vault_key_version=int(data["key_version"]),
    )


def data_key_unwrap(name: str, wrapped: str) -> bytes:
    try:
        response = client().secrets.transit.decrypt_data(
            name=name, ciphertext=wrapped, mount_point=_mount()
        )
    except (VaultError, RequestException) as exc:
        raise KeyServiceUnavailable(str(exc)) from exc
    return base64.b64decode(response["data"]["plaintext"])


def transit_key_rotate(name: str) -> int:
    """Add a new version to the Transit key; returns the new latest version."""
    try:
        transit = client().secrets.transit
        transit.rotate_key(name=name, mount_point=_mount())
        return int(transit.read_key(name=name, mount_point=_mount())["data"]["latest_version"])
    except (VaultError, RequestException) as exc:
        raise KeyServiceUnavailable(str(exc)) from exc


def data_keys_rewrap(name: str, wrapped: list[str]) -> list[tuple[str, int]]:
    """Rewrap ciphertexts under the Transit key's latest version, in one call, without the
    plaintext ever leaving Vault; returns (new ciphertext, key version) in order."""
    try:
        response = client().secrets.transit.rewrap_data(
            name=name,
            ciphertext="",
            batch_input=[{"ciphertext": c} for c in wrapped],
            mount_point=_mount(),
        )
    except (VaultError, RequestException) as exc:
        raise KeyServiceUnavailable(str(exc)) from exc
    results = response["data"]["batch_results"]
    if any("error" in r and r["error"] for r in results):
        raise KeyServiceUnavailable(f"Vault refused to rewrap: {results}")
    return [(r["ciphertext"], int(r["ciphertext"].split(":")[1].lstrip("v"))) for r in results]
