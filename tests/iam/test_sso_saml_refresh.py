"""IdP metadata given by URL is fetched again by the periodic task and by "refresh now": a
rotated signing certificate is taken (and audited), after which the old one is refused; a
failing fetch keeps the metadata and shows the error. The metadata URL is a local server."""

import shutil
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django_tenants.utils import tenant_context

from iam.models import User
from iam.sso.keys import fingerprint
from iam.sso.models import SsoConnection
from iam.sso.saml import idp_signing_certificates
from iam.sso.services import connection_save
from iam.sso.tasks import saml_metadata_refresh
from tests.conftest import host_of
from tests.iam.test_sso_oidc import verified
from tests.iam.test_sso_saml import _sp_metadata, post_response, saml_start
from tests.support.sso import (  # noqa: F401 - fixtures
    MetadataServer,
    SamlIdp,
    dns,
    local_dns,
    metadata_server,
    saml_idp,
)

pytestmark = pytest.mark.django_db

EMAIL = "sam@alpha.example"


@pytest.fixture
def idp(tmp_path) -> SamlIdp:
    return saml_idp(tmp_path)


def url_connection(
    tenant: Any, idp: SamlIdp, server: MetadataServer, path: str
) -> tuple[SsoConnection, str]:
    url = server.serve(path, idp.metadata_xml())
    connection = connection_save(
        tenant=tenant, name="Entra", protocol="saml", saml_metadata_url=url
    )
    idp.sp_metadata.append(_sp_metadata(tenant, connection))
    connection.tested_at = connection.created_at
    connection.is_enabled = True
    connection.save()
    return connection, url


def sign_in(tenant: Any, connection: SsoConnection, idp: SamlIdp) -> Any:
    client = Client(HTTP_HOST=host_of(tenant))
    url = saml_start(client, f"/auth/sso/{connection.pk}/start/")
    saml_response, relay, acs = idp.respond(authn_request_url=url, email=EMAIL)
    return post_response(client, acs, saml_response, relay)


def _frozen_copy(idp: SamlIdp, tmp_path: Any) -> SamlIdp:
    """The provider as it is now, with its current key, kept after it rotates."""
    key, cert = tmp_path / "old.key", tmp_path / "old.crt"
    shutil.copy(idp.key_file, key)
    shutil.copy(idp.cert_file, cert)
    return SamlIdp(
        entity_id=idp.entity_id,
        key_file=key,
        cert_file=cert,
        workdir=tmp_path,
        sp_metadata=idp.sp_metadata,
    )


def test_the_refresh_runs_every_six_hours():
    entry = settings.CELERY_BEAT_SCHEDULE["iam-sso-saml-metadata-refresh"]
    assert entry["task"] == saml_metadata_refresh.name
    assert entry["schedule"] == 6 * 3600.0


def test_a_refresh_takes_a_rotated_certificate_and_the_old_one_is_then_refused(
    tenant_a,
    tenant_b,
    dns,  # noqa: F811
    idp,
    metadata_server,  # noqa: F811
    tmp_path,
):
    from iam.org.models import AuditEvent

    verified(tenant_a, dns)
    connection, url = url_connection(tenant_a, idp, metadata_server, "/rotating/metadata")
    old_certificates = idp_signing_certificates(connection.saml_metadata_xml)
    before_rotation = _frozen_copy(idp, tmp_path)
    idp.rotate_key()
    metadata_server.serve("/rotating/metadata", idp.metadata_xml())
    # Until the refresh, the new key's assertions are refused.
    assert sign_in(tenant_a, connection, idp).status_code == 400

    counts = saml_metadata_refresh.apply().get()

    # (Other organizations' connections, committed by browser tests, may be counted too.)
    assert counts["refreshed"] >= 1
    refreshed = SsoConnection.objects.get(pk=connection.pk)
    new_certificates = idp_signing_certificates(refreshed.saml_metadata_xml)
    assert new_certificates != old_certificates
    assert refreshed.saml_metadata_refreshed_at is not None and not refreshed.saml_metadata_error
    assert refreshed.is_enabled and refreshed.tested_at is not None  # rotation needs no retest
    assert sign_in(tenant_a, connection, idp).status_code == 302
    assert sign_in(tenant_a, connection, before_rotation).status_code == 400
    assert User.objects.filter(email=EMAIL).count() == 1
    with tenant_context(tenant_a):
        event = AuditEvent.objects.get(action="sso.idp_certificate_changed")
    assert event.via == "task" and event.actor_id is None
    assert event.changes["idp_signing_certificates"] == [
        [fingerprint(c) for c in old_certificates],
        [fingerprint(c) for c in new_certificates],
    ]
    with tenant_context(tenant_b):
        assert not AuditEvent.objects.filter(action__startswith="sso.").exists()


