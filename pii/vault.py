"""The Vault (or OpenBao) Transit calls PII protection needs, and nothing else."""

import base64
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


_session: dict[str, Any] = {}
_session_lock = threading.Lock()


def _settings_signature() -> tuple[Any, ...]:
    return (
        settings.VAULT_ADDR,
        settings.VAULT_AUTH_METHOD,
        settings.VAULT_AUTH_MOUNT,
        settings.VAULT_K8S_TOKEN_PATH,
        settings.VAULT_TOKEN,
        settings.VAULT_ROLE,
        settings.VAULT_APPROLE_ROLE_ID,
        settings.VAULT_APPROLE_SECRET_ID,
    )


def _login(vault: hvac.Client, previous: hvac.Client | None) -> float:
    """Authenticate `vault` by the configured method; return the token's lifetime in seconds
    (0 for tokens that do not expire)."""
    method = settings.VAULT_AUTH_METHOD
    mount = settings.VAULT_AUTH_MOUNT or method
    if method == "token":
        vault.token = settings.VAULT_TOKEN
        info = vault.auth.token.lookup_self()["data"]
        if previous is not None and info.get("renewable") and info.get("ttl"):
            info = vault.auth.token.renew_self()["auth"]
            return float(info["lease_duration"])
        return float(info.get("ttl") or 0)
    if method == "approle":
        auth = vault.auth.approle.login(
            role_id=settings.VAULT_APPROLE_ROLE_ID,
            secret_id=settings.VAULT_APPROLE_SECRET_ID,
            mount_point=mount,
        )["auth"]
    elif method == "kubernetes":
        jwt = Path(settings.VAULT_K8S_TOKEN_PATH).read_text().strip()
        auth = vault.auth.kubernetes.login(role=settings.VAULT_ROLE, jwt=jwt, mount_point=mount)[
            "auth"
        ]
    else:
        raise KeyServiceUnavailable(f"Unknown VAULT_AUTH_METHOD {method!r}.")
    return float(auth["lease_duration"])


def client() -> hvac.Client:
    """An authenticated client, shared by the process; the token is renewed (or the login
    repeated) once half its lifetime has passed."""
    signature = _settings_signature()
    with _session_lock:
        now = time.monotonic()
        current = _session.get("client") if _session.get("signature") == signature else None
        if current is not None and now < _session["renew_at"]:
            return current
        vault = current or hvac.Client(url=settings.VAULT_ADDR, timeout=5)
        try:
            lifetime = _login(vault, current)
        except (VaultError, RequestException, OSError) as exc:
            _session.clear()
            raise KeyServiceUnavailable(f"Vault login failed: {exc}") from exc
        _session.update(
            signature=signature,
            client=vault,
            renew_at=now + lifetime / 2 if lifetime else float("inf"),
        )
        return vault


def forget_session() -> None:
    with _session_lock:
        _session.clear()


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
