"""Local stand-ins for the outside world single sign-on talks to, each a real server: a DNS
server (devstack/dns_local.py, dnslib) serving the TXT records a test publishes, an OpenID
provider (oidc-provider-mock), a provider of our own that hands out forged ID tokens, and a
SAML identity provider (pysaml2) with a throw-away certificate."""

import base64
import datetime as dt
import hashlib
import hmac
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.test import Client

from tests.support.manage import ROOT

# DNS -------------------------------------------------------------------------------------


@dataclass
class LocalDns:
    port: int
    records_path: Path

    def publish(self, records: dict[str, list[str]]) -> None:
        self.records_path.write_text(json.dumps(records))


@pytest.fixture(scope="session")
def local_dns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalDns]:
    """A DNS server process of this test session (one per xdist worker), on a free port."""
    records = tmp_path_factory.mktemp("dns") / "records.json"
    records.write_text("{}")
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.dns_local", "--records", str(records), "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("listening on "), line
    try:
        yield LocalDns(port=int(line.split()[-1]), records_path=records)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def dns(local_dns: LocalDns, settings: Any) -> Iterator[LocalDns]:
    """The local DNS server, as the resolver of this test, with no records to start with."""
    settings.SSO_DNS_NAMESERVER = "127.0.0.1"
    settings.SSO_DNS_PORT = local_dns.port
    local_dns.publish({})
    yield local_dns
    local_dns.publish({})


# OpenID Connect --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[str]:
    """An OpenID provider (oidc-provider-mock) on a thread of this session: its issuer URL.
    Any client id and secret are accepted; users and their claims are set per test."""
    from oidc_provider_mock import run_server_in_thread

    with run_server_in_thread(port=0, require_nonce=True) as server:
        yield f"http://localhost:{server.server_port}"


def oidc_user_set(issuer: str, sub: str, claims: dict[str, Any]) -> None:
    requests.put(f"{issuer}/users/{sub}", json=claims, timeout=5).raise_for_status()


