"""The single sign-on settings pages: connections made and changed through forms, bad input
as field errors, and no reach into another organization's connections."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from iam.models import CustomRole, Team
from iam.sso.models import SsoConnection
from iam.sso.services import connection_save, group_mappings_parse, group_mappings_text
from problems.exceptions import InvalidFields
from tests.conftest import host_of
from tests.support.sso import oidc_provider, saml_idp  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_a(tenant_a, owner_a) -> Client:
    client = Client(HTTP_HOST=host_of(tenant_a))
    client.force_login(owner_a)
    return client


def _oidc_form(issuer: str, **extra: str) -> dict[str, str]:
    return {
        "name": "Okta",
        "protocol": "oidc",
        "oidc_issuer": issuer,
        "oidc_client_id": "mycrm",
        "oidc_client_secret": "s3cret",
        "jit_enabled": "on",
        "default_role": "member",
        "group_mappings": "",
        **extra,
    }


def test_an_admin_adds_an_oidc_connection_by_its_issuer(tenant_a, admin_a, oidc_provider):  # noqa: F811
    assert admin_a.get("/settings/sso/connections/new/?protocol=oidc").status_code == 200
    response = admin_a.post("/settings/sso/connections/new/", _oidc_form(oidc_provider))
    assert response.status_code == 302
    connection = SsoConnection.objects.get(tenant=tenant_a)
    assert connection.oidc_metadata["token_endpoint"].startswith(oidc_provider)
    assert not connection.is_enabled and connection.tested_at is None
    page = admin_a.get(f"/settings/sso/connections/{connection.pk}/").content.decode()
    assert "s3cret" not in page and "/auth/sso/oidc/callback/" in page


def test_changing_how_the_provider_is_reached_asks_for_a_new_test(
    tenant_a,
    admin_a,
    oidc_provider,  # noqa: F811
):
    admin_a.post("/settings/sso/connections/new/", _oidc_form(oidc_provider))
    connection = SsoConnection.objects.get(tenant=tenant_a)
    SsoConnection.objects.filter(pk=connection.pk).update(
        tested_at=connection.created_at, is_enabled=True
    )
    admin_a.post(
        f"/settings/sso/connections/{connection.pk}/",
        _oidc_form(oidc_provider, oidc_client_id="another", oidc_client_secret=""),
    )
    connection.refresh_from_db()
    assert connection.oidc_client_id == "another" and connection.oidc_client_secret
    assert connection.tested_at is None and not connection.is_enabled


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"oidc_issuer": "http://127.0.0.1:9/nothing"}, "could not be read"),
        ({"oidc_issuer": "", "oidc_metadata": "{not json"}, "not valid JSON"),
        ({"oidc_issuer": "", "oidc_metadata": '{"issuer": "x"}'}, "lacks authorization_endpoint"),
        ({"oidc_client_id": ""}, "client id is required"),
        ({"group_mappings": "nobody"}, "write group = role"),
        ({"group_mappings": "Sales = owner"}, "neither a role"),
        ({"group_mappings": "Sales = member, Nowhere"}, "no team is named"),
    ],
)
def test_bad_connection_input_is_a_field_error(tenant_a, admin_a, oidc_provider, fields, error):  # noqa: F811
    response = admin_a.post("/settings/sso/connections/new/", _oidc_form(oidc_provider, **fields))
    assert 400 <= response.status_code < 500
    assert error in response.content.decode()
    assert not SsoConnection.objects.filter(tenant=tenant_a).exists()


def test_a_saml_connection_is_made_from_an_uploaded_metadata_file(tenant_a, admin_a, tmp_path):
    idp = saml_idp(tmp_path)
    upload = SimpleUploadedFile("idp.xml", idp.metadata_xml().encode(), "text/xml")
    response = admin_a.post(
        "/settings/sso/connections/new/",
        {
            "name": "ADFS",
            "protocol": "saml",
            "saml_metadata_file": upload,
            "default_role": "member",
        },
    )
    assert response.status_code == 302
    connection = SsoConnection.objects.get(tenant=tenant_a)
    assert idp.entity_id in connection.saml_metadata_xml
    page = admin_a.get(f"/settings/sso/connections/{connection.pk}/").content.decode()
    assert f"/auth/sso/saml/{connection.pk}/acs/" in page


def test_group_mappings_read_back_as_they_were_written(tenant_a):
    CustomRole.objects.create(tenant=tenant_a, name="Analyst", permissions={})
    Team.objects.create(tenant=tenant_a, name="Sales")
    text = "crm-admins = admin\ncrm-analysts = Analyst, Sales"
    mappings = group_mappings_parse(tenant=tenant_a, text=text)
    connection = SsoConnection(tenant=tenant_a, group_mappings=mappings)
    assert group_mappings_text(connection=connection) == text


def test_no_connection_makes_new_members_owners(tenant_a):
    with pytest.raises(InvalidFields):
        connection_save(
            tenant=tenant_a,
            name="x",
            protocol="oidc",
            oidc_metadata={
                "issuer": "i",
                "authorization_endpoint": "a",
                "token_endpoint": "t",
                "jwks_uri": "j",
            },
            oidc_client_id="c",
            default_role="owner",
        )


def test_an_admin_of_b_cannot_reach_a_connection_of_a(tenant_a, tenant_b, owner_b, oidc_provider):  # noqa: F811
    connection = connection_save(
        tenant=tenant_a, name="Okta", protocol="oidc", oidc_issuer=oidc_provider, oidc_client_id="c"
    )
    SsoConnection.objects.filter(pk=connection.pk).update(tested_at=connection.created_at)
    admin_b = Client(HTTP_HOST=host_of(tenant_b))
    admin_b.force_login(owner_b)
    assert admin_b.get(f"/settings/sso/connections/{connection.pk}/").status_code == 404
    assert admin_b.post(f"/settings/sso/connections/{connection.pk}/test/").status_code == 404
    assert (
        admin_b.post(
            f"/settings/sso/connections/{connection.pk}/enable/", {"enabled": "1"}
        ).status_code
        == 404
    )
    assert admin_b.post(f"/settings/sso/connections/{connection.pk}/delete/").status_code == 404
    assert admin_b.get(f"/auth/sso/{connection.pk}/start/").status_code == 404
    assert "Okta" not in admin_b.get("/settings/sso/").content.decode()
    connection.refresh_from_db()
    assert not connection.is_enabled


def test_a_member_cannot_test_or_switch_on_a_connection(tenant_a, client_a, oidc_provider):  # noqa: F811
    connection = connection_save(
        tenant=tenant_a, name="Okta", protocol="oidc", oidc_issuer=oidc_provider, oidc_client_id="c"
    )
    SsoConnection.objects.filter(pk=connection.pk).update(tested_at=connection.created_at)
    assert client_a.post(f"/settings/sso/connections/{connection.pk}/test/").status_code == 403
    assert (
        client_a.post(
            f"/settings/sso/connections/{connection.pk}/enable/", {"enabled": "1"}
        ).status_code
        == 403
    )
    assert client_a.post("/settings/sso/required/", {"required": "1"}).status_code == 403
    assert not SsoConnection.objects.get(pk=connection.pk).is_enabled
