"""A SAML connection's own key pair: sealed at rest, published in our SP metadata, signing
our AuthnRequests (which a pysaml2 IdP requiring signed requests checks) and decrypting
assertions encrypted to it; rotated on request; of no use at another organization."""

import base64
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.contrib.auth import SESSION_KEY
from django.db import connection as db
from django.test import Client
from django_tenants.utils import tenant_context
from saml2.response import IncorrectlySigned

from iam.models import User
from iam.sso.keys import fingerprint, key_open
from iam.sso.models import SamlAssertionSeen, SsoConnection
from iam.sso.services import connection_sp_key_rotate, connection_sp_settings
from pii.exceptions import CiphertextInvalid
from tests.conftest import host_of
from tests.iam.test_sso_oidc import verified
from tests.iam.test_sso_saml import _sp_metadata, post_response, saml_connection, saml_start
from tests.support.sso import SamlIdp, dns, local_dns, saml_idp, self_signed  # noqa: F401

pytestmark = pytest.mark.django_db

EMAIL = "sam@alpha.example"


@pytest.fixture
def idp(tmp_path) -> SamlIdp:
    return saml_idp(tmp_path)


@pytest.fixture
def strict_idp(tmp_path) -> SamlIdp:
    """An identity provider that asks for signed AuthnRequests and refuses others."""
    provider = saml_idp(tmp_path, "strict")
    provider.want_authn_requests_signed = True
    return provider


def _sign_in(client: Client, connection: SsoConnection, idp: SamlIdp, **respond: Any) -> Any:
    url = saml_start(client, f"/auth/sso/{connection.pk}/start/")
    saml_response, relay, acs = idp.respond(authn_request_url=url, email=EMAIL, **respond)
    return post_response(client, acs, saml_response, relay), saml_response


def _owner_client(tenant: Any, owner: Any) -> Client:
    client = Client(HTTP_HOST=host_of(tenant))
    client.force_login(owner)
    return client


def test_the_private_key_is_sealed_in_the_database_and_matches_the_published_certificate(
    tenant_a, idp
):
    connection = saml_connection(tenant_a, idp)
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT row_to_json(c)::text, saml_sp_private_key FROM public.iam_sso_ssoconnection c"
            " WHERE id = %s",
            [connection.pk],
        )
        row_text, sealed = cursor.fetchone()
    assert "PRIVATE KEY" not in row_text and sealed.startswith("v1.")
    key = serialization.load_pem_private_key(
        key_open(tenant_id=tenant_a.pk, sealed=sealed).encode(), password=None
    )
    cert = x509.load_pem_x509_certificate(connection.saml_sp_certificate.encode())
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()  # type: ignore[union-attr]
    assert key.key_size >= 2048  # type: ignore[union-attr]
    metadata = _sp_metadata(tenant_a, connection)
    body = "".join(connection.saml_sp_certificate.strip().splitlines()[1:-1])
    assert 'use="signing"' in metadata and 'use="encryption"' in metadata
    assert metadata.replace("\n", "").count(body) == 2


def test_the_identity_provider_receives_and_verifies_our_signed_authn_request(
    tenant_a,
    dns,  # noqa: F811
    strict_idp,
):
    verified(tenant_a, dns)
    connection = saml_connection(tenant_a, strict_idp)
    assert connection.saml_sign_requests  # the IdP's metadata asks for it
    assert 'AuthnRequestsSigned="true"' in _sp_metadata(tenant_a, connection)
    client = Client(HTTP_HOST=host_of(tenant_a))
    url = saml_start(client, f"/auth/sso/{connection.pk}/start/")
    assert "Signature=" in url and "SigAlg=" in url
    saml_response, relay, acs = strict_idp.respond(authn_request_url=url, email=EMAIL)
    response = post_response(client, acs, saml_response, relay)
    assert response.status_code == 302, response.content[:500]
    assert int(client.session[SESSION_KEY]) == User.objects.get(email=EMAIL).pk