def oidc_authorize(authorize_url: str, sub: str) -> str:
    """Sign `sub` in at the provider's authorization page; the URL it sends the browser
    back to (our callback, with code and state)."""
    response = requests.post(authorize_url, data={"sub": sub}, allow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text[:500]
    return response.headers["Location"]


def oidc_sign_in(client: Client, start_path: str, sub: str, *, method: str = "get") -> Any:
    """Run the whole code flow: start on our host, authorize at the provider, come back;
    our callback's response."""
    started = client.post(start_path) if method == "post" else client.get(start_path)
    assert started.status_code == 302, started.content[:500]
    back = urlsplit(oidc_authorize(started["Location"], sub))
    return client.get(back.path, dict(parse_qs(back.query)))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class ForgingProvider:
    """An OpenID provider of our own whose token endpoint returns whatever ID token the
    test put in `next_id_token`, signed with its published key (or not at all)."""

    def __init__(self) -> None:
        from joserfc.jwk import RSAKey

        self.key = RSAKey.generate_key(2048, parameters={"kid": "forger"})
        self.next_id_token = ""
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
        }

    def sign(self, claims: dict[str, Any], *, alg: str = "RS256") -> str:
        from joserfc import jwt

        if alg == "none":
            header = _b64(b'{"alg":"none","typ":"JWT"}')
            return f"{header}.{_b64(json.dumps(claims).encode())}."
        if alg == "HS256":  # "signed" with the public key as an HMAC secret
            header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
            body = _b64(json.dumps(claims).encode())
            secret = self.key.as_pem(private=False)
            mac = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
            return f"{header}.{body}.{_b64(mac)}"
        return jwt.encode({"alg": alg, "kid": "forger"}, claims, self.key)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                """Quiet: tests read what was served, not the access log."""

            def _json(self, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.startswith("/.well-known/openid-configuration"):
                    self._json(provider.metadata())
                elif self.path.startswith("/jwks"):
                    self._json({"keys": [provider.key.as_dict(private=False)]})
                else:
                    self.send_error(404)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._json(
                    {
                        "access_token": "forged",
                        "token_type": "Bearer",
                        "expires_in": 300,
                        "id_token": provider.next_id_token,
                    }
                )

        return Handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def forging_provider() -> Iterator[ForgingProvider]:
    provider = ForgingProvider()
    yield provider
    provider.close()


# SAML ------------------------------------------------------------------------------------


def self_signed(common_name: str) -> tuple[bytes, bytes]:
    """A throw-away RSA key and self-signed certificate (PEM), made for this test run."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class SamlIdp:
    """A pysaml2 identity provider that answers our AuthnRequests with signed responses."""

    entity_id: str
    key_file: Path
    cert_file: Path
    workdir: Path
    sp_metadata: list[str] = field(default_factory=list)
    # Ask for signed AuthnRequests (in its metadata, WantAuthnRequestsSigned) and refuse
    # an unsigned one, or one whose signature the SP metadata's certificate doesn't check.
    want_authn_requests_signed: bool = False
    # How many times the key was rotated (each gives new files, the entity id stays).
    generation: int = 0

    def rotate_key(self) -> None:
        """A new signing key and certificate, as a provider rotating its certificate."""
        self.generation += 1
        key_pem, cert_pem = self_signed(f"{self.entity_id} {self.generation}")
        stem = self.workdir / f"{self.key_file.stem}-{self.generation}"
        self.key_file, self.cert_file = stem.with_suffix(".key"), stem.with_suffix(".crt")
        self.key_file.write_bytes(key_pem)
        self.cert_file.write_bytes(cert_pem)

    def metadata_xml(self) -> str:
        from saml2.metadata import create_metadata_string

        return create_metadata_string(None, config=self._config(with_sps=False), valid=24).decode()

    def _config(self, *, with_sps: bool = True) -> Any:
        import shutil

        from saml2 import BINDING_HTTP_REDIRECT
        from saml2.config import IdPConfig

        conf: dict[str, Any] = {
            "entityid": self.entity_id,
            "xmlsec_binary": shutil.which("xmlsec1"),
            "key_file": str(self.key_file),
            "cert_file": str(self.cert_file),
            "service": {
                "idp": {
                    "endpoints": {
                        "single_sign_on_service": [
                            (f"{self.entity_id}/sso/redirect", BINDING_HTTP_REDIRECT)
                        ]
                    },
                    "policy": {
                        "default": {
                            "lifetime": {"minutes": 15},
                            "attribute_restrictions": None,
                            "name_form": "urn:oasis:names:tc:SAML:2.0:attrname-format:basic",
                        }
                    },
                    "sign_assertion": True,
                    "sign_response": False,
                    "want_authn_requests_signed": self.want_authn_requests_signed,
                }
            },
            "metadata": {"inline": self.sp_metadata} if with_sps and self.sp_metadata else {},
        }
        config = IdPConfig()
        config.load(conf)
        return config

    def server(self) -> Any:
        from saml2.server import Server

        return Server(config=self._config())

    def respond(
        self,
        *,
        authn_request_url: str,
        email: str,
        attributes: dict[str, list[str]] | None = None,
        sign_assertion: bool = True,
        **overrides: Any,
    ) -> tuple[str, str, str]:
        """Read the AuthnRequest out of our redirect and answer it: the base64 SAMLResponse,
        the RelayState, and the ACS URL to post them to."""
        from saml2 import BINDING_HTTP_REDIRECT
        from saml2.saml import AUTHN_PASSWORD, NAMEID_FORMAT_EMAILADDRESS, NameID

        query = parse_qs(urlsplit(authn_request_url).query)
        idp = self.server()
        # The redirect binding's signature, when there is one, covers these parameters.
        parsed = idp.parse_authn_request(
            query["SAMLRequest"][0],
            BINDING_HTTP_REDIRECT,
            relay_state=query.get("RelayState", [None])[0],
            sigalg=query.get("SigAlg", [None])[0],
            signature=query.get("Signature", [None])[0],
        )
        request = parsed.message
        identity = {"email": [email], **(attributes or {})}
        kwargs: dict[str, Any] = {
            "identity": identity,
            "in_response_to": request.id,
            "destination": request.assertion_consumer_service_url,
            "sp_entity_id": request.issuer.text,
            "name_id": NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=email),
            "authn": {"class_ref": AUTHN_PASSWORD, "authn_auth": self.entity_id},
            "sign_assertion": sign_assertion,
            "sign_response": False,
            # What identity providers sign with today; a test asks for SHA-1 to see it refused.
            "sign_alg": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            "digest_alg": "http://www.w3.org/2001/04/xmlenc#sha256",
        }
        kwargs.update(overrides)
        response = idp.create_authn_response(**kwargs)
        encoded = base64.b64encode(str(response).encode()).decode()
        return encoded, query["RelayState"][0], request.assertion_consumer_service_url


def saml_idp(tmp_path: Path, name: str = "idp") -> SamlIdp:
    key_pem, cert_pem = self_signed(name)
    key_file, cert_file = tmp_path / f"{name}.key", tmp_path / f"{name}.crt"
    key_file.write_bytes(key_pem)
    cert_file.write_bytes(cert_pem)
    return SamlIdp(
        entity_id=f"https://{name}.idp.test",
        key_file=key_file,
        cert_file=cert_file,
        workdir=tmp_path,
    )


class MetadataServer:
    """A local HTTP server that serves documents by path, or fails with a given status:
    an identity provider's metadata URL."""

    def __init__(self) -> None:
        self.documents: dict[str, tuple[int, str]] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, path: str, body: str, *, status: int = 200) -> str:
        self.documents[path] = (status, body)
        return f"{self.base}{path}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        documents = self.documents

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                """Quiet: tests read what was served, not the access log."""

            def do_GET(self) -> None:
                status, body = documents.get(self.path, (404, "not found"))
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/samlmetadata+xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def metadata_server() -> Iterator[MetadataServer]:
    server = MetadataServer()
    yield server
    server.close()