def test_an_unchanged_refresh_writes_nothing_to_the_audit_log(tenant_a, idp, metadata_server):  # noqa: F811
    from iam.org.models import AuditEvent

    connection, _ = url_connection(tenant_a, idp, metadata_server, "/steady/metadata")
    with tenant_context(tenant_a):
        before = AuditEvent.objects.count()
    saml_metadata_refresh.apply().get()
    with tenant_context(tenant_a):
        assert AuditEvent.objects.count() == before
    assert SsoConnection.objects.get(pk=connection.pk).saml_metadata_refreshed_at is not None


def test_a_failing_refresh_keeps_the_old_metadata_and_the_page_shows_the_error(
    tenant_a,
    owner_a,
    idp,
    metadata_server,  # noqa: F811
):
    connection, _ = url_connection(tenant_a, idp, metadata_server, "/failing/metadata")
    metadata_server.serve("/failing/metadata", "upstream down", status=503)
    owner = Client(HTTP_HOST=host_of(tenant_a))
    owner.force_login(owner_a)

    response = owner.post(f"/settings/sso/connections/{connection.pk}/saml/refresh/")

    assert response.status_code == 302
    after = SsoConnection.objects.get(pk=connection.pk)
    assert after.saml_metadata_xml == connection.saml_metadata_xml
    assert "HTTP 503" in after.saml_metadata_error and after.saml_metadata_error_at is not None
    assert after.is_enabled
    page = owner.get("/settings/sso/").content.decode()
    assert 'data-testid="saml-metadata-error"' in page and "HTTP 503" in page
    assert "The metadata saved stays." in page  # the message of the button's answer
    # The next good fetch clears the error.
    metadata_server.serve("/failing/metadata", idp.metadata_xml())
    assert saml_metadata_refresh.apply().get()["refreshed"] >= 1
    assert not SsoConnection.objects.get(pk=connection.pk).saml_metadata_error


def test_metadata_of_another_identity_provider_is_not_taken_on_refresh(
    tenant_a,
    idp,
    metadata_server,  # noqa: F811
    tmp_path,
):
    connection, _ = url_connection(tenant_a, idp, metadata_server, "/swapped/metadata")
    stranger = saml_idp(tmp_path, "stranger")
    metadata_server.serve("/swapped/metadata", stranger.metadata_xml())
    assert saml_metadata_refresh.apply().get()["failed"] >= 1
    after = SsoConnection.objects.get(pk=connection.pk)
    assert after.saml_metadata_xml == connection.saml_metadata_xml
    assert "another identity provider" in after.saml_metadata_error


def test_an_idp_that_starts_asking_for_signed_requests_gets_them_after_a_refresh(
    tenant_a,
    idp,
    metadata_server,  # noqa: F811
):
    connection, _ = url_connection(tenant_a, idp, metadata_server, "/strict/metadata")
    assert not connection.saml_sign_requests
    idp.want_authn_requests_signed = True
    metadata_server.serve("/strict/metadata", idp.metadata_xml())
    saml_metadata_refresh.apply().get()
    assert SsoConnection.objects.get(pk=connection.pk).saml_sign_requests
    url = saml_start(Client(HTTP_HOST=host_of(tenant_a)), f"/auth/sso/{connection.pk}/start/")
    assert idp.respond(authn_request_url=url, email=EMAIL)[0]  # signed, and verified


def test_the_sso_page_shows_the_keys_and_the_metadata(tenant_a, owner_a, idp, metadata_server):  # noqa: F811
    connection, url = url_connection(tenant_a, idp, metadata_server, "/page/metadata")
    owner = Client(HTTP_HOST=host_of(tenant_a))
    owner.force_login(owner_a)
    page = owner.get("/settings/sso/").content.decode()
    assert url in page
    assert fingerprint(connection.saml_sp_certificate) in page
    for cert in idp_signing_certificates(connection.saml_metadata_xml):
        assert fingerprint(cert) in page
    assert "Refresh metadata now" in page and "Rotate our key pair" in page
    assert f"/auth/sso/saml/{connection.pk}/metadata/" in page
