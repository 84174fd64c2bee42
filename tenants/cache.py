"""Cache keys carry the schema, so no cached value crosses tenants."""

from django.db import connection

# allauth's rate limits (failed sign-ins, password resets, sign-ups) count per account and per
# client address, and an account signs in on every organization's host: their counters live
# under the public schema whatever host the request came to, or each host would grant a
# fresh allowance. They hold timestamps only, never tenant data. So do the authenticator
# codes already used (django-allauth's MFA), or one could be used again on another host.
_TOTP_USED = "allauth.mfa.totp.used"
_SHARED_KEYS = ("allauth:rl:", _TOTP_USED)


def tenant_cache_key(key: str, key_prefix: str, version: int) -> str:
    """Django KEY_FUNCTION: `<schema>:<prefix>:<version>:<key>` for every cache entry (the
    sign-in rate limits under `public`, wherever they are counted)."""
    if key.startswith(_SHARED_KEYS):
        schema = "public"
    else:
        schema = getattr(connection, "schema_name", None) or "public"
    return f"{schema}:{key_prefix}:{version}:{key}"
