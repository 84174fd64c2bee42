"""SAML 2.0 as a service provider, with pysaml2 (which calls the `xmlsec1` program to check
signatures). Each connection is its own SP: its entity id and assertion consumer service
are addresses on the organization's host, it has its own key pair (iam/sso/keys.py), and
it trusts one identity provider's metadata.

Our AuthnRequests go by HTTP-Redirect and are signed with the connection's key when the
connection says so (the signature and its algorithm travel as query parameters). Assertions
must be signed; one encrypted to our certificate is decrypted first (the current key pair
or the one before the last rotation), then checked exactly like a plain one: pysaml2
checks the signature against the metadata's certificate, the audience (our entity id), the
recipient and destination (our ACS), the validity window and that the response answers a
request this browser started (InResponseTo). A replayed assertion is refused by
`SamlAssertionSeen`."""

import base64
import calendar
import datetime as dt
import shutil
import threading
from dataclasses import dataclass, field
from typing import Any

import requests
import structlog
from django.utils import timezone
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.mdstore import MetadataStore
from saml2.saml import NAMEID_FORMAT_UNSPECIFIED
from saml2.time_util import str_to_time
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from tenants.models import Tenant
from tenants.services import tenant_url

from .exceptions import ConnectionInvalid, SsoFailed
from .keys import KeyFiles, KeyPair, key_files

log = structlog.get_logger(__name__)

HTTP_TIMEOUT = 5.0
CLOCK_SKEW_SECONDS = 60
MAX_METADATA_BYTES = 1_000_000
# pysaml2 signs an HTTP-Redirect request with a signer object shared by the whole process
# (it sets the key on it just before signing), so two requests of different connections
# must not sign at the same time.
_REDIRECT_SIGNING = threading.Lock()


@dataclass(frozen=True)
class SpSettings:
    """What a connection brings to the SP side: its key pairs (the current one first, then
    the one before the last rotation, kept for decrypting only) and whether it signs its
    AuthnRequests."""

    keys: list[KeyPair] = field(default_factory=list)
    sign_requests: bool = False


def sp_base(*, tenant: Tenant, connection_id: int) -> str:
    return tenant_url(tenant, f"/auth/sso/saml/{connection_id}/")


def sp_entity_id(*, tenant: Tenant, connection_id: int) -> str:
    return sp_base(tenant=tenant, connection_id=connection_id) + "metadata/"


def sp_acs_url(*, tenant: Tenant, connection_id: int) -> str:
    return sp_base(tenant=tenant, connection_id=connection_id) + "acs/"


def _xmlsec() -> str:
    binary = shutil.which("xmlsec1")
    if binary is None:  # installed by the Makefile's set-up
        raise ConnectionInvalid("The xmlsec1 program is missing on this server.")
    return binary


def _config(
    *,
    tenant: Tenant,
    connection_id: int,
    idp_metadata_xml: str,
    files: list[KeyFiles] | None = None,
    sign_requests: bool = False,
    certificate_file: str = "",
) -> SPConfig:
    """pysaml2's SP configuration. `files` are the key pairs (current first) for signing
    and decrypting; `certificate_file` alone is enough to describe us in metadata."""
    acs = sp_acs_url(tenant=tenant, connection_id=connection_id)
    sp: dict[str, Any] = {
        "endpoints": {"assertion_consumer_service": [(acs, BINDING_HTTP_POST)]},
        "want_assertions_signed": True,
        "want_response_signed": False,
        "authn_requests_signed": bool(sign_requests and (files or certificate_file)),
        "allow_unsolicited": False,
        "name_id_format": NAMEID_FORMAT_UNSPECIFIED,
    }
    settings: dict[str, Any] = {
        "entityid": sp_entity_id(tenant=tenant, connection_id=connection_id),
        "xmlsec_binary": _xmlsec(),
        "service": {"sp": sp},
        "metadata": {"inline": [idp_metadata_xml]} if idp_metadata_xml else {},
        "allow_unknown_attributes": True,
        "accepted_time_diff": CLOCK_SKEW_SECONDS,
        "signing_algorithm": SIG_RSA_SHA256,
        "digest_algorithm": DIGEST_SHA256,
    }
    if files:
        settings["key_file"] = files[0].key_file
        settings["cert_file"] = files[0].cert_file
        settings["encryption_keypairs"] = [
            {"key_file": f.key_file, "cert_file": f.cert_file} for f in files
        ]
    elif certificate_file:
        settings["cert_file"] = certificate_file
        settings["encryption_keypairs"] = [{"cert_file": certificate_file}]
    config = SPConfig()
    config.load(settings)
    return config


