"""A local stand-in for Paddle Billing's API, so billing can be run and tested without Paddle.

Paddle offers no local server, so this one follows the documented request and response shapes
(`{"data": ..., "meta": ...}`, errors as `{"error": {...}}`) for the part of the API the product
uses: products, prices, customers, transactions, subscriptions, discounts and customer portal
sessions. A transaction's checkout URL is a page served here that takes a test card; paying
completes the transaction and creates the subscription, as Paddle's checkout does.

Webhooks are signed as Paddle signs them (`Paddle-Signature: ts=...;h1=...`, an HMAC-SHA256 of
"<ts>:<body>"), kept in order for tests to read, and sent to the destination registered here.
Routes under `/__stub/` exist only here: they register that destination, list deliveries, make
a subscription's next charge fail and bill its next period.

Run with `python -m devstack.paddle_stub PORT [STATE_FILE]`; the API key and webhook secret
come from PADDLE_STUB_API_KEY and PADDLE_STUB_WEBHOOK_SECRET. State is kept in memory, and
written to STATE_FILE after each change when one is given (the dev stack's, whose database
keeps the ids it was given).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import html
import json
import os
import queue
import secrets
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

# Paddle's documented sandbox test cards: this one is declined, any other number is accepted.
DECLINED_CARD = "4000000000000002"
_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


class StubError(Exception):
    """An API error, rendered in Paddle's error shape."""

    def __init__(self, status: int, code: str, detail: str, kind: str = "request_error") -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.kind = kind


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def _new_id(prefix: str) -> str:
    return prefix + "_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(26))


def _add_interval(moment: dt.datetime, interval: str, frequency: int) -> dt.datetime:
    """`moment` plus `frequency` days, weeks, months or years (month ends clamp, as Paddle's)."""
    if interval == "day":
        return moment + dt.timedelta(days=frequency)
    if interval == "week":
        return moment + dt.timedelta(weeks=frequency)
    months = frequency * (12 if interval == "year" else 1)
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    for day in (moment.day, 30, 29, 28):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise ValueError("no valid day")  # pragma: no cover - day 28 always exists


