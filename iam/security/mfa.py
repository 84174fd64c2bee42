"""django-allauth's MFA, fitted to a product served on many hosts."""

from allauth.core import context
from allauth.mfa.adapter import DefaultMFAAdapter
from django.conf import settings


class MfaAdapter(DefaultMFAAdapter):
    def get_totp_issuer(self) -> str:
        return "MyCRM"

    def get_public_key_credential_rp_entity(self) -> dict[str, str]:
        """Security keys and passkeys belong to the base domain, so one key signs in on the
        public site and on every organization's subdomain alike. A host outside it (an
        organization's own domain) and a dotless development domain such as `localhost`
        (which browsers treat as a public suffix) keep their keys to the host itself."""
        host = context.request.get_host().partition(":")[0]
        base = settings.BASE_DOMAIN
        shared = "." in base and (host == base or host.endswith(f".{base}"))
        return {"id": base if shared else host, "name": "MyCRM"}
