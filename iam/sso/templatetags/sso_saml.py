"""What the single sign-on page shows of a SAML connection's keys and metadata."""

from typing import Any

from django import template

from iam.sso.exceptions import ConnectionInvalid
from iam.sso.keys import fingerprint
from iam.sso.models import SsoConnection
from iam.sso.saml import idp_signing_certificates, idp_wants_signed_requests

register = template.Library()


@register.simple_tag
def saml_details(connection: SsoConnection) -> dict[str, Any]:
    """Our certificate's fingerprint, the identity provider's signing certificates and
    whether it asks for signed requests (nothing of the metadata when it can't be read)."""
    details: dict[str, Any] = {
        "sp_fingerprint": fingerprint(connection.saml_sp_certificate)
        if connection.saml_sp_certificate
        else "",
        "idp_fingerprints": [],
        "idp_wants_signed": False,
        "metadata_unreadable": False,
    }
    try:
        details["idp_fingerprints"] = [
            fingerprint(c) for c in idp_signing_certificates(connection.saml_metadata_xml)
        ]
        details["idp_wants_signed"] = idp_wants_signed_requests(connection.saml_metadata_xml)
    except ConnectionInvalid:
        details["metadata_unreadable"] = True
    return details