class PaddleState:
    """Everything the stub knows, guarded by one lock (requests come in on many threads)."""

    # What a state file keeps (the notifications sent are for tests and are not kept).
    KEPT = (
        "products",
        "prices",
        "customers",
        "transactions",
        "subscriptions",
        "discounts",
        "portal_sessions",
        "destination",
        "invoice_counter",
    )

    def __init__(self, base_url: str, webhook_secret: str, path: Path | None = None) -> None:
        self.path = path
        self.base_url = base_url
        self.webhook_secret = webhook_secret
        self.lock = threading.RLock()
        self.products: dict[str, dict[str, Any]] = {}
        self.prices: dict[str, dict[str, Any]] = {}
        self.customers: dict[str, dict[str, Any]] = {}
        self.transactions: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.discounts: dict[str, dict[str, Any]] = {}
        self.portal_sessions: dict[str, dict[str, Any]] = {}
        # Subscriptions whose next charge is declined (then the flag is used up).
        self.failing: set[str] = set()
        self.deliveries: list[dict[str, Any]] = []
        self.destination = ""
        self.outbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self.invoice_counter = 0
        if path is not None and path.exists():
            kept = json.loads(path.read_text())
            for name in self.KEPT:
                if name in kept:
                    setattr(self, name, kept[name])
            self.failing = set(kept.get("failing", []))

    def save(self) -> None:
        """Write the state file, if there is one (atomically: a crash keeps the last one)."""
        if self.path is None:
            return
        kept = {name: getattr(self, name) for name in self.KEPT}
        kept["failing"] = sorted(self.failing)
        partial = self.path.with_name(self.path.name + ".tmp")
        partial.write_text(json.dumps(kept))
        partial.replace(self.path)

    # Webhooks ---------------------------------------------------------------------------

    def sign(self, body: str, ts: int | None = None) -> str:
        """The Paddle-Signature header for `body`."""
        stamp = int(time.time()) if ts is None else ts
        digest = hmac.new(
            self.webhook_secret.encode(), f"{stamp}:{body}".encode(), hashlib.sha256
        ).hexdigest()
        return f"ts={stamp};h1={digest}"

    def emit(self, event_type: str, data: dict[str, Any]) -> None:
        """Record a signed notification of `event_type` and queue it for the destination."""
        body = json.dumps(
            {
                "event_id": _new_id("evt"),
                "event_type": event_type,
                "occurred_at": _iso(_now()),
                "notification_id": _new_id("ntf"),
                "data": data,
            }
        )
        delivery = {
            "seq": len(self.deliveries) + 1,
            "event_type": event_type,
            "customer_id": data.get("customer_id") or "",
            "subscription_id": data.get("subscription_id")
            or (data["id"] if data.get("id", "").startswith("sub_") else ""),
            "transaction_id": data["id"] if data.get("id", "").startswith("txn_") else "",
            "body": body,
            "signature": self.sign(body),
        }
        self.deliveries.append(delivery)
        if self.destination:
            self.outbox.put({**delivery, "url": self.destination})

    def deliver_forever(self) -> None:
        """Send queued notifications one by one, in order, as Paddle does per destination."""
        # Destinations are local: never through a proxy from the environment.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while True:
            delivery = self.outbox.get()
            request = urllib.request.Request(  # noqa: S310 - a URL registered by the developer
                delivery["url"],
                data=delivery["body"].encode(),
                headers={
                    "Content-Type": "application/json",
                    "Paddle-Signature": self.sign(delivery["body"]),
                },
                method="POST",
            )
            try:
                with opener.open(request, timeout=10) as response:
                    response.read()
            except OSError as exc:
                print(f"paddle-stub: delivery to {delivery['url']} failed: {exc}", flush=True)

    # Catalog ----------------------------------------------------------------------------

    def product_create(self, body: dict[str, Any]) -> dict[str, Any]:
        _require(body, "name", "tax_category")
        now = _iso(_now())
        product = {
            "id": _new_id("pro"),
            "name": body["name"],
            "tax_category": body["tax_category"],
            "type": body.get("type") or "standard",
            "description": body.get("description"),
            "image_url": body.get("image_url"),
            "custom_data": body.get("custom_data"),
            "status": "active",
            "import_meta": None,
            "created_at": now,
            "updated_at": now,
        }
        self.products[product["id"]] = product
        return product

    def price_create(self, body: dict[str, Any]) -> dict[str, Any]:
        _require(body, "description", "product_id", "unit_price")
        if body["product_id"] not in self.products:
            raise StubError(404, "not_found", f"product {body['product_id']} not found")
        unit_price = body["unit_price"]
        if not str(unit_price.get("amount", "")).isdigit() or not unit_price.get("currency_code"):
            raise _invalid("unit_price", "amount must be a string of digits, with a currency")
        now = _iso(_now())
        price = {
            "id": _new_id("pri"),
            "product_id": body["product_id"],
            "type": body.get("type") or "standard",
            "description": body["description"],
            "name": body.get("name"),
            "billing_cycle": body.get("billing_cycle"),
            "trial_period": body.get("trial_period"),
            "tax_mode": body.get("tax_mode") or "account_setting",
            "unit_price": {
                "amount": str(unit_price["amount"]),
                "currency_code": unit_price["currency_code"],
            },
            "unit_price_overrides": body.get("unit_price_overrides") or [],
            "quantity": body.get("quantity") or {"minimum": 1, "maximum": 10000},
            "status": "active",
            "custom_data": body.get("custom_data"),
            "import_meta": None,
            "created_at": now,
            "updated_at": now,
        }
        self.prices[price["id"]] = price
        return price

    def customer_create(self, body: dict[str, Any]) -> dict[str, Any]:
        _require(body, "email")
        email = str(body["email"]).strip().lower()
        for existing in self.customers.values():
            if existing["email"] == email:
                raise StubError(
                    409,
                    "customer_already_exists",
                    f"customer email conflicts with customer of id {existing['id']}",
                )
        now = _iso(_now())
        customer: dict[str, Any] = {
            "id": _new_id("ctm"),
            "name": body.get("name"),
            "email": email,
            "marketing_consent": False,
            "status": "active",
            "custom_data": body.get("custom_data"),
            "locale": body.get("locale") or "en",
            "import_meta": None,
            "created_at": now,
            "updated_at": now,
        }
        self.customers[customer["id"]] = customer
        return customer

    def discount_create(self, body: dict[str, Any]) -> dict[str, Any]:
        _require(body, "amount", "description", "type")
        code = body.get("code")
        if code and any(d["code"] == code for d in self.discounts.values()):
            raise StubError(409, "discount_code_conflict", f"discount code {code} already exists")
        now = _iso(_now())
        discount = {
            "id": _new_id("dsc"),
            "status": "active",
            "description": body["description"],
            "enabled_for_checkout": bool(body.get("enabled_for_checkout", False)),
            "code": code,
            "type": body["type"],
            "mode": "standard",
            "amount": str(body["amount"]),
            "currency_code": body.get("currency_code"),
            "recur": bool(body.get("recur", False)),
            "maximum_recurring_intervals": body.get("maximum_recurring_intervals"),
            "usage_limit": body.get("usage_limit"),
            "restrict_to": body.get("restrict_to"),
            "expires_at": body.get("expires_at"),
            "times_used": 0,
            "discount_group_id": None,
            "custom_data": body.get("custom_data"),
            "import_meta": None,
            "created_at": now,
            "updated_at": now,
        }
        self.discounts[discount["id"]] = discount
        return discount

    # Money ------------------------------------------------------------------------------

    def _totals(
        self, items: list[dict[str, Any]], currency: str, discount_id: str | None
    ) -> dict[str, Any]:
        """Transaction details for `items` (no tax: the stub sells to no taxed country)."""
        discount = self.discounts.get(discount_id or "")
        line_items = []
        subtotal_all = discount_all = 0
        for item in items:
            price = item["price"]
            unit = int(price["unit_price"]["amount"])
            subtotal = unit * item["quantity"]
            off = 0
            if discount is not None and discount["type"] == "percentage":
                off = subtotal * int(float(discount["amount"])) // 100
            elif discount is not None and discount["type"] == "flat":
                off = min(subtotal, int(discount["amount"]))
            subtotal_all += subtotal
            discount_all += off
            line_totals = {"subtotal": str(subtotal), "discount": str(off), "tax": "0"}
            line_items.append(
                {
                    "id": _new_id("txnitm"),
                    "price_id": price["id"],
                    "quantity": item["quantity"],
                    "proration": None,
                    "tax_rate": "0",
                    "unit_totals": {
                        "subtotal": str(unit),
                        "discount": "0",
                        "tax": "0",
                        "total": str(unit),
                    },
                    "totals": {**line_totals, "total": str(subtotal - off)},
                    "product": self.products[price["product_id"]],
                }
            )
        total = str(subtotal_all - discount_all)
        totals: dict[str, Any] = {
            "subtotal": str(subtotal_all),
            "discount": str(discount_all),
            "tax": "0",
            "total": total,
            "credit": "0",
            "credit_to_balance": "0",
            "balance": total,
            "grand_total": total,
            "grand_total_tax": "0",
            "fee": None,
            "earnings": None,
            "currency_code": currency,
        }
        return {
            "tax_rates_used": [],
            "totals": totals,
            "adjusted_totals": {
                "subtotal": str(subtotal_all),
                "tax": "0",
                "total": total,
                "grand_total": total,
                "grand_total_tax": "0",
                "fee": "0",
                "earnings": "0",
                "retained_fee": "0",
                "currency_code": currency,
            },
            "payout_totals": None,
            "adjusted_payout_totals": None,
            "line_items": line_items,
        }

    def _items(self, raw_items: Any) -> list[dict[str, Any]]:
        if not isinstance(raw_items, list) or not raw_items:
            raise _invalid("items", "at least one item is required")
        items = []
        for raw in raw_items:
            price = self.prices.get(raw.get("price_id", ""))
            if price is None:
                raise StubError(404, "not_found", f"price {raw.get('price_id')} not found")
            quantity = raw.get("quantity", 1)
            bounds = price["quantity"]
            if (
                not isinstance(quantity, int)
                or not bounds["minimum"] <= quantity <= bounds["maximum"]
            ):
                raise _invalid("items.quantity", "quantity is outside the price's bounds")
            items.append({"price": price, "quantity": quantity, "proration": None})
        return items

    def transaction_create(
        self,
        body: dict[str, Any],
        *,
        origin: str = "api",
        subscription_id: str | None = None,
    ) -> dict[str, Any]:
        items = self._items(body.get("items"))
        customer_id = body.get("customer_id")
        if customer_id and customer_id not in self.customers:
            raise StubError(404, "not_found", f"customer {customer_id} not found")
        discount_id = body.get("discount_id")
        if discount_id and discount_id not in self.discounts:
            raise StubError(404, "not_found", f"discount {discount_id} not found")
        currency = body.get("currency_code") or items[0]["price"]["unit_price"]["currency_code"]
        now = _iso(_now())
        txn_id = _new_id("txn")
        transaction = {
            "id": txn_id,
            "status": "ready",
            "customer_id": customer_id,
            "address_id": None,
            "business_id": None,
            "custom_data": body.get("custom_data"),
            "origin": origin,
            "collection_mode": body.get("collection_mode") or "automatic",
            "subscription_id": subscription_id,
            "invoice_id": None,
            "invoice_number": None,
            "billing_details": None,
            "billing_period": body.get("billing_period"),
            "currency_code": currency,
            "discount_id": discount_id,
            "created_at": now,
            "updated_at": now,
            "billed_at": None,
            "items": items,
            "details": self._totals(items, currency, discount_id),
            "payments": [],
            "checkout": {"url": f"{self.base_url}/checkout/{txn_id}"},
        }
        self.transactions[txn_id] = transaction
        return transaction

    def _touch(self, entity: dict[str, Any]) -> None:
        """Set updated_at, strictly later than before, so states order by it."""
        now = _now()
        before = entity.get("updated_at")
        if before and _parse(before) >= now:
            now = _parse(before) + dt.timedelta(microseconds=1)
        entity["updated_at"] = _iso(now)

    def _attempt(self, transaction: dict[str, Any], card: str, *, ok: bool) -> None:
        now = _iso(_now())
        transaction["payments"].append(
            {
                "payment_attempt_id": secrets.token_hex(16),
                "stored_payment_method_id": secrets.token_hex(16),
                "payment_method_id": _new_id("paymtd"),
                "amount": transaction["details"]["totals"]["grand_total"],
                "status": "captured" if ok else "error",
                "error_code": None if ok else "declined",
                "method_details": {
                    "type": "card",
                    "card": {
                        "type": "visa",
                        "last4": card[-4:],
                        "expiry_month": 12,
                        "expiry_year": _now().year + 3,
                        "cardholder_name": "Test Buyer",
                    },
                },
                "created_at": now,
                "captured_at": now if ok else None,
            }
        )

    def _bill(self, transaction: dict[str, Any]) -> None:
        if transaction["invoice_number"] is None:
            self.invoice_counter += 1
            transaction["invoice_id"] = _new_id("inv")
            transaction["invoice_number"] = f"STUB-{self.invoice_counter:05d}"
        transaction["billed_at"] = transaction["billed_at"] or _iso(_now())

    def checkout_pay(self, txn_id: str, card: str) -> dict[str, Any]:
        """Pay a checkout: declined cards fail the transaction; others complete it."""
        transaction = self._transaction(txn_id)
        if transaction["status"] not in ("ready", "draft"):
            raise StubError(400, "transaction_not_ready", "this checkout is already finished")
        if transaction["customer_id"] is None:
            customer = self.customer_create({"email": f"buyer-{secrets.token_hex(4)}@example.com"})
            transaction["customer_id"] = customer["id"]
        transaction["address_id"] = transaction["address_id"] or _new_id("add")
        if card == DECLINED_CARD:
            self._attempt(transaction, card, ok=False)
            self._touch(transaction)
            self.emit("transaction.payment_failed", transaction)
            return transaction
        self._attempt(transaction, card, ok=True)
        self._bill(transaction)
        transaction["status"] = "paid"
        self._touch(transaction)
        self.emit("transaction.paid", transaction)
        subscription = self._subscription_from(transaction)
        self.emit("subscription.created", subscription)
        self.emit("subscription.activated", subscription)
        transaction["subscription_id"] = subscription["id"]
        transaction["billing_period"] = subscription["current_billing_period"]
        transaction["status"] = "completed"
        self._touch(transaction)
        self.emit("transaction.completed", transaction)
        return transaction

    def _subscription_from(self, transaction: dict[str, Any]) -> dict[str, Any]:
        started = _now()
        cycle = transaction["items"][0]["price"]["billing_cycle"] or {
            "interval": "month",
            "frequency": 1,
        }
        ends = _add_interval(started, cycle["interval"], cycle["frequency"])
        sub_id = _new_id("sub")
        subscription = {
            "id": sub_id,
            "status": "active",
            "customer_id": transaction["customer_id"],
            "address_id": transaction["address_id"],
            "business_id": None,
            "currency_code": transaction["currency_code"],
            "created_at": _iso(started),
            "updated_at": _iso(started),
            "started_at": _iso(started),
            "first_billed_at": _iso(started),
            "next_billed_at": _iso(ends),
            "paused_at": None,
            "canceled_at": None,
            "discount": None,
            "collection_mode": "automatic",
            "billing_details": None,
            "current_billing_period": {"starts_at": _iso(started), "ends_at": _iso(ends)},
            "billing_cycle": cycle,
            "scheduled_change": None,
            "management_urls": {
                "update_payment_method": f"{self.base_url}/portal/payment-method/{sub_id}",
                "cancel": f"{self.base_url}/portal/cancel/{sub_id}",
            },
            "items": [],
            "custom_data": transaction["custom_data"],
            "import_meta": None,
        }
        if transaction["discount_id"]:
            subscription["discount"] = self._subscription_discount(transaction["discount_id"])
        self._set_items(subscription, transaction["items"])
        self.subscriptions[sub_id] = subscription
        return subscription

    def _subscription_discount(self, discount_id: str) -> dict[str, Any]:
        discount = self.discounts[discount_id]
        return {
            "id": discount_id,
            "starts_at": _iso(_now()),
            "ends_at": None,
            "type": discount["type"],
        }

    def _set_items(self, subscription: dict[str, Any], items: list[dict[str, Any]]) -> None:
        now = _iso(_now())
        period = subscription["current_billing_period"]
        subscription["items"] = [
            {
                "status": "active",
                "quantity": item["quantity"],
                "recurring": True,
                "created_at": now,
                "updated_at": now,
                "previously_billed_at": period["starts_at"],
                "next_billed_at": period["ends_at"],
                "trial_dates": None,
                "price_id": item["price"]["id"],
                "price": item["price"],
                "product": self.products[item["price"]["product_id"]],
            }
            for item in items
        ]

    # Subscriptions ----------------------------------------------------------------------

    def _transaction(self, txn_id: str) -> dict[str, Any]:
        try:
            return self.transactions[txn_id]
        except KeyError:
            raise StubError(404, "not_found", f"transaction {txn_id} not found") from None

    def subscription(self, sub_id: str) -> dict[str, Any]:
        try:
            return self.subscriptions[sub_id]
        except KeyError:
            raise StubError(404, "not_found", f"subscription {sub_id} not found") from None

    def subscription_update(self, sub_id: str, body: dict[str, Any]) -> dict[str, Any]:
        subscription = self.subscription(sub_id)
        if subscription["status"] == "canceled":
            raise StubError(
                400, "subscription_locked_canceled", "a canceled subscription cannot be changed"
            )
        if "items" in body:
            modes = {
                "prorated_immediately",
                "prorated_next_billing_period",
                "full_immediately",
                "full_next_billing_period",
                "do_not_bill",
            }
            if body.get("proration_billing_mode") not in modes:
                raise _invalid("proration_billing_mode", "required when items change")
            items = self._items(body["items"])
            self._set_items(subscription, items)
        if "scheduled_change" in body:
            if body["scheduled_change"] is not None:
                raise _invalid("scheduled_change", "may only be removed (null)")
            subscription["scheduled_change"] = None
        if "discount" in body:
            discount = body["discount"]
            if discount is None:
                subscription["discount"] = None
            else:
                if discount.get("id") not in self.discounts:
                    raise StubError(404, "not_found", f"discount {discount.get('id')} not found")
                subscription["discount"] = self._subscription_discount(discount["id"])
        if "custom_data" in body:
            subscription["custom_data"] = body["custom_data"]
        self._touch(subscription)
        self.emit("subscription.updated", subscription)
        return subscription

    def subscription_cancel(self, sub_id: str, body: dict[str, Any]) -> dict[str, Any]:
        subscription = self.subscription(sub_id)
        if subscription["status"] == "canceled":
            raise StubError(
                400, "subscription_locked_canceled", "the subscription is already canceled"
            )
        if body.get("effective_from") == "immediately":
            self._end(subscription)
            return subscription
        subscription["scheduled_change"] = {
            "action": "cancel",
            "effective_at": subscription["current_billing_period"]["ends_at"],
            "resume_at": None,
        }
        self._touch(subscription)
        self.emit("subscription.updated", subscription)
        return subscription

    def _end(self, subscription: dict[str, Any]) -> None:
        subscription["status"] = "canceled"
        subscription["canceled_at"] = _iso(_now())
        subscription["scheduled_change"] = None
        subscription["next_billed_at"] = None
        self._touch(subscription)
        self.emit("subscription.canceled", subscription)

    def fail_next_charge(self, sub_id: str) -> dict[str, Any]:
        subscription = self.subscription(sub_id)
        self.failing.add(sub_id)
        return subscription

    def renew(self, sub_id: str) -> dict[str, Any]:
        """Bill the subscription's next period now (or end it, if its cancellation is due).

        A past-due subscription is charged again for the transaction that failed.
        """
        subscription = self.subscription(sub_id)
        if subscription["status"] == "canceled":
            raise StubError(400, "subscription_locked_canceled", "the subscription is canceled")
        change = subscription["scheduled_change"]
        if change and change["action"] == "cancel":
            self._end(subscription)
            return subscription
        failing = sub_id in self.failing
        self.failing.discard(sub_id)
        if subscription["status"] == "past_due":
            transaction = next(
                t
                for t in reversed(list(self.transactions.values()))
                if t["subscription_id"] == sub_id and t["status"] == "past_due"
            )
        else:
            transaction = self._renewal(subscription)
        card = DECLINED_CARD if failing else "4242424242424242"
        self._attempt(transaction, card, ok=not failing)
        if failing:
            transaction["status"] = "past_due"
            self._touch(transaction)
            self.emit("transaction.payment_failed", transaction)
            self.emit("transaction.past_due", transaction)
            if subscription["status"] != "past_due":
                subscription["status"] = "past_due"
                self._touch(subscription)
                self.emit("subscription.past_due", subscription)
            return subscription
        transaction["status"] = "paid"
        self._touch(transaction)
        self.emit("transaction.paid", transaction)
        transaction["status"] = "completed"
        self._touch(transaction)
        self.emit("transaction.completed", transaction)
        subscription["status"] = "active"
        self._touch(subscription)
        self.emit("subscription.updated", subscription)
        return subscription

    def _renewal(self, subscription: dict[str, Any]) -> dict[str, Any]:
        """Advance the subscription a period and bill that period in a new transaction."""
        cycle = subscription["billing_cycle"]
        starts = _parse(subscription["current_billing_period"]["ends_at"])
        ends = _add_interval(starts, cycle["interval"], cycle["frequency"])
        subscription["current_billing_period"] = {"starts_at": _iso(starts), "ends_at": _iso(ends)}
        subscription["next_billed_at"] = _iso(ends)
        items = [
            {"price_id": item["price"]["id"], "quantity": item["quantity"]}
            for item in subscription["items"]
        ]
        self._set_items(subscription, self._items(items))
        discount = subscription["discount"]
        transaction = self.transaction_create(
            {
                "items": items,
                "customer_id": subscription["customer_id"],
                "custom_data": subscription["custom_data"],
                "currency_code": subscription["currency_code"],
                "discount_id": discount["id"] if discount else None,
                "billing_period": subscription["current_billing_period"],
            },
            origin="subscription_recurring",
            subscription_id=subscription["id"],
        )
        transaction["address_id"] = subscription["address_id"]
        transaction["checkout"] = None
        transaction["status"] = "billed"
        self._bill(transaction)
        self.emit("transaction.billed", transaction)
        return transaction

    def portal_session(self, customer_id: str, body: dict[str, Any]) -> dict[str, Any]:
        if customer_id not in self.customers:
            raise StubError(404, "not_found", f"customer {customer_id} not found")
        session_id = _new_id("cpls")
        session = {
            "id": session_id,
            "customer_id": customer_id,
            "urls": {
                "general": {"overview": f"{self.base_url}/portal/{session_id}"},
                "subscriptions": [
                    {
                        "id": sub_id,
                        "cancel_subscription": f"{self.base_url}/portal/{session_id}/cancel",
                        "update_subscription_payment_method": (
                            f"{self.base_url}/portal/{session_id}/payment-method"
                        ),
                    }
                    for sub_id in body.get("subscription_ids") or []
                ],
            },
            "created_at": _iso(_now()),
        }
        self.portal_sessions[session_id] = session
        return session


