"""Self-serve sign-up: a new user and their organization, created together or not at all."""

from django.db import transaction

from iam.models import User
from iam.services import user_create, user_validate_new
from problems.exceptions import DomainError, InvalidFields
from tenants.exceptions import SlugTaken
from tenants.models import Tenant
from tenants.services import provision_tenant, slug_is_available
from tenants.slugs import normalize_slug


def organization_sign_up(
    *, organization_name: str, slug: str, full_name: str, email: str, password: str
) -> tuple[Tenant, User]:
    """Validate every field, then create the owner and provision the organization atomically."""
    errors: dict[str, list[str]] = {}
    slug = normalize_slug(slug)
    if not organization_name.strip():
        errors["organization_name"] = ["Enter your organization's name."]
    try:
        if not slug_is_available(slug):
            errors["slug"] = [SlugTaken.title]
    except DomainError as exc:
        errors.update(exc.field_errors() or {"slug": [exc.detail]})
    try:
        user_validate_new(email=email, password=password, full_name=full_name)
    except DomainError as exc:
        errors.update(exc.field_errors())
    if errors:
        raise InvalidFields(errors)
    with transaction.atomic():
        user = user_create(email=email, password=password, full_name=full_name.strip())
        tenant = provision_tenant(slug=slug, name=organization_name, owner=user)
    return tenant, user
