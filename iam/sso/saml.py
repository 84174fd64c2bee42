"""SAML 2.0 as a service provider, with pysaml2 (which calls the `xmlsec1` program to check
signatures). Each connection is its own SP: its entity id and assertion consumer service
are addresses on the organization's host, and it trusts one identity provider's metadata.

Assertions must be signed; pysaml2 checks the signature against the metadata's
certificate, the audience (our entity id), the recipient and destination (our ACS), the
validity window and that the response answers a request this browser started
(InResponseTo). A replayed assertion is refused by `SamlAssertionSeen`."""

import base64
import calendar
import datetime as dt
import shutil
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

from tenants.models import Tenant
from tenants.services import tenant_url

from .exceptions import ConnectionInvalid, SsoFailed

log = structlog.get_logger(__name__)

HTTP_TIMEOUT = 5.0
CLOCK_SKEW_SECONDS = 60
MAX_METADATA_BYTES = 1_000_000


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


def _config(*, tenant: Tenant, connection_id: int, idp_metadata_xml: str) -> SPConfig:
    acs = sp_acs_url(tenant=tenant, connection_id=connection_id)
    settings: dict[str, Any] = {
        "entityid": sp_entity_id(tenant=tenant, connection_id=connection_id),
        "xmlsec_binary": _xmlsec(),
        "service": {
            "sp": {
                "endpoints": {"assertion_consumer_service": [(acs, BINDING_HTTP_POST)]},
                "want_assertions_signed": True,
                "want_response_signed": False,
                "authn_requests_signed": False,
                "allow_unsolicited": False,
                "name_id_format": NAMEID_FORMAT_UNSPECIFIED,
            }
        },
        "metadata": {"inline": [idp_metadata_xml]} if idp_metadata_xml else {},
        "allow_unknown_attributes": True,
        "accepted_time_diff": CLOCK_SKEW_SECONDS,
    }
    config = SPConfig()
    config.load(settings)
    return config


def metadata_fetch(url: str) -> str:
    try:
        response = requests.get(url, timeout=HTTP_TIMEOUT)
        response.raise_for_status()
    except requests.RequestException as exc:
        raise ConnectionInvalid(
            f"The metadata at {url} could not be read.", field="saml_metadata_url"
        ) from exc
    if len(response.content) > MAX_METADATA_BYTES:
        raise ConnectionInvalid("The metadata is too large.", field="saml_metadata_url")
    return response.text


def idp_entity_id(metadata_xml: str) -> str:
    """The one identity provider the metadata describes, or ConnectionInvalid."""
    store = MetadataStore(attrc=None, config=SPConfig())
    try:
        store.load("inline", metadata_xml)
    except Exception as exc:  # pysaml2 raises bare exceptions on malformed metadata
        raise ConnectionInvalid(
            "The metadata is not valid SAML metadata.", field="saml_metadata_xml"
        ) from exc
    providers = list(store.identity_providers())
    if len(providers) != 1:
        raise ConnectionInvalid(
            "The metadata must describe exactly one identity provider.",
            field="saml_metadata_xml",
        )
    return str(providers[0])


def sp_metadata(*, tenant: Tenant, connection_id: int) -> str:
    """Our SP metadata, for the identity provider's administrators."""
    from saml2.metadata import create_metadata_string

    config = _config(tenant=tenant, connection_id=connection_id, idp_metadata_xml="")
    return create_metadata_string(None, config=config, valid=365 * 24).decode()


@dataclass(frozen=True)
class SamlStart:
    url: str
    request_id: str


def authn_request(
    *, tenant: Tenant, connection_id: int, idp_metadata_xml: str, relay_state: str
) -> SamlStart:
    client = Saml2Client(
        config=_config(
            tenant=tenant, connection_id=connection_id, idp_metadata_xml=idp_metadata_xml
        )
    )
    request_id, info = client.prepare_for_authenticate(
        entityid=idp_entity_id(idp_metadata_xml),
        relay_state=relay_state,
        binding=BINDING_HTTP_REDIRECT,
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
) -> SamlIdentity:
    """The identity a posted SAMLResponse asserts, once every check holds; SsoFailed
    otherwise (the replay check is the caller's, in the sign-in's transaction)."""
    if not saml_response:
        raise SsoFailed("The identity provider sent no SAML response.")
    try:
        base64.b64decode(saml_response, validate=True)
    except ValueError as exc:
        raise SsoFailed("The SAML response is not base64.") from exc
    client = Saml2Client(
        config=_config(
            tenant=tenant, connection_id=connection_id, idp_metadata_xml=idp_metadata_xml
        )
    )
    try:
        response = client.parse_authn_request_response(
            saml_response, BINDING_HTTP_POST, outstanding={request_id: "/"}
        )
    except Exception as exc:  # pysaml2 signals each refusal with its own (or a bare) class
        log.warning("sso.saml.refused", error=exc.__class__.__name__, detail=str(exc)[:300])
        raise SsoFailed(f"The SAML response was refused ({exc.__class__.__name__}).") from exc
    if response is None or response.assertion is None:
        raise SsoFailed("The SAML response carries no assertion.")
    assertion = response.assertion
    if assertion.signature is None and not response.response.signature:
        raise SsoFailed("The SAML assertion is not signed.")
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


def _epoch(timestamp: str) -> float:
    return float(calendar.timegm(str_to_time(timestamp)))
