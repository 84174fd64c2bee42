"""OpenID Connect as a relying party: discovery, the authorization-code flow with PKCE,
state and nonce (authlib), and the ID token's checks (joserfc): signature against the
provider's JWKS with asymmetric algorithms only, issuer, audience, expiry and nonce."""

import hmac
from dataclasses import dataclass, field
from typing import Any

import requests
import structlog
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from .exceptions import ConnectionInvalid, SsoFailed

log = structlog.get_logger(__name__)

HTTP_TIMEOUT = 5.0
DISCOVERY_PATH = "/.well-known/openid-configuration"
# Signatures made with the provider's private key only: `none` and the HMAC family are
# refused, so neither an unsigned token nor one "signed" with the public key as a shared
# secret passes.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
CLOCK_LEEWAY_SECONDS = 60
_REQUIRED_METADATA = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")


def discovery_fetch(issuer_or_url: str) -> dict[str, Any]:
    """The provider's discovery document, from its issuer or the document's own URL."""
    url = issuer_or_url.strip()
    if not url.endswith(DISCOVERY_PATH):
        url = url.rstrip("/") + DISCOVERY_PATH
    try:
        response = requests.get(url, timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ConnectionInvalid(
            f"The discovery document at {url} could not be read.", field="oidc_issuer"
        ) from exc
    return metadata_check(document, field_name="oidc_issuer")


def metadata_check(document: Any, *, field_name: str = "oidc_metadata") -> dict[str, Any]:
    """The discovery document if it names what the flow needs, else ConnectionInvalid."""
    if not isinstance(document, dict):
        raise ConnectionInvalid("The discovery document is not a JSON object.", field=field_name)
    missing = [key for key in _REQUIRED_METADATA if not document.get(key)]
    if missing:
        raise ConnectionInvalid(
            f"The discovery document lacks {', '.join(missing)}.", field=field_name
        )
    return document


@dataclass(frozen=True)
class AuthorizationStart:
    url: str
    state: str
    nonce: str
    code_verifier: str


def authorization_start(
    *, metadata: dict[str, Any], client_id: str, redirect_uri: str
) -> AuthorizationStart:
    """Where to send the browser, with the fresh state, nonce and PKCE verifier the
    callback must find again in the same browser's session."""
    state = generate_token(32)
    nonce = generate_token(32)
    code_verifier = generate_token(64)
    session = OAuth2Session(
        client_id,
        redirect_uri=redirect_uri,
        scope="openid email profile",
        code_challenge_method="S256",
    )
    url, _ = session.create_authorization_url(
        metadata["authorization_endpoint"],
        state=state,
        nonce=nonce,
        code_verifier=code_verifier,
    )
    return AuthorizationStart(url=url, state=state, nonce=nonce, code_verifier=code_verifier)


@dataclass(frozen=True)
class OidcIdentity:
    subject: str
    claims: dict[str, Any] = field(default_factory=dict)


def code_exchange(
    *,
    metadata: dict[str, Any],
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    code: str,
    code_verifier: str,
    nonce: str,
) -> OidcIdentity:
    """Trade the authorization code for tokens and return the verified ID token's claims
    (with what the userinfo endpoint adds for the same subject). Raises SsoFailed."""
    methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    auth_method = (
        "client_secret_basic" if "client_secret_basic" in methods else "client_secret_post"
    )
    session = OAuth2Session(
        client_id,
        client_secret,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method=auth_method,
    )
    try:
        token = session.fetch_token(
            metadata["token_endpoint"],
            code=code,
            code_verifier=code_verifier,
            grant_type="authorization_code",
            timeout=HTTP_TIMEOUT,
        )
    except (OAuthError, requests.RequestException, ValueError) as exc:
        log.warning("sso.oidc.token_failed", error=str(exc))
        raise SsoFailed("The identity provider did not accept the sign-in code.") from exc
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise SsoFailed("The identity provider sent no ID token.")
    claims = id_token_verify(id_token=id_token, metadata=metadata, client_id=client_id, nonce=nonce)
    userinfo_endpoint = metadata.get("userinfo_endpoint")
    access_token = token.get("access_token")
    if userinfo_endpoint and access_token and "email" not in claims:
        claims = {**_userinfo(userinfo_endpoint, access_token, claims["sub"]), **claims}
    return OidcIdentity(subject=str(claims["sub"]), claims=claims)


def _userinfo(url: str, access_token: str, subject: str) -> dict[str, Any]:
    try:
        response = requests.get(
            url, headers={"Authorization": f"Bearer {access_token}"}, timeout=HTTP_TIMEOUT
        )
        response.raise_for_status()
        info = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise SsoFailed("The identity provider's userinfo could not be read.") from exc
    if not isinstance(info, dict) or info.get("sub") != subject:
        raise SsoFailed("The userinfo is about someone else than the ID token.")
    return info


def _jwks(metadata: dict[str, Any]) -> KeySet:
    try:
        response = requests.get(metadata["jwks_uri"], timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        return KeySet.import_key_set(response.json())
    except (requests.RequestException, ValueError, JoseError) as exc:
        raise SsoFailed("The identity provider's signing keys could not be read.") from exc


def id_token_verify(
    *, id_token: str, metadata: dict[str, Any], client_id: str, nonce: str
) -> dict[str, Any]:
    """The claims of an ID token whose signature, issuer, audience, expiry and nonce hold;
    SsoFailed naming the first that does not."""
    keys = _jwks(metadata)
    try:
        token = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
    except (JoseError, ValueError) as exc:
        raise SsoFailed("The ID token's signature is not valid.") from exc
    claims = dict(token.claims)
    registry = jwt.JWTClaimsRegistry(
        leeway=CLOCK_LEEWAY_SECONDS,
        iss={"essential": True, "value": metadata["issuer"]},
        sub={"essential": True},
        exp={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise SsoFailed(f"The ID token was refused: {exc.description or exc.error}.") from exc
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else list(audience or [])
    if client_id not in audiences:
        raise SsoFailed("The ID token was issued for another application.")
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise SsoFailed("The ID token was issued for another application.")
    if not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
        raise SsoFailed("The ID token does not belong to this sign-in (nonce).")
    return claims
