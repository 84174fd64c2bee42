"""Rules for organization subdomains (slugs) and the schema names derived from them."""

import re

from .exceptions import SlugInvalid, SlugReserved

SLUG_MIN = 3
SLUG_MAX = 40
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")

RESERVED_SLUGS = frozenset(
    """
    www api admin app apps mail email smtp imap pop static media assets cdn files docs help
    support status blog auth login logout signup sign-up register account accounts billing
    dashboard console operator ops public internal system root test staging dev demo-admin
    webhooks hooks oauth sso saml scim graphql ws wss ftp ns ns1 ns2 mx localhost
    """.split()
)


def normalize_slug(raw: str) -> str:
    return raw.strip().lower()


def validate_slug(slug: str) -> str:
    """Return the slug if it is a usable subdomain, else raise SlugInvalid or SlugReserved."""
    if not SLUG_MIN <= len(slug) <= SLUG_MAX:
        raise SlugInvalid(f"Use {SLUG_MIN} to {SLUG_MAX} characters.", field="slug")
    if not _LABEL.match(slug):
        raise SlugInvalid(
            "Use lowercase letters, digits and hyphens; start and end with a letter or digit.",
            field="slug",
        )
    if slug[2:4] == "--":
        raise SlugInvalid("Hyphens in the third and fourth place are not allowed.", field="slug")
    if slug in RESERVED_SLUGS:
        raise SlugReserved("This subdomain is reserved; please choose another.", field="slug")
    return slug


def schema_name_for(slug: str) -> str:
    """Schema names never collide with PostgreSQL's own (public, pg_*, information_schema)."""
    return "t_" + slug.replace("-", "_")