def test_an_identity_provider_requiring_signed_requests_refuses_an_unsigned_one(
    tenant_a, owner_a, strict_idp
):
    connection = saml_connection(tenant_a, strict_idp)
    owner = _owner_client(tenant_a, owner_a)
    switched = owner.post(
        f"/settings/sso/connections/{connection.pk}/saml/sign-requests/", {"enabled": "0"}
    )
    assert switched.status_code == 302
    assert not SsoConnection.objects.get(pk=connection.pk).saml_sign_requests
    url = saml_start(Client(HTTP_HOST=host_of(tenant_a)), f"/auth/sso/{connection.pk}/start/")
    assert "Signature=" not in url
    with pytest.raises(IncorrectlySigned):
        strict_idp.respond(authn_request_url=url, email=EMAIL)


def test_a_request_signed_with_a_key_the_idp_does_not_know_is_refused_until_it_has_our_metadata(
    tenant_a, strict_idp
):
    connection = saml_connection(tenant_a, strict_idp)
    connection_sp_key_rotate(connection=connection)
    url = saml_start(Client(HTTP_HOST=host_of(tenant_a)), f"/auth/sso/{connection.pk}/start/")
    assert "Signature=" in url
    with pytest.raises(IncorrectlySigned):  # signed, but by the new key the IdP hasn't seen
        strict_idp.respond(authn_request_url=url, email=EMAIL)
    strict_idp.sp_metadata[:] = [_sp_metadata(tenant_a, connection)]
    url = saml_start(Client(HTTP_HOST=host_of(tenant_a)), f"/auth/sso/{connection.pk}/start/")
    assert strict_idp.respond(authn_request_url=url, email=EMAIL)[0]


def test_an_assertion_encrypted_to_our_certificate_signs_in(tenant_a, dns, idp):  # noqa: F811
    verified(tenant_a, dns)
    connection = saml_connection(tenant_a, idp)
    client = Client(HTTP_HOST=host_of(tenant_a))
    response, saml_response = _sign_in(client, connection, idp, encrypt_assertion=True)
    xml = base64.b64decode(saml_response).decode()
    assert "EncryptedAssertion" in xml and EMAIL not in xml
    assert response.status_code == 302, response.content[:500]
    assert int(client.session[SESSION_KEY]) == User.objects.get(email=EMAIL).pk
    assert SamlAssertionSeen.objects.count() == 1


@pytest.mark.parametrize(
    "forged",
    [
        # Anyone holding our public certificate can encrypt: the signature still decides.
        {"sign_assertion": False},
        {"in_response_to": "_a-request-this-browser-never-made"},
    ],
    ids=["unsigned", "unsolicited"],
)
def test_an_encrypted_assertion_is_still_checked_like_a_plain_one(tenant_a, dns, idp, forged):  # noqa: F811
    verified(tenant_a, dns)
    connection = saml_connection(tenant_a, idp)
    client = Client(HTTP_HOST=host_of(tenant_a))
    response, _ = _sign_in(client, connection, idp, encrypt_assertion=True, **forged)
    assert response.status_code == 400
    assert SESSION_KEY not in client.session
    assert not User.objects.filter(email=EMAIL).exists()


def test_an_assertion_encrypted_to_another_key_is_refused_and_changes_nothing(
    tenant_a,
    dns,  # noqa: F811
    idp,
):
    from iam.org.models import AuditEvent

    verified(tenant_a, dns)
    connection = saml_connection(tenant_a, idp)
    _, stranger = self_signed("someone else")
    client = Client(HTTP_HOST=host_of(tenant_a))
    response, _ = _sign_in(
        client,
        connection,
        idp,
        encrypt_assertion=True,
        encrypt_cert_assertion=stranger.decode(),
    )
    assert response.status_code == 400
    assert "encrypted to a key this connection doesn" in response.content.decode()
    assert SESSION_KEY not in client.session
    assert not User.objects.filter(email=EMAIL).exists()
    assert not SamlAssertionSeen.objects.exists()
    with tenant_context(tenant_a):
        assert AuditEvent.objects.filter(action="sso.sign_in_failed").count() == 1
        assert not AuditEvent.objects.filter(action="sso.signed_in").exists()