def _sp_settings(*, tenant: Tenant, connection_id: int, private_keys: bool = True) -> SpSettings:
    from .services import connection_sp_settings  # services import this module

    return connection_sp_settings(
        tenant=tenant, connection_id=connection_id, private_keys=private_keys
    )


def metadata_fetch(url: str) -> str:
    try:
        response = requests.get(url, timeout=HTTP_TIMEOUT)
        response.raise_for_status()
    except requests.RequestException as exc:
        reason = (
            f"HTTP {exc.response.status_code}"
            if exc.response is not None
            else exc.__class__.__name__
        )
        raise ConnectionInvalid(
            f"The metadata at {url} could not be read ({reason}).", field="saml_metadata_url"
        ) from exc
    if len(response.content) > MAX_METADATA_BYTES:
        raise ConnectionInvalid("The metadata is too large.", field="saml_metadata_url")
    return response.text


def _idp_store(metadata_xml: str) -> MetadataStore:
    store = MetadataStore(attrc=None, config=SPConfig())
    try:
        store.load("inline", metadata_xml)
    except Exception as exc:  # pysaml2 raises bare exceptions on malformed metadata
        raise ConnectionInvalid(
            "The metadata is not valid SAML metadata.", field="saml_metadata_xml"
        ) from exc
    return store


def idp_entity_id(metadata_xml: str) -> str:
    """The one identity provider the metadata describes, or ConnectionInvalid."""
    providers = list(_idp_store(metadata_xml).identity_providers())
    if len(providers) != 1:
        raise ConnectionInvalid(
            "The metadata must describe exactly one identity provider.",
            field="saml_metadata_xml",
        )
    return str(providers[0])


def idp_signing_certificates(metadata_xml: str) -> list[str]:
    """The certificates (bare base64, as in the metadata) the identity provider signs
    with, sorted, so two versions of its metadata can be compared."""
    store = _idp_store(metadata_xml)
    entity_id = idp_entity_id(metadata_xml)
    found = store.certs(entity_id, "idpsso", "signing")
    return sorted({"".join(str(cert).split()) for _, cert in found})


def idp_wants_signed_requests(metadata_xml: str) -> bool:
    """Whether the identity provider's metadata says WantAuthnRequestsSigned="true"."""
    store = _idp_store(metadata_xml)
    entity_id = idp_entity_id(metadata_xml)
    descriptors = store[entity_id].get("idpsso_descriptor", [])
    return any(
        str(d.get("want_authn_requests_signed", "")).lower() in ("true", "1") for d in descriptors
    )


def sp_metadata(*, tenant: Tenant, connection_id: int, sp: SpSettings | None = None) -> str:
    """Our SP metadata, for the identity provider's administrators: it publishes the
    connection's current certificate for signing and for encryption."""
    from saml2.metadata import create_metadata_string

    sp = sp or _sp_settings(tenant=tenant, connection_id=connection_id, private_keys=False)
    if not sp.keys:
        config = _config(tenant=tenant, connection_id=connection_id, idp_metadata_xml="")
        return create_metadata_string(None, config=config, valid=365 * 24).decode()
    # Only the certificate is written out: describing us needs no private key.
    with key_files([KeyPair(key_pem="", cert_pem=sp.keys[0].cert_pem)]) as files:
        config = _config(
            tenant=tenant,
            connection_id=connection_id,
            idp_metadata_xml="",
            sign_requests=sp.sign_requests,
            certificate_file=files[0].cert_file,
        )
        return create_metadata_string(None, config=config, valid=365 * 24).decode()


@dataclass(frozen=True)
class SamlStart:
    url: str
    request_id: str


def authn_request(
    *,
    tenant: Tenant,
    connection_id: int,
    idp_metadata_xml: str,
    relay_state: str,
    sp: SpSettings | None = None,
) -> SamlStart:
    """The redirect to the identity provider with our AuthnRequest, signed when the
    connection signs its requests."""
    sp = sp or _sp_settings(tenant=tenant, connection_id=connection_id)
    signing = sp.sign_requests and bool(sp.keys)
    with key_files(sp.keys[:1] if signing else []) as files:
        client = Saml2Client(
            config=_config(
                tenant=tenant,
                connection_id=connection_id,
                idp_metadata_xml=idp_metadata_xml,
                files=files,
                sign_requests=signing,
            )
        )
        with _REDIRECT_SIGNING:
            request_id, info = client.prepare_for_authenticate(
                entityid=idp_entity_id(idp_metadata_xml),
                relay_state=relay_state,
                binding=BINDING_HTTP_REDIRECT,
                sign=signing,
                sigalg=SIG_RSA_SHA256 if signing else None,
            )
    location = dict(info["headers"])["Location"]
    return SamlStart(url=location, request_id=str(request_id))


