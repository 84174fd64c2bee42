"""Background work of single sign-on; it runs in `public`, where connections are."""

from celery import shared_task

from tenants.celery import PublicTask

from .services import saml_metadata_refresh_all


@shared_task(base=PublicTask, ignore_result=True)
def saml_metadata_refresh() -> dict[str, int]:
    """Fetch the metadata of every SAML connection set up from a URL again, so a signing
    certificate the identity provider rotates is picked up (see
    `services.connection_metadata_refresh`)."""
    return saml_metadata_refresh_all()