def test_after_a_rotation_the_previous_key_still_decrypts_and_the_rotation_is_audited(
    tenant_a,
    owner_a,
    dns,  # noqa: F811
    idp,
):
    from iam.org.models import AuditEvent

    verified(tenant_a, dns)
    connection = saml_connection(tenant_a, idp)
    old_cert = connection.saml_sp_certificate
    owner = _owner_client(tenant_a, owner_a)
    assert (
        owner.post(f"/settings/sso/connections/{connection.pk}/saml/rotate-key/").status_code == 302
    )
    rotated = SsoConnection.objects.get(pk=connection.pk)
    assert rotated.saml_sp_certificate != old_cert
    assert rotated.saml_sp_previous_certificate == old_cert
    assert fingerprint(rotated.saml_sp_certificate) in owner.get("/settings/sso/").content.decode()
    client = Client(HTTP_HOST=host_of(tenant_a))
    # The IdP still encrypts to the certificate of the metadata it was given first.
    response, _ = _sign_in(client, connection, idp, encrypt_assertion=True)
    assert response.status_code == 302, response.content[:500]
    with tenant_context(tenant_a):
        event = AuditEvent.objects.get(action="sso.sp_key_rotated")
    assert event.actor_id == owner_a.pk
    assert event.changes["saml_sp_certificate"] == [
        fingerprint(old_cert),
        fingerprint(rotated.saml_sp_certificate),
    ]
    assert event.changes["saml_sp_private_key"] == "changed"
    assert "PRIVATE" not in str(event.changes)


# Isolation -----------------------------------------------------------------------------------


def test_a_connection_of_a_is_not_reachable_from_bs_settings(tenant_a, tenant_b, owner_b, idp):
    connection = saml_connection(tenant_a, idp)
    before = SsoConnection.objects.get(pk=connection.pk)
    at_b = _owner_client(tenant_b, owner_b)
    for action in ("rotate-key", "refresh", "sign-requests"):
        response = at_b.post(f"/settings/sso/connections/{connection.pk}/saml/{action}/")
        assert response.status_code == 404, action
    after = SsoConnection.objects.get(pk=connection.pk)
    assert after.saml_sp_private_key == before.saml_sp_private_key
    assert after.saml_sign_requests == before.saml_sign_requests
    assert connection_sp_settings(tenant=tenant_b, connection_id=connection.pk).keys == []


def test_as_sealed_key_does_not_open_for_b(tenant_a, tenant_b, idp, tmp_path):
    connection_a = saml_connection(tenant_a, idp)
    connection_b = saml_connection(tenant_b, saml_idp(tmp_path, "other"))
    SsoConnection.objects.filter(pk=connection_b.pk).update(
        saml_sp_private_key=connection_a.saml_sp_private_key
    )
    with pytest.raises(CiphertextInvalid):
        connection_sp_settings(tenant=tenant_b, connection_id=connection_b.pk)


def test_an_assertion_encrypted_to_as_key_is_refused_at_b(
    tenant_a,
    tenant_b,
    dns,  # noqa: F811
    idp,
):
    verified(tenant_a, dns)
    verified(tenant_b, dns, "beta.example")
    connection_a = saml_connection(tenant_a, idp)
    connection_b = saml_connection(tenant_b, idp)
    at_b = Client(HTTP_HOST=host_of(tenant_b))
    url = saml_start(at_b, f"/auth/sso/{connection_b.pk}/start/")
    saml_response, relay, acs = idp.respond(
        authn_request_url=url,
        email="bo@beta.example",
        encrypt_assertion=True,
        encrypt_cert_assertion=connection_a.saml_sp_certificate,
    )
    response = post_response(at_b, acs, saml_response, relay)
    assert response.status_code == 400
    assert not User.objects.filter(email="bo@beta.example").exists()


def test_a_connection_made_before_keys_existed_gets_its_pair_from_the_page(tenant_a, owner_a, idp):
    connection = saml_connection(tenant_a, idp)
    SsoConnection.objects.filter(pk=connection.pk).update(
        saml_sp_certificate="", saml_sp_private_key=""
    )
    owner = _owner_client(tenant_a, owner_a)
    assert "Make our key pair" in owner.get("/settings/sso/").content.decode()
    owner.post(f"/settings/sso/connections/{connection.pk}/saml/rotate-key/")
    made = SsoConnection.objects.get(pk=connection.pk)
    assert made.saml_sp_certificate and made.saml_sp_private_key.startswith("v1.")
    assert not made.saml_sp_previous_certificate
    assert len(connection_sp_settings(tenant=tenant_a, connection_id=connection.pk).keys) == 1