@dataclass(frozen=True)
class SamlIdentity:
    subject: str
    assertion_id: str
    expires_at: dt.datetime
    attributes: dict[str, list[str]] = field(default_factory=dict)


def response_parse(
    *,
    tenant: Tenant,
    connection_id: int,
    idp_metadata_xml: str,
    saml_response: str,
    request_id: str,
    sp: SpSettings | None = None,
) -> SamlIdentity:
    """The identity a posted SAMLResponse asserts, once every check holds; SsoFailed
    otherwise (the replay check is the caller's, in the sign-in's transaction). An
    encrypted assertion is decrypted with the connection's keys, then checked alike."""
    if not saml_response:
        raise SsoFailed("The identity provider sent no SAML response.")
    try:
        base64.b64decode(saml_response, validate=True)
    except ValueError as exc:
        raise SsoFailed("The SAML response is not base64.") from exc
    sp = sp or _sp_settings(tenant=tenant, connection_id=connection_id)
    with key_files(sp.keys) as files:
        client = Saml2Client(
            config=_config(
                tenant=tenant,
                connection_id=connection_id,
                idp_metadata_xml=idp_metadata_xml,
                files=files,
            )
        )
        try:
            response = client.parse_authn_request_response(
                saml_response, BINDING_HTTP_POST, outstanding={request_id: "/"}
            )
        except Exception as exc:  # pysaml2 signals each refusal with its own (or a bare) class
            log.warning("sso.saml.refused", error=exc.__class__.__name__, detail=str(exc)[:300])
            raise SsoFailed(f"The SAML response was refused ({_refusal(exc)}).") from exc
    if response is not None and response.assertion is None and _encrypted(response):
        # pysaml2 leaves an assertion it could not decrypt out rather than raising.
        raise SsoFailed(
            "The SAML assertion is encrypted to a key this connection doesn't hold; give the "
            "identity provider this connection's current SP metadata."
        )
    if response is None or response.assertion is None:
        raise SsoFailed("The SAML response carries no assertion.")
    assertion = response.assertion
    if assertion.signature is None and not response.response.signature:
        raise SsoFailed("The SAML assertion is not signed.")
    weak = _weak_algorithms(assertion.signature, response.response.signature)
    if weak:
        raise SsoFailed(
            f"The SAML response is signed with {', '.join(weak)}, which is refused as too weak; "
            "set the identity provider to sign with SHA-256."
        )
    expires_at = timezone.now() + dt.timedelta(hours=1)
    conditions = assertion.conditions
    if conditions is not None and conditions.not_on_or_after:
        expires_at = dt.datetime.fromtimestamp(
            _epoch(conditions.not_on_or_after), tz=dt.UTC
        ) + dt.timedelta(seconds=CLOCK_SKEW_SECONDS)
    name_id = response.name_id
    subject = str(name_id.text).strip() if name_id is not None and name_id.text else ""
    attributes = {str(k): [str(v) for v in vs] for k, vs in (response.ava or {}).items()}
    return SamlIdentity(
        subject=subject,
        assertion_id=str(assertion.id),
        expires_at=expires_at,
        attributes=attributes,
    )


def _encrypted(response: Any) -> bool:
    return bool(getattr(response.response, "encrypted_assertion", None))


def _refusal(exc: Exception) -> str:
    """The refusal in words an admin can act on; pysaml2's class name otherwise."""
    if "decrypt" in str(exc).lower():
        return "the encrypted assertion could not be decrypted with this connection's key"
    return exc.__class__.__name__


# SHA-1 signatures and digests can be forged with collisions; identity providers have signed
# with SHA-256 by default for years.
_WEAK_ALGORITHMS = {
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1": "RSA-SHA1",
    "http://www.w3.org/2000/09/xmldsig#dsa-sha1": "DSA-SHA1",
    "http://www.w3.org/2000/09/xmldsig#hmac-sha1": "HMAC-SHA1",
    "http://www.w3.org/2000/09/xmldsig#sha1": "SHA-1 digests",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-md5": "RSA-MD5",
    "http://www.w3.org/2001/04/xmldsig-more#md5": "MD5 digests",
}


def _weak_algorithms(*signatures: Any) -> list[str]:
    """The weak algorithms the given XML signatures use (signature method and digests)."""
    found: list[str] = []
    for signature in signatures:
        info = getattr(signature, "signed_info", None)
        if info is None:
            continue
        methods = [getattr(info.signature_method, "algorithm", None)]
        methods += [getattr(ref.digest_method, "algorithm", None) for ref in info.reference or []]
        for method in methods:
            name = _WEAK_ALGORITHMS.get(method or "")
            if name and name not in found:
                found.append(name)
    return found


def _epoch(timestamp: str) -> float:
    return float(calendar.timegm(str_to_time(timestamp)))
