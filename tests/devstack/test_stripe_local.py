"""The devstack's local Stripe on its own: what the extension adds to localstripe, and the
dev profile's state kept across restarts."""

import hashlib
import hmac
import http.server
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


class _Receiver(http.server.BaseHTTPRequestHandler):
    """A webhook endpoint that keeps what it is sent (body and Stripe-Signature)."""

    received: list[tuple[bytes, str]]

    def do_POST(self) -> None:  # noqa: N802 - the handler's name is http.server's
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((body, self.headers.get("Stripe-Signature", "")))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[tuple[str, list[tuple[bytes, str]]]]:
    received: list[tuple[bytes, str]] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def _verified(received: list[tuple[bytes, str]], secret: str) -> list[dict[str, Any]]:
    """The events whose signature checks out as Stripe's does (HMAC-SHA256 of `t.body`)."""
    events = []
    for body, header in received:
        parts = dict(part.split("=", 1) for part in header.split(","))
        expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256)
        assert hmac.compare_digest(expected.hexdigest(), parts["v1"]), header
        events.append(json.loads(body))
    return events


def _quiet(received: list[tuple[bytes, str]], *, at_least: int = 1) -> None:
    """Wait until the deliveries have stopped coming (they leave a moment after the request
    that caused them)."""
    deadline = time.monotonic() + 5
    seen = -1
    while (len(received) != seen or len(received) < at_least) and time.monotonic() < deadline:
        seen = len(received)
        time.sleep(0.3)


def _subscribed_customer(stripe: LocalStripe, card: str) -> tuple[str, dict[str, Any]]:
    price = stripe.http.post(
        f"{stripe.base}/v1/prices",
        data={
            "currency": "usd",
            "unit_amount": "2900",
            "recurring[interval]": "month",
            "product_data[name]": "Starter",
        },
    ).json()
    customer = stripe.http.post(f"{stripe.base}/v1/customers", data={"email": "o@b.test"}).json()
    method = stripe.http.post(
        f"{stripe.base}/v1/payment_methods",
        data={
            "type": "card",
            "card[number]": card,
            "card[exp_month]": "12",
            "card[exp_year]": "2034",
            "card[cvc]": "123",
        },
    ).json()
    stripe.http.post(
        f"{stripe.base}/v1/payment_methods/{method['id']}/attach",
        data={"customer": customer["id"]},
    )
    stripe.http.post(
        f"{stripe.base}/v1/customers/{customer['id']}",
        data={"invoice_settings[default_payment_method]": method["id"]},
    )
    sub = stripe.http.post(
        f"{stripe.base}/v1/subscriptions",
        data={"customer": customer["id"], "items[0][price]": price["id"]},
    ).json()
    return customer["id"], sub


def test_the_portal_pays_an_open_invoice_and_sends_the_events_stripe_sends(
    started: list[LocalStripe], endpoint: tuple[str, list[tuple[bytes, str]]]
) -> None:
    stripe = LocalStripe(None)
    started.append(stripe)
    url, received = endpoint
    secret = "whsec_portal"
    stripe.http.post(
        f"{stripe.base}/_config/webhooks/test",
        data={"url": url, "secret": secret},
    )
    customer, sub = _subscribed_customer(stripe, "4242424242424242")
    renewed = stripe.http.post(
        f"{stripe.base}/_config/subscriptions/{sub['id']}/renew", data={"outcome": "fail"}
    )
    assert renewed.json()["status"] == "past_due"
    (failed,) = [
        i
        for i in stripe.http.get(
            f"{stripe.base}/v1/invoices", params={"subscription": sub["id"]}
        ).json()["data"]
        if i["status"] == "open"
    ]
    portal = stripe.http.post(
        f"{stripe.base}/v1/billing_portal/sessions",
        data={"customer": customer, "return_url": "http://app.test/settings/billing/"},
    ).json()
    browser = requests.Session()  # the portal is opened without a key, as on Stripe's host
    browser.trust_env = False
    page = browser.get(portal["url"], timeout=5).text
    pay = f"/portal/{portal['id']}/invoices/{failed['id']}/pay"
    assert f'action="{pay}"' in page

    # The card on file is the declined one: the invoice stays open, the page says why.
    declined = browser.post(f"{stripe.base}{pay}", data={"card": ""}, timeout=5)
    assert declined.status_code == 400
    assert "Your card was declined." in declined.text
    _quiet(received)
    received.clear()

    # A good card entered beside the invoice pays it, and the page comes back.
    paid = browser.post(f"{stripe.base}{pay}", data={"card": "4242 4242 4242 4242"}, timeout=5)
    assert paid.status_code == 200 and paid.url == portal["url"]
    assert f'action="{pay}"' not in paid.text  # nothing open is left to pay
    invoice = stripe.http.get(f"{stripe.base}/v1/invoices/{failed['id']}").json()
    assert invoice["status"] == "paid" and invoice["status_transitions"]["paid_at"]
    remote = stripe.http.get(f"{stripe.base}/v1/subscriptions/{sub['id']}").json()
    assert remote["status"] == "active"

    _quiet(received, at_least=3)
    verified = _verified(received, secret)
    # A delivery left over from the declined try (or the first invoice) may still arrive
    # after it; what the payment sent is among them.
    updates = [
        e["data"]["object"] for e in verified if e["type"] == "customer.subscription.updated"
    ]
    paid_events = [e["data"]["object"] for e in verified if e["type"] == "invoice.paid"]
    paid_event = next(i for i in paid_events if i["id"] == failed["id"])
    assert paid_event["status"] == "paid"
    assert paid_event["parent"]["subscription_details"]["subscription"] == sub["id"]
    succeeded = [e["data"]["object"] for e in verified if e["type"] == "invoice.payment_succeeded"]
    assert failed["id"] in {i["id"] for i in succeeded}, succeeded
    assert any(u["id"] == sub["id"] and u["status"] == "active" for u in updates), updates

    again = browser.post(f"{stripe.base}{pay}", data={"card": ""}, timeout=5)
    assert again.url == portal["url"]  # paid already: back to the page, nothing charged
    other, _ = _subscribed_customer(stripe, "4242424242424242")
    theirs = stripe.http.post(
        f"{stripe.base}/v1/billing_portal/sessions", data={"customer": other}
    ).json()
    refused = browser.post(
        f"{stripe.base}/portal/{theirs['id']}/invoices/{failed['id']}/pay", timeout=5
    )
    assert refused.status_code == 404  # another customer's invoice is not theirs to pay
