"""The single sign-on page of a SAML connection in a real browser: an owner adds one from
the identity provider's metadata URL (a local server), sees our certificate and the
provider's, presses "Refresh metadata now" while the provider is down and reads the error;
the page fits a phone's width and a laptop's, and axe-core finds no serious violation."""

import uuid
from typing import Any

import pytest

from iam.sso.keys import fingerprint
from iam.sso.models import SsoConnection
from tests.support.sso import MetadataServer, metadata_server, saml_idp  # noqa: F401 - fixture

from .test_accessibility import serious_violations
from .test_journeys import _sign_up
from .test_phone_layout import _overflow

pytestmark = pytest.mark.django_db


def test_an_owner_adds_a_saml_connection_by_url_and_sees_a_failed_refresh(
    live_url: str,
    browser: Any,
    metadata_server: MetadataServer,  # noqa: F811
    tmp_path: Any,
) -> None:
    slug = f"e2e-saml-{uuid.uuid4().hex[:8]}"
    host = f"http://{slug}.localhost:{live_url.rsplit(':', 1)[1]}"
    idp = saml_idp(tmp_path, slug)
    url = metadata_server.serve(f"/{slug}/metadata", idp.metadata_xml())
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    _sign_up(page, live_url, slug, "SAML Page Org")

    page.goto(f"{host}/settings/sso/")
    page.click("a:text('Add SAML')")
    page.fill("input[name=name]", "Entra ID")
    page.fill("input[name=saml_metadata_url]", url)
    page.click("form button:text('Save')")
    page.wait_for_selector("text=Test it before switching it on")
    connection = SsoConnection.objects.get(tenant__slug=slug)
    details = page.locator("[data-connection='Entra ID'] [data-testid=saml-details]")
    assert fingerprint(connection.saml_sp_certificate) in details.inner_text()
    assert url in details.inner_text()

    metadata_server.serve(f"/{slug}/metadata", "down for maintenance", status=503)
    page.click("button[aria-label='Refresh metadata now for Entra ID']")
    page.wait_for_selector("[data-testid=saml-metadata-error]")
    assert "HTTP 503" in page.inner_text("[data-testid=saml-metadata-error]")
    connection.refresh_from_db()
    assert connection.saml_metadata_error and connection.saml_metadata_xml

    for viewport in ({"width": 390, "height": 844}, {"width": 1280, "height": 800}):
        page.set_viewport_size(viewport)
        page.goto(f"{host}/settings/sso/")
        assert _overflow(page) == "", viewport
        assert serious_violations(page) == [], viewport
    context.close()
