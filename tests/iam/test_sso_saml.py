"""SAML 2.0 sign-in against a pysaml2 identity provider with a throw-away certificate: our
AuthnRequest goes to it, its signed response is posted back to our ACS."""

from typing import Any

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client

from iam.models import Membership, Role, User
from iam.sso.models import SamlAssertionSeen, SsoConnection
from iam.sso.saml import sp_entity_id
from iam.sso.services import connection_save
from tests.conftest import host_of
from tests.iam.test_sso_oidc import verified
from tests.support.sso import SamlIdp, dns, local_dns, saml_idp  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def saml_connection(tenant: Any, idp: SamlIdp, *, enabled: bool = True) -> SsoConnection:
    connection = connection_save(
        tenant=tenant, name="ADFS", protocol="saml", saml_metadata_xml=idp.metadata_xml()
    )
    idp.sp_metadata.append(_sp_metadata(tenant, connection))
    if enabled:
        connection.tested_at = connection.created_at
        connection.is_enabled = True
        connection.save()
    return connection


def _sp_metadata(tenant: Any, connection: SsoConnection) -> str:
    client = Client(HTTP_HOST=host_of(tenant))
    response = client.get(f"/auth/sso/saml/{connection.pk}/metadata/")
    assert response.status_code == 200
    return response.content.decode()


def saml_start(client: Client, path: str, *, method: str = "get") -> str:
    started = client.post(path) if method == "post" else client.get(path)
    assert started.status_code == 302, started.content[:300]
    return started["Location"]


def post_response(client: Client, acs: str, saml_response: str, relay_state: str) -> Any:
    path = acs.split("localhost:8000", 1)[1]
    return client.post(path, {"SAMLResponse": saml_response, "RelayState": relay_state})


@pytest.fixture
def idp(tmp_path) -> SamlIdp:
    return saml_idp(tmp_path)


def test_the_sp_metadata_names_our_entity_id_and_acs(tenant_a, idp):
    connection = saml_connection(tenant_a, idp)
    metadata = _sp_metadata(tenant_a, connection)
    assert sp_entity_id(tenant=tenant_a, connection_id=connection.pk) in metadata
    assert f"/auth/sso/saml/{connection.pk}/acs/" in metadata


def test_bad_metadata_is_a_field_error(tenant_a):
    from problems.exceptions import DomainError

    with pytest.raises(DomainError) as caught:
        connection_save(tenant=tenant_a, name="x", protocol="saml", saml_metadata_xml="<nope/>")
    assert "saml_metadata_xml" in caught.value.field_errors()


def test_a_signed_assertion_signs_a_new_person_in_just_in_time(tenant_a, dns, idp):  # noqa: F811
    verified(tenant_a, dns)
    connection = saml_connection(tenant_a, idp)
    client = Client(HTTP_HOST=host_of(tenant_a))
    url = saml_start(client, f"/auth/sso/{connection.pk}/start/")
    saml_response, relay, acs = idp.respond(
        authn_request_url=url,
        email="sam@alpha.example",
        attributes={"displayName": ["Sam L"], "groups": ["crm-admins"]},
    )
    response = post_response(client, acs, saml_response, relay)
    assert response.status_code == 302, response.content[:500]
    user = User.objects.get(email="sam@alpha.example")
    assert user.full_name == "Sam L"
    assert Membership.objects.get(user=user, tenant=tenant_a).role == Role.MEMBER
    assert int(client.session[SESSION_KEY]) == user.pk
    assert SamlAssertionSeen.objects.count() == 1


def test_the_saml_test_button_shows_the_attributes(tenant_a, owner_a, dns, idp):  # noqa: F811
    verified(tenant_a, dns)
    connection = saml_connection(tenant_a, idp, enabled=False)
    admin = Client(HTTP_HOST=host_of(tenant_a))
    admin.force_login(owner_a)
    url = saml_start(admin, f"/settings/sso/connections/{connection.pk}/test/", method="post")
    saml_response, relay, acs = idp.respond(
        authn_request_url=url, email="tia@alpha.example", attributes={"groups": ["crm-sales"]}
    )
    response = post_response(admin, acs, saml_response, relay)
    page = response.content.decode()
    assert response.status_code == 200 and "tia@alpha.example" in page and "crm-sales" in page
    assert not User.objects.filter(email="tia@alpha.example").exists()
    assert SsoConnection.objects.get(pk=connection.pk).tested_at is not None


def test_a_cross_site_post_without_the_session_is_posted_again_from_our_host(tenant_a, idp):
    connection = saml_connection(tenant_a, idp)
    fresh = Client(HTTP_HOST=host_of(tenant_a))
    response = fresh.post(
        f"/auth/sso/saml/{connection.pk}/acs/", {"SAMLResponse": "abc", "RelayState": "r"}
    )
    page = response.content.decode()
    assert response.status_code == 200 and 'name="_resent" value="1"' in page
    assert 'name="SAMLResponse" value="abc"' in page
