"""A Kubernetes API server reduced to the one call Vault's kubernetes auth method makes.

On login, OpenBao posts the pod's service-account token as a TokenReview to
`<kubernetes_host>/apis/authentication.k8s.io/v1/tokenreviews`, authenticated with its own
reviewer token, and trusts the identity the API server answers with. This server issues
RS256-signed projected service-account tokens (what the kubelet mounts into a pod) and reviews
them as the API server does: signature, expiry, audience, and whether the account still exists.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import ssl
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

TOKEN_REVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"
API_AUDIENCE = "https://kubernetes.default.svc.cluster.local"
LOCALHOST = "127.0.0.1"


@dataclass(frozen=True)
class ServiceAccount:
    namespace: str
    name: str
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def username(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}"


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
) -> x509.Certificate:
    """A CA certificate (no `issuer`), or a serving certificate for 127.0.0.1 that it signs."""
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
    )
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
        return builder.sign(key, hashes.SHA256())
    builder = builder.add_extension(
        x509.SubjectAlternativeName(
            [
                x509.DNSName("kubernetes.default.svc"),
                x509.IPAddress(ipaddress.ip_address(LOCALHOST)),
            ]
        ),
        False,
    )
    return builder.sign(issuer[1], hashes.SHA256())


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class KubernetesAPI:
    """A TokenReview endpoint over HTTPS on 127.0.0.1, with the cluster's token issuer.

    Use as a context manager; OpenBao's `kubernetes_host` is `url` and its
    `kubernetes_ca_cert` is `ca_pem` (the cluster CA that signed the serving certificate).
    `reviews` records every TokenReview spec received, so a test can tell that OpenBao asked.
    """

    def __init__(self, *, issuer: str = API_AUDIENCE) -> None:
        self.issuer = issuer
        self.reviews: list[dict[str, Any]] = []
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._kid = _b64url(uuid.uuid4().bytes)
        self._accounts: dict[tuple[str, str], ServiceAccount] = {}
        self._reviewers: set[str] = set()  # usernames bound to system:auth-delegator
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        ca_key = ec.generate_private_key(ec.SECP256R1())
        self._ca = _certificate("kubernetes", ca_key, None)
        self._tls_key = ec.generate_private_key(ec.SECP256R1())
        self._tls_cert = _certificate("kube-apiserver", self._tls_key, (self._ca, ca_key))

    @property
    def ca_pem(self) -> str:
        """The cluster CA certificate, PEM-encoded (what a pod finds in its `ca.crt`)."""
        return self._ca.public_bytes(serialization.Encoding.PEM).decode()

    # -- the control plane's side: service accounts and their tokens ---------------------------

    def service_account(self, namespace: str, name: str) -> ServiceAccount:
        """The account `namespace/name`, created on first use (like `kubectl create sa`)."""
        with self._lock:
            return self._accounts.setdefault((namespace, name), ServiceAccount(namespace, name))

    def delete_service_account(self, namespace: str, name: str) -> None:
        """Delete the account: tokens issued for it stop passing review."""
        with self._lock:
            self._accounts.pop((namespace, name), None)

    def grant_token_review(self, namespace: str, name: str) -> None:
        """Bind the account to `system:auth-delegator`, allowing it to create TokenReviews."""
        account = self.service_account(namespace, name)
        with self._lock:
            self._reviewers.add(account.username)

    def token(
        self,
        namespace: str,
        name: str,
        *,
        audiences: tuple[str, ...] = (API_AUDIENCE,),
        lifetime: int = 3600,
    ) -> str:
        """A projected service-account token for `namespace/name`, as mounted into a pod."""
        account = self.service_account(namespace, name)
        now = int(time.time())
        claims = {
            "aud": list(audiences),
            "exp": now + lifetime,
            "iat": now,
            "nbf": now,
            "iss": self.issuer,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": {
                "namespace": account.namespace,
                "pod": {"name": f"{account.name}-0", "uid": str(uuid.uuid4())},
                "serviceaccount": {"name": account.name, "uid": account.uid},
            },
            "sub": account.username,
        }
        header = {"alg": "RS256", "kid": self._kid, "typ": "JWT"}
        signing_input = (
            f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        )
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    # -- the API server's side: reviewing a token ----------------------------------------------

    def review(self, token: str, audiences: list[str]) -> dict[str, Any]:
        """The `status` of a TokenReview of `token` for `audiences` (the API's own by default)."""
        claims = self._verified_claims(token)
        if claims is None:
            return self._unauthenticated("invalid bearer token")
        if claims.get("exp", 0) < time.time():
            return self._unauthenticated("invalid bearer token, token has expired")
        token_audiences = claims.get("aud") or []
        wanted = audiences or [API_AUDIENCE]
        granted = [aud for aud in wanted if aud in token_audiences]
        if not granted:
            return self._unauthenticated(
                f"token audiences {token_audiences} is invalid for the target audiences {wanted}"
            )
        identity = claims.get("kubernetes.io", {})
        namespace = identity.get("namespace", "")
        name = identity.get("serviceaccount", {}).get("name", "")
        with self._lock:
            account = self._accounts.get((namespace, name))
        if account is None or account.uid != identity["serviceaccount"].get("uid"):
            return self._unauthenticated(
                f"invalid bearer token, service account {namespace}/{name} has been deleted"
            )
        return {
            "authenticated": True,
            "user": {
                "username": account.username,
                "uid": account.uid,
                "groups": [
                    "system:serviceaccounts",
                    f"system:serviceaccounts:{namespace}",
                    "system:authenticated",
                ],
                "extra": {
                    "authentication.kubernetes.io/pod-name": [identity["pod"]["name"]],
                    "authentication.kubernetes.io/pod-uid": [identity["pod"]["uid"]],
                },
            },
            "audiences": granted,
        }

    def caller(self, authorization: str) -> str | None:
        """The username behind an `Authorization: Bearer` header, if the token is valid."""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        status = self.review(token, [])
        return status["user"]["username"] if status["authenticated"] else None

    def may_review(self, username: str) -> bool:
        with self._lock:
            return username in self._reviewers

    def _verified_claims(self, token: str) -> dict[str, Any] | None:
        try:
            header_part, claims_part, signature_part = token.split(".")
            header = json.loads(_b64url_decode(header_part))
            if header.get("alg") != "RS256" or header.get("kid") != self._kid:
                return None
            self._key.public_key().verify(
                _b64url_decode(signature_part),
                f"{header_part}.{claims_part}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
            claims: dict[str, Any] = json.loads(_b64url_decode(claims_part))
        except (ValueError, InvalidSignature):
            return None
        return claims

    @staticmethod
    def _unauthenticated(error: str) -> dict[str, Any]:
        return {"authenticated": False, "user": {}, "error": error}

    # -- serving ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the Kubernetes API stand-in is not running")
        host, port = self._server.server_address[:2]
        return f"https://{host!s}:{port}"

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # load_cert_chain reads files only; they live just long enough to be loaded.
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = Path(tmp) / "apiserver.crt", Path(tmp) / "apiserver.key"
            cert.write_bytes(self._tls_cert.public_bytes(serialization.Encoding.PEM))
            key.write_bytes(
                self._tls_key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            context.load_cert_chain(cert, key)
        return context

    def __enter__(self) -> KubernetesAPI:
        self._server = ThreadingHTTPServer((LOCALHOST, 0), _handler_for(self))
        self._server.socket = self._tls_context().wrap_socket(self._server.socket, server_side=True)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    """A `v1.Status` failure body, as the API server sends with 4xx answers."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _handler_for(api: KubernetesAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path.split("?")[0] != TOKEN_REVIEW_PATH:
                self._send(404, _status(404, "NotFound", "the server could not find the resource"))
                return
            caller = api.caller(self.headers.get("Authorization", ""))
            if caller is None:
                self._send(401, _status(401, "Unauthorized", "Unauthorized"))
                return
            if not api.may_review(caller):
                message = (
                    f'tokenreviews.authentication.k8s.io is forbidden: User "{caller}" cannot '
                    'create resource "tokenreviews" in API group "authentication.k8s.io" at the '
                    "cluster scope"
                )
                self._send(403, _status(403, "Forbidden", message))
                return
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length))
                spec = body["spec"]
                token = spec["token"]
            except (ValueError, KeyError, TypeError):
                self._send(400, _status(400, "BadRequest", "a TokenReview needs spec.token"))
                return
            api.reviews.append(spec)
            review = {
                "kind": "TokenReview",
                "apiVersion": "authentication.k8s.io/v1",
                "metadata": {"creationTimestamp": None},
                "spec": spec,
                "status": api.review(token, list(spec.get("audiences") or [])),
            }
            self._send(201, review)

        def _send(self, code: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test asserts on `reviews` instead of reading a request log."""

    return Handler