def _require(body: dict[str, Any], *names: str) -> None:
    for name in names:
        if body.get(name) in (None, ""):
            raise _invalid(name, "is required")


def _invalid(field: str, message: str) -> StubError:
    error = StubError(400, "bad_request", "Invalid request.")
    error.field_errors = [{"field": field, "message": message}]  # type: ignore[attr-defined]
    return error


def _matches(entity: dict[str, Any], query: dict[str, list[str]], filters: dict[str, str]) -> bool:
    """Whether `entity` passes Paddle's comma-separated list filters in `query`."""
    for param, key in filters.items():
        if param in query:
            wanted = set(",".join(query[param]).split(","))
            if str(entity.get(key)) not in wanted:
                return False
    return True


_LIST_FILTERS = {
    "products": {"id": "id", "status": "status"},
    "prices": {"id": "id", "product_id": "product_id", "status": "status"},
    "customers": {"id": "id", "email": "email", "status": "status"},
    "discounts": {"id": "id", "code": "code", "status": "status"},
    "transactions": {
        "id": "id",
        "subscription_id": "subscription_id",
        "customer_id": "customer_id",
        "status": "status",
    },
    "subscriptions": {"id": "id", "customer_id": "customer_id", "status": "status"},
}


class Handler(BaseHTTPRequestHandler):
    """Routes one request to the state; every API answer is Paddle-shaped JSON."""

    server: StubServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        print(f"paddle-stub: {self.command} {self.path} {args[1] if len(args) > 1 else ''}")

    # Plumbing ---------------------------------------------------------------------------

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json_body(self) -> dict[str, Any]:
        raw = self._body()
        if not raw:
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            raise StubError(400, "bad_request", "the body is not JSON") from None
        if not isinstance(body, dict):
            raise StubError(400, "bad_request", "the body must be a JSON object")
        return body

    def _send(self, status: int, payload: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(payload)

    def _json(self, status: int, document: dict[str, Any]) -> None:
        document.setdefault("meta", {"request_id": secrets.token_hex(16)})
        self._send(status, json.dumps(document).encode(), "application/json")

    def _page(self, status: int, title: str, content: str) -> None:
        page = (
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title></head><body><h1>{html.escape(title)}</h1>{content}</body></html>"
        )
        self._send(status, page.encode(), "text/html; charset=utf-8")

    def _error(self, error: StubError) -> None:
        self._json(
            error.status,
            {
                "error": {
                    "type": error.kind,
                    "code": error.code,
                    "detail": error.detail,
                    "documentation_url": f"https://developer.paddle.com/errors/shared/{error.code}",
                    "errors": getattr(error, "field_errors", []),
                }
            },
        )

    def _authorized(self) -> bool:
        expected = f"Bearer {self.server.api_key}"
        return hmac.compare_digest(self.headers.get("Authorization", ""), expected)

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        parts = [part for part in url.path.split("/") if part]
        query = parse_qs(url.query)
        state = self.server.state
        try:
            if parts and parts[0] in ("checkout", "portal"):
                with state.lock:
                    self._buyer_page(parts, query)
                    if self.command == "POST":
                        state.save()
                return
            if not self._authorized():
                raise StubError(
                    403,
                    "forbidden",
                    "You aren't permitted to perform this request.",
                    "request_error",
                )
            with state.lock:
                document = self._api(self.command, parts, query)
                if self.command != "GET":
                    state.save()
        except StubError as error:
            self._error(error)
            return
        if document is None:
            self._error(StubError(404, "not_found", f"no route {self.command} {url.path}"))
            return
        self._json(201 if self.command == "POST" and "data" in document else 200, document)

    do_GET = do_POST = do_PATCH = _dispatch  # noqa: N815 - http.server's naming

    # API --------------------------------------------------------------------------------

    def _api(
        self, method: str, parts: list[str], query: dict[str, list[str]]
    ) -> dict[str, Any] | None:
        state = self.server.state
        if parts and parts[0] == "__stub":
            return self._stub_only(method, parts[1:], query)
        collections = {
            "products": state.products,
            "prices": state.prices,
            "customers": state.customers,
            "discounts": state.discounts,
            "transactions": state.transactions,
            "subscriptions": state.subscriptions,
        }
        creators = {
            "products": state.product_create,
            "prices": state.price_create,
            "customers": state.customer_create,
            "discounts": state.discount_create,
            "transactions": state.transaction_create,
        }
        if len(parts) == 1 and parts[0] in collections:
            if method == "GET":
                rows = [
                    entity
                    for entity in collections[parts[0]].values()
                    if _matches(entity, query, _LIST_FILTERS[parts[0]])
                ]
                return {
                    "data": rows,
                    "meta": {
                        "request_id": secrets.token_hex(16),
                        "pagination": {
                            "per_page": max(50, len(rows)),
                            "next": f"{state.base_url}/{parts[0]}?after=",
                            "has_more": False,
                            "estimated_total": len(rows),
                        },
                    },
                }
            if method == "POST" and parts[0] in creators:
                return {"data": creators[parts[0]](self._json_body())}
            return None
        if len(parts) == 2 and parts[0] in collections and method == "GET":
            entity = collections[parts[0]].get(parts[1])
            if entity is None:
                raise StubError(404, "not_found", f"{parts[0]} {parts[1]} not found")
            return {"data": entity}
        if parts[:1] == ["subscriptions"] and len(parts) >= 2:
            if len(parts) == 2 and method == "PATCH":
                return {"data": state.subscription_update(parts[1], self._json_body())}
            if parts[2:] == ["cancel"] and method == "POST":
                return {"data": state.subscription_cancel(parts[1], self._json_body())}
        if parts[:1] == ["customers"] and parts[2:] == ["portal-sessions"] and method == "POST":
            return {"data": state.portal_session(parts[1], self._json_body())}
        return None

    def _stub_only(
        self, method: str, parts: list[str], query: dict[str, list[str]]
    ) -> dict[str, Any] | None:
        state = self.server.state
        if parts == ["webhook-destination"] and method == "POST":
            state.destination = str(self._json_body().get("url") or "")
            return {"data": {"url": state.destination}}
        if parts == ["deliveries"] and method == "GET":
            after = int(query.get("after", ["0"])[0] or 0)
            filters = {
                "customer_id": "customer_id",
                "subscription_id": "subscription_id",
                "transaction_id": "transaction_id",
            }
            rows = [d for d in state.deliveries[after:] if _matches(d, query, filters)]
            return {"data": rows}
        if len(parts) == 3 and parts[0] == "subscriptions" and method == "POST":
            if parts[2] == "fail-next-charge":
                return {"data": state.fail_next_charge(parts[1])}
            if parts[2] == "renew":
                return {"data": state.renew(parts[1])}
        return None

    # Pages a buyer's browser opens --------------------------------------------------------

    def _buyer_page(self, parts: list[str], query: dict[str, list[str]]) -> None:
        state = self.server.state
        if parts[0] == "portal":
            if parts[1:2] and parts[1] in state.portal_sessions:
                self._page(200, "Customer portal", "<p>Your subscriptions and invoices.</p>")
            else:
                self._page(404, "Not found", "<p>This portal link is not valid.</p>")
            return
        if len(parts) != 2 or parts[1] not in state.transactions:
            self._page(404, "Not found", "<p>This checkout link is not valid.</p>")
            return
        transaction = state.transactions[parts[1]]
        if self.command == "POST":
            form = parse_qs(self._body().decode())
            card = "".join(form.get("card_number", [""])[0].split())
            if not card.isdigit() or len(card) < 12:
                self._checkout_form(transaction, query, "Enter a card number.", 400)
                return
            try:
                state.checkout_pay(transaction["id"], card)
            except StubError as error:
                self._page(error.status, "Checkout", f"<p>{html.escape(error.detail)}</p>")
                return
            if transaction["status"] != "completed":
                self._checkout_form(transaction, query, "Your card was declined.", 402)
                return
            target = _return_url(query, "success_url")
            if target:
                self._send(303, b"", "text/html", Location=target)
            else:
                self._page(200, "Paid", "<p>Thank you: your subscription is active.</p>")
            return
        if transaction["status"] != "ready":
            self._page(410, "Checkout", "<p>This checkout is already finished.</p>")
            return
        self._checkout_form(transaction, query, "", 200)

    def _checkout_form(
        self, transaction: dict[str, Any], query: dict[str, list[str]], error: str, status: int
    ) -> None:
        totals = transaction["details"]["totals"]
        lines = "".join(
            f"<li>{html.escape(item['price']['description'])} &times; {item['quantity']}</li>"
            for item in transaction["items"]
        )
        action = html.escape(f"/checkout/{transaction['id']}?{urlencode(query, doseq=True)}")
        cancel = _return_url(query, "cancel_url")
        self._page(
            status,
            "Checkout",
            f"<ul>{lines}</ul><p>Total: {html.escape(totals['grand_total'])} "
            f"{html.escape(transaction['currency_code'])} (minor units)</p>"
            + (f"<p role='alert'>{html.escape(error)}</p>" if error else "")
            + f"<form method='post' action='{action}'>"
            "<label>Card number <input name='card_number' value='4242 4242 4242 4242'></label>"
            "<button type='submit'>Pay</button></form>"
            + (f"<p><a href='{html.escape(cancel)}'>Cancel</a></p>" if cancel else ""),
        )


def _return_url(query: dict[str, list[str]], name: str) -> str:
    """A return address from the checkout link, only if it is a web address."""
    value = query.get(name, [""])[0]
    return value if urlsplit(value).scheme in ("http", "https") else ""


class StubServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, port: int, api_key: str, webhook_secret: str, path: Path | None = None
    ) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.api_key = api_key
        base = f"http://127.0.0.1:{self.server_address[1]}"
        self.state = PaddleState(base, webhook_secret, path)


def main(argv: list[str]) -> int:
    port = int(argv[1]) if len(argv) > 1 else 0
    api_key = os.environ.get("PADDLE_STUB_API_KEY", "")
    secret = os.environ.get("PADDLE_STUB_WEBHOOK_SECRET", "")
    if not api_key or not secret:
        print("paddle-stub: PADDLE_STUB_API_KEY and PADDLE_STUB_WEBHOOK_SECRET are required")
        return 2
    path = Path(argv[2]) if len(argv) > 2 else None
    server = StubServer(port, api_key, secret, path)
    threading.Thread(target=server.state.deliver_forever, daemon=True).start()
    print(f"paddle-stub: serving on {server.state.base_url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
