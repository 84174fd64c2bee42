"""Authenticating to the real OpenBao: AppRole login, and renewal of an expiring token."""

import time
from collections.abc import Iterator

import hvac
import pytest
from django.conf import settings as django_settings

from pii import vault

pytestmark = pytest.mark.django_db

POLICY = 'path "transit/*" { capabilities = ["create", "read", "update", "list"] }'


@pytest.fixture
def root() -> Iterator[hvac.Client]:
    client = hvac.Client(url=django_settings.VAULT_ADDR, token=django_settings.VAULT_TOKEN)
    client.sys.create_or_update_policy(name="mycrm-pii", policy=POLICY)
    vault.forget_session()
    yield client
    vault.forget_session()


def test_approle_login_gets_a_policy_scoped_token_that_can_use_transit(
    root: hvac.Client, settings: object
) -> None:
    if "approle/" not in root.sys.list_auth_methods()["data"]:
        root.sys.enable_auth_method("approle")
    root.auth.approle.create_or_update_approle(
        role_name="mycrm", token_policies=["mycrm-pii"], token_ttl="60s"
    )
    role_id = root.auth.approle.read_role_id(role_name="mycrm")["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id(role_name="mycrm")["data"]["secret_id"]
    settings.VAULT_AUTH_METHOD = "approle"  # type: ignore[attr-defined]
    settings.VAULT_TOKEN = ""  # type: ignore[attr-defined]
    settings.VAULT_APPROLE_ROLE_ID = role_id  # type: ignore[attr-defined]
    settings.VAULT_APPROLE_SECRET_ID = secret_id  # type: ignore[attr-defined]

    client = vault.client()
    info = client.auth.token.lookup_self()["data"]
    assert "mycrm-pii" in info["policies"] and "root" not in info["policies"]
    key = vault.data_key_generate(django_settings.PII_TRANSIT_KEY)
    assert vault.data_key_unwrap(django_settings.PII_TRANSIT_KEY, key.wrapped) == key.plaintext


def test_an_expiring_token_is_renewed_before_it_runs_out(
    root: hvac.Client, settings: object
) -> None:
    token = root.auth.token.create(policies=["mycrm-pii"], ttl="8s", renewable=True)["auth"][
        "client_token"
    ]
    settings.VAULT_TOKEN = token  # type: ignore[attr-defined]
    vault.client()
    time.sleep(5)  # past half its lifetime: the next use renews it
    vault.client()
    time.sleep(5)  # past the original expiry: only the renewal keeps it alive
    assert vault.client().auth.token.lookup_self()["data"]["id"] == token
    assert vault.data_key_generate(django_settings.PII_TRANSIT_KEY).plaintext
