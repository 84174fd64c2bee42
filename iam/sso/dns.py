"""Domain verification by a DNS TXT record, resolved with dnspython."""

import dns.exception
import dns.resolver
from django.conf import settings

RECORD_PREFIX = "_mycrm-challenge"
VALUE_PREFIX = "mycrm-verify="
TIMEOUT_SECONDS = 3.0


def record_name(domain: str) -> str:
    """The name where the organization publishes its proof for `domain`."""
    return f"{RECORD_PREFIX}.{domain}"


def record_value(token: str) -> str:
    return f"{VALUE_PREFIX}{token}"


def _resolver() -> dns.resolver.Resolver:
    nameserver = settings.SSO_DNS_NAMESERVER
    if not nameserver:
        return dns.resolver.Resolver()
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [nameserver]
    resolver.port = settings.SSO_DNS_PORT
    return resolver


def txt_values(name: str) -> tuple[list[str], str]:
    """The TXT strings published at `name`, and in words what went wrong when none could be
    read (empty when the lookup worked)."""
    try:
        answer = _resolver().resolve(name, "TXT", lifetime=TIMEOUT_SECONDS)
    except dns.resolver.NXDOMAIN:
        return [], f"No record named {name} exists."
    except dns.resolver.NoAnswer:
        return [], f"{name} has no TXT record."
    except dns.exception.Timeout:
        return [], "DNS did not answer in time; try again in a minute."
    except dns.exception.DNSException as exc:
        return [], f"DNS lookup failed: {exc.__class__.__name__}."
    values = []
    for rdata in answer:
        values.append(b"".join(rdata.strings).decode("utf-8", "replace"))
    return values, ""
