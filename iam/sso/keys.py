"""The service provider's own key pair of a SAML connection: an RSA key and a self-signed
certificate, made with `cryptography`. The certificate goes into our SP metadata, so the
identity provider can check our signed AuthnRequests and encrypt its assertions to us.

The private key is sealed with the organization's data key (`pii.crypto`, Vault-managed
key encryption) before it is stored; pysaml2 and xmlsec1 read keys from files, so
`key_files` writes them to a private temporary directory only while a request or response
is being handled, and removes it afterwards."""

import datetime as dt
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from pii.crypto import decrypt, encrypt

KEY_BITS = 2048  # what identity providers expect of SP certificates; 3072 works too
CERT_VALID_DAYS = 10 * 365  # SAML ignores an SP certificate's dates; rotation is explicit
_SEAL_FIELD = "sso.saml_sp_private_key"


@dataclass(frozen=True)
class KeyPair:
    """A private key and its certificate, both PEM."""

    key_pem: str
    cert_pem: str


@dataclass(frozen=True)
class KeyFiles:
    key_file: str
    cert_file: str


def keypair_generate(*, common_name: str) -> KeyPair:
    """A new RSA key and a self-signed certificate naming `common_name`."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CERT_VALID_DAYS))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return KeyPair(key_pem=key_pem, cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode())


def key_seal(*, tenant_id: int, key_pem: str) -> str:
    return encrypt(tenant_id=tenant_id, field=_SEAL_FIELD, value=key_pem)


def key_open(*, tenant_id: int, sealed: str) -> str:
    return decrypt(tenant_id=tenant_id, field=_SEAL_FIELD, token=sealed)


def fingerprint(cert_pem_or_b64: str) -> str:
    """The SHA-256 fingerprint of a certificate (PEM, or the bare base64 metadata holds),
    as the colon-separated hex identity providers show."""
    body = "".join(
        line.strip()
        for line in cert_pem_or_b64.strip().splitlines()
        if line.strip() and not line.startswith("-----")
    )
    pem = f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"
    cert = x509.load_pem_x509_certificate(pem.encode())
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


@contextmanager
def key_files(pairs: list[KeyPair]) -> Iterator[list[KeyFiles]]:
    """The pairs written to files only this process's user can read, for pysaml2; the
    files are gone when the block ends, whatever happens in it."""
    with tempfile.TemporaryDirectory(prefix="mycrm-saml-") as directory:
        os.chmod(directory, 0o700)
        written = []
        for index, pair in enumerate(pairs):
            key_file = Path(directory) / f"sp{index}.key"
            cert_file = Path(directory) / f"sp{index}.crt"
            descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(pair.key_pem)
            cert_file.write_text(pair.cert_pem)
            written.append(KeyFiles(key_file=str(key_file), cert_file=str(cert_file)))
        yield written
