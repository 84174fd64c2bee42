"""The devstack's local Stripe on its own: what the extension adds to localstripe, and the
dev profile's state kept across restarts."""

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devstack import REPO_ROOT

KEY = ("sk_test_local", "")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalStripe:
    def __init__(self, data: Path | None) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-m", "devstack.stripe_local", "--port", str(self.port)]
        if data is not None:
            argv += ["--data", str(data)]
        self.proc = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=subprocess.DEVNULL)
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.auth = KEY
        deadline = time.monotonic() + 15
        while True:
            try:
                self.http.get(f"{self.base}/v1/balance", timeout=1)
                return
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "local stripe did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def started() -> Iterator[list[LocalStripe]]:
    servers: list[LocalStripe] = []
    yield servers
    for server in servers:
        server.stop()


def test_prices_are_found_by_lookup_key_and_bill_subscriptions(
    started: list[LocalStripe],
) -> None:
    stripe = LocalStripe(None)
    started.append(stripe)
    price = stripe.http.post(
        f"{stripe.base}/v1/prices",
        data={
            "currency": "usd",
            "unit_amount": "1500",
            "recurring[interval]": "month",
            "product_data[name]": "Starter",
            "lookup_key": "starter_month",
        },
    ).json()
    assert price["object"] == "price" and price["id"].startswith("price_")
    found = stripe.http.get(
        f"{stripe.base}/v1/prices", params={"lookup_keys[]": "starter_month"}
    ).json()
    assert [p["id"] for p in found["data"]] == [price["id"]]
    again = stripe.http.post(
        f"{stripe.base}/v1/prices",
        data={
            "currency": "usd",
            "unit_amount": "1500",
            "recurring[interval]": "month",
            "product": price["product"],
            "lookup_key": "starter_month",
        },
    )
    assert again.status_code == 400  # a lookup key names one price, as at Stripe

    customer = stripe.http.post(f"{stripe.base}/v1/customers", data={"email": "a@b.test"}).json()
    card = stripe.http.post(
        f"{stripe.base}/v1/payment_methods",
        data={
            "type": "card",
            "card[number]": "4242424242424242",
            "card[exp_month]": "12",
            "card[exp_year]": "2034",
            "card[cvc]": "123",
        },
    ).json()
    stripe.http.post(
        f"{stripe.base}/v1/payment_methods/{card['id']}/attach", data={"customer": customer["id"]}
    )
    stripe.http.post(
        f"{stripe.base}/v1/customers/{customer['id']}",
        data={"invoice_settings[default_payment_method]": card["id"]},
    )
    sub = stripe.http.post(
        f"{stripe.base}/v1/subscriptions",
        data={
            "customer": customer["id"],
            "items[0][price]": price["id"],
            "items[0][quantity]": "3",
            "proration_behavior": "create_prorations",
        },
    ).json()
    assert sub["status"] == "active"
    item = sub["items"]["data"][0]
    assert (item["price"]["id"], item["quantity"]) == (price["id"], 3)
    assert item["current_period_end"] > item["current_period_start"]
    invoices = stripe.http.get(
        f"{stripe.base}/v1/invoices", params={"subscription": sub["id"]}
    ).json()
    assert [i["total"] for i in invoices["data"]] == [4500]


def test_hosted_pages_need_no_key_but_the_api_does(started: list[LocalStripe]) -> None:
    stripe = LocalStripe(None)
    started.append(stripe)
    anonymous = requests.Session()
    anonymous.trust_env = False
    assert anonymous.get(f"{stripe.base}/v1/prices", timeout=5).status_code == 401
    assert anonymous.get(f"{stripe.base}/checkout/pay/cs_missing", timeout=5).status_code == 404


def test_the_dev_profile_keeps_its_objects_across_restarts(
    started: list[LocalStripe], tmp_path: Path
) -> None:
    data = tmp_path / "stripe.pickle"
    first = LocalStripe(data)
    started.append(first)
    price = first.http.post(
        f"{first.base}/v1/prices",
        data={
            "currency": "eur",
            "unit_amount": "900",
            "recurring[interval]": "year",
            "product_data[name]": "Kept",
            "lookup_key": "kept",
        },
    ).json()
    first.stop()
    started.remove(first)

    second = LocalStripe(data)
    started.append(second)
    kept = second.http.get(f"{second.base}/v1/prices/{price['id']}").json()
    assert (kept["unit_amount"], kept["lookup_key"]) == (900, "kept")
