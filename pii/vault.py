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


def data_key_wrap(name: str, plaintext: bytes) -> tuple[str, int]:
    """Wrap an existing key under another Transit key (creating that on first use); returns
    (ciphertext, key version). Used to move keys off the formerly shared wrapping key."""
    transit_key_ensure(name)
    try:
        response = client().secrets.transit.encrypt_data(
            name=name, plaintext=base64.b64encode(plaintext).decode(), mount_point=_mount()
        )
    except (VaultError, RequestException) as exc:
        raise KeyServiceUnavailable(str(exc)) from exc
    ciphertext = str(response["data"]["ciphertext"])
    return ciphertext, int(response["data"].get("key_version") or ciphertext.split(":")[1][1:])


def transit_keys_list() -> list[str]:
    """The names of every Transit key on the mount."""
    try:
        response = client().secrets.transit.list_keys(mount_point=_mount())
    except InvalidPath:
        return []  # no key at all yet
    except (VaultError, RequestException) as exc:
        raise KeyServiceUnavailable(str(exc)) from exc
    return [str(name) for name in response["data"]["keys"]]


def transit_key_created_at(name: str) -> float | None:
    """When the Transit key's first version was made (Unix time), or None if it is gone."""
    try:
        data = client().secrets.transit.read_key(name=name, mount_point=_mount())["data"]
    except InvalidPath:
        return None
    except (VaultError, RequestException) as exc:
        raise KeyServiceUnavailable(str(exc)) from exc
    return float(min(int(v) for v in data["keys"].values()))


def transit_key_trim(name: str, *, min_version: int) -> int:
    """Destroy every version of the Transit key older than `min_version` (never the latest),
    so nothing those versions wrapped (in a backup, say) can be unwrapped again; returns the
    oldest version kept. Call it only once no stored key needs an older version."""
    try:
        transit = client().secrets.transit
        latest = int(transit.read_key(name=name, mount_point=_mount())["data"]["latest_version"])
        kept = max(1, min(min_version, latest))
        # Written out: hvac refuses a minimum encryption version equal to the decryption one,
        # which Vault accepts (and requires to be set before trimming).
        client().adapter.post(
            f"/v1/{_mount()}/keys/{name}/config",
            json={"min_decryption_version": kept, "min_encryption_version": latest},
        )
        transit.trim_key(name=name, min_version=kept, mount_point=_mount())
    except (VaultError, RequestException) as exc:
        raise KeyServiceUnavailable(str(exc)) from exc
    return kept


def transit_key_delete(name: str) -> None:
    """Delete the Transit key and every version of it (idempotent)."""
    try:
        transit = client().secrets.transit
        transit.update_key_configuration(name=name, deletion_allowed=True, mount_point=_mount())
        transit.delete_key(name=name, mount_point=_mount())
    except (InvalidPath, InvalidRequest) as exc:
        if isinstance(exc, InvalidPath) or "no existing key" in str(exc) or "not found" in str(exc):
            return  # gone already
        raise KeyServiceUnavailable(str(exc)) from exc
    except (VaultError, RequestException) as exc:
        raise KeyServiceUnavailable(str(exc)) from exc
