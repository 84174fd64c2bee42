"""The page Paddle's checkout link opens on: Paddle.js with the client token, for the
transaction in `_ptxn`, returning only to our own hosts."""

from __future__ import annotations

import json
import re

import pytest
from django.conf import settings
from django.test import Client, override_settings

from tenants.models import Tenant
from tests.conftest import host_of

pytestmark = pytest.mark.django_db

PATH = "/billing/paddle/checkout/"
TXN = "txn_01h04vsbhqc62t8hmd4z3b578c"


def _config(html: str) -> dict[str, object]:
    found = re.search(
        r'<script id="paddle-checkout-config" type="application/json">(.*?)</script>', html
    )
    assert found is not None
    loaded: dict[str, object] = json.loads(found.group(1))
    return loaded


@override_settings(PADDLE_CLIENT_TOKEN="test_0123456789abcdef")
def test_the_page_opens_paddles_checkout_for_the_transaction(
    public_client: Client, tenant_a: Tenant
) -> None:
    back = f"http://{host_of(tenant_a)}/settings/billing/"
    response = public_client.get(
        PATH, {"_ptxn": TXN, "success_url": back + "?paid=1", "cancel_url": back}
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert 'src="https://cdn.paddle.com/paddle/v2/paddle.js"' in html
    assert _config(html) == {
        "token": "test_0123456789abcdef",
        "sandbox": True,
        "transactionId": TXN,
        "successUrl": back + "?paid=1",
    }
    assert f'href="{back}"' in html


@override_settings(PADDLE_CLIENT_TOKEN="live_0123456789abcdef")
def test_return_addresses_off_our_domain_are_dropped(public_client: Client) -> None:
    response = public_client.get(
        PATH,
        {
            "_ptxn": TXN,
            "success_url": "https://evil.example/phish",
            "cancel_url": f"https://{settings.BASE_DOMAIN}.evil.example/",
        },
    )

    assert response.status_code == 200
    config = _config(response.content.decode())
    assert config["successUrl"] == ""
    assert config["sandbox"] is False
    assert "evil.example" not in response.content.decode()


@pytest.mark.parametrize("ptxn", ["", "txn_short", "sub_01h04vsbhqc62t8hmd4z3b578c", TXN + "x"])
@override_settings(PADDLE_CLIENT_TOKEN="test_0123456789abcdef")
def test_a_link_without_a_valid_transaction_is_not_found(public_client: Client, ptxn: str) -> None:
    response = public_client.get(PATH, {"_ptxn": ptxn})

    assert response.status_code == 404
    assert "paddle.js" not in response.content.decode()


@override_settings(PADDLE_CLIENT_TOKEN="")
def test_without_a_client_token_there_is_no_checkout(public_client: Client) -> None:
    assert public_client.get(PATH, {"_ptxn": TXN}).status_code == 404


@override_settings(PADDLE_CLIENT_TOKEN="test_0123456789abcdef")
def test_the_page_is_not_on_an_organizations_host(client_a: Client) -> None:
    response = client_a.get(PATH, {"_ptxn": TXN})

    assert response.status_code == 404
    assert "paddle.js" not in response.content.decode()
