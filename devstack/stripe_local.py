"""Local Stripe: localstripe, plus the parts of Stripe's current API it lacks.

localstripe 1.15 is a stateful fake of Stripe's older surface (customers, payment methods,
plans, subscriptions, invoices, coupons, signed webhooks) but has no Price, no Checkout
Session and no billing-portal session, which the product's Stripe adapter uses. This module
serves those from localstripe's own objects, following Stripe's documented shapes:

- `/v1/prices` create, retrieve, update and list (also by `lookup_keys[]`): a price is a
  localstripe plan whose id starts with `price_`, so subscriptions bill it as usual;
- `/v1/subscriptions` create and update accept `items[][price]`, `discounts[][coupon]` and
  `proration_behavior`, and an update sends `customer.subscription.updated` (localstripe
  sends none); subscriptions and invoices carry `items.data[].price`, `number` and hosted
  links as Stripe's current API does;
- `/v1/checkout/sessions` (mode=subscription) returns the `url` of a hosted page served here:
  a test card 4242 4242 4242 4242 pays, 4000 0000 0000 0341 attaches but its charges are
  declined; paying creates the customer, card and subscription (carrying the session's
  `subscription_data[metadata]` and `client_reference_id`), sends a signed
  `checkout.session.completed` and redirects to `success_url`;
- `/v1/billing_portal/sessions` returns the `url` of a page listing the customer's invoices
  with a link back to `return_url`; an open invoice has a Pay button that pays it with the
  card on file, or with a card entered beside it (which becomes the customer's default, as
  updating the payment method in Stripe's portal does), sends `invoice.paid` and
  `customer.subscription.updated` (active) as Stripe does, and comes back to the page;
- `POST /_config/subscriptions/<id>/renew` with `outcome=fail` (or `succeed`) starts the
  subscription's next period and charges it now: `fail` swaps in a card whose charges are
  declined, so a failed renewal (invoice.payment_failed, past_due) can be produced end to
  end; `succeed` puts a good card back and pays what is open.

Run as `python -m devstack.stripe_local --port N [--data FILE]`. With `--data` the state is
kept in FILE between runs (dev); without it nothing is written to disk (tests).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import html
import json
import pickle
import socket
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from localstripe import resources as ls
from localstripe import server as ls_server
from localstripe import webhooks as ls_webhooks
from localstripe.errors import UserError

GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000341"
_EXTRA = "x_"  # store keys of this module's own objects: x_price:<id>, x_checkout:<id>, ...
_state = {"base": "http://127.0.0.1:8420", "data": ""}


def _json(data: Any, status: int = 200) -> web.Response:
    return ls_server.json_response(data, status=status)


def _get(kind: str, id_: str) -> dict[str, Any]:
    found = ls.store.get(f"{_EXTRA}{kind}:{id_}")
    if found is None:
        raise UserError(404, f"No such {kind}: '{id_}'", {"code": "resource_missing"})
    value: dict[str, Any] = found
    return value


def _put(kind: str, id_: str, value: dict[str, Any]) -> None:
    ls.store[f"{_EXTRA}{kind}:{id_}"] = value


class _Payload:
    """Lets a plain dict be the object of a localstripe Event (which calls `_export`)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def _export(self, expand: Any = None) -> dict[str, Any]:
        return json.loads(json.dumps(self.data))


def _send(event_type: str, obj: Any) -> None:
    """Record an event (listed by /v1/events) and deliver it to the registered endpoints."""
    ls.schedule_webhook(ls.Event(event_type, obj))


# Webhooks leave after a short pause (so the response that caused them goes first), not
# localstripe's full second; the store is written once per request, not on every change.


async def _deliver_soon(event: Any) -> None:
    """Sign and post `event` to each registered endpoint, as localstripe does, sooner."""
    await asyncio.sleep(0.05)
    payload = json.dumps(event._export(), indent=2, sort_keys=True).encode()
    signed = b"%d.%s" % (event.created, payload)
    async with aiohttp.ClientSession() as session:
        for hook in list(ls_webhooks._webhooks.values()):
            if hook.events is not None and event.type not in hook.events:
                continue
            signature = hmac.new(hook.secret.encode(), signed, hashlib.sha256).hexdigest()
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": f"t={event.created},v1={signature}",
            }
            try:
                async with session.post(hook.url, data=payload, headers=headers) as response:
                    print(f"webhook {event.type} {event.id}: {response.status}", flush=True)
            except aiohttp.ClientError as exc:
                print(f"webhook {event.type} {event.id} failed: {exc}", flush=True)


def _schedule(event: Any) -> None:
    asyncio.ensure_future(_deliver_soon(event))


def _dump() -> None:
    if _state["data"]:
        tmp = Path(_state["data"] + ".tmp")
        with tmp.open("wb") as handle:
            pickle.dump(dict(ls.store), handle, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(_state["data"])


def _load() -> None:
    path = Path(_state["data"]) if _state["data"] else None
    if path is not None and path.exists():
        with path.open("rb") as handle:
            dict.update(ls.store, pickle.load(handle))  # noqa: S301 - our own file


# Prices: localstripe plans with a price_ id ------------------------------------------------


def _price_of(plan: Any) -> dict[str, Any]:
    extra = ls.store.get(f"{_EXTRA}price:{plan.id}", {})
    return {
        "id": plan.id,
        "object": "price",
        "active": plan.active,
        "billing_scheme": "per_unit",
        "created": plan.created,
        "currency": plan.currency,
        "livemode": False,
        "lookup_key": extra.get("lookup_key"),
        "metadata": plan.metadata,
        "nickname": plan.nickname,
        "product": plan.product,
        "recurring": {
            "interval": plan.interval,
            "interval_count": plan.interval_count,
            "usage_type": plan.usage_type,
        },
        "type": "recurring",
        "unit_amount": plan.amount,
    }


def _plan(price_id: str) -> Any:
    return ls.Plan._api_retrieve(price_id)


async def price_create(request: web.Request) -> web.Response:
    data = await ls_server.get_post_data(request) or {}
    recurring = data.get("recurring") or {}
    product = data.get("product") or data.get("product_data")
    if not product or not recurring.get("interval") or not data.get("currency"):
        raise UserError(400, "product, currency and recurring[interval] are required")
    lookup_key = data.get("lookup_key")
    if lookup_key:
        for old in _prices_by_lookup_key([lookup_key]):
            if data.get("transfer_lookup_key") not in ("true", True):
                raise UserError(400, f"A price with lookup_key {lookup_key} already exists.")
            ls.store[f"{_EXTRA}price:{old.id}"] = {
                **ls.store.get(f"{_EXTRA}price:{old.id}", {}),
                "lookup_key": None,
            }
    plan = ls.Plan(
        id="price_" + ls.random_id(14),
        amount=data.get("unit_amount", 0),
        currency=str(data["currency"]).lower(),
        interval=recurring["interval"],
        interval_count=recurring.get("interval_count", 1),
        product=product,
        nickname=data.get("nickname"),
        metadata=data.get("metadata"),
    )
    _put("price", plan.id, {"lookup_key": lookup_key})
    return _json(_price_of(plan))


async def price_retrieve(request: web.Request) -> web.Response:
    return _json(_price_of(_plan(request.match_info["id"])))


async def price_update(request: web.Request) -> web.Response:
    plan = _plan(request.match_info["id"])
    data = await ls_server.get_post_data(request) or {}
    if "active" in data:
        plan.active = ls.try_convert_to_bool(data["active"])
    if isinstance(data.get("metadata"), dict):
        plan.metadata = {**(plan.metadata or {}), **data["metadata"]}
    if "lookup_key" in data:
        _put("price", plan.id, {"lookup_key": data["lookup_key"] or None})
    ls.store[f"plan:{plan.id}"] = plan
    return _json(_price_of(plan))


def _prices_by_lookup_key(keys: list[str]) -> list[Any]:
    wanted = set(keys)
    return [
        value
        for key, value in ls.store.items()
        if key.startswith("plan:price_")
        and ls.store.get(f"{_EXTRA}price:{value.id}", {}).get("lookup_key") in wanted
    ]


async def price_list(request: web.Request) -> web.Response:
    query = ls_server.unflatten_data(request.query)
    keys = query.get("lookup_keys")
    if keys is not None:
        plans = _prices_by_lookup_key([keys] if isinstance(keys, str) else list(keys))
    else:
        plans = [v for k, v in ls.store.items() if k.startswith("plan:price_")]
    if "active" in query:
        active = ls.try_convert_to_bool(query["active"])
        plans = [plan for plan in plans if plan.active == active]
    if query.get("product"):
        plans = [plan for plan in plans if plan.product == query["product"]]
    limit = int(query.get("limit", 10))
    data = [_price_of(plan) for plan in plans]
    return _json(
        {
            "object": "list",
            "data": data[:limit],
            "has_more": len(data) > limit,
            "url": "/v1/prices",
        }
    )


# Subscriptions: prices, discounts, and the updated event ----------------------------------


def _items_with_plans(items: Any) -> Any:
    if not isinstance(items, list):
        return items
    for item in items:
        if isinstance(item, dict) and "price" in item:
            item["plan"] = item.pop("price")
    return items


def _discount(subscription: Any, data: dict[str, Any]) -> None:
    discounts = data.pop("discounts", None)
    coupon = data.pop("coupon", None)
    if isinstance(discounts, list) and discounts:
        coupon = discounts[0].get("coupon") or coupon
    if coupon:
        found = ls.Coupon._api_retrieve(coupon)
        subscription.discount = {"object": "discount", "coupon": found._export()}


def _ignore_unsupported(data: dict[str, Any]) -> None:
    for key in ("proration_behavior", "payment_settings", "off_session", "expand"):
        data.pop(key, None)
    if data.get("payment_behavior") not in (None, "allow_incomplete", "error_if_incomplete"):
        data.pop("payment_behavior")


async def subscription_create(request: web.Request) -> web.Response:
    data = await ls_server.get_post_data(request) or {}
    _ignore_unsupported(data)
    data["items"] = _items_with_plans(data.get("items"))
    discount = {key: data.pop(key) for key in ("discounts", "coupon") if key in data}
    subscription = ls.Subscription._api_create(**data)
    _discount(subscription, discount)
    return _json(subscription._export())


async def subscription_update(request: web.Request) -> web.Response:
    subscription = ls.Subscription._api_retrieve(request.match_info["id"])
    data = await ls_server.get_post_data(request) or {}
    _ignore_unsupported(data)
    data.pop("payment_behavior", None)
    if "items" in data:
        data["items"] = _items_with_plans(data["items"])
    _discount(subscription, data)
    if data:
        subscription._update(**data)
    ls.store[f"subscription:{subscription.id}"] = subscription
    _send("customer.subscription.updated", subscription)
    return _json(subscription._export())


def _export_with_prices(original: Any) -> Any:
    """Wrap an `_export` so items and lines also carry their plan as a Stripe `price`."""

    def export(self: Any, expand: Any = None) -> dict[str, Any]:
        data: dict[str, Any] = original(self, expand=expand)
        plan = getattr(self, "plan", None)
        if isinstance(plan, ls.Plan):
            data["price"] = _price_of(plan)
        if isinstance(self, ls.SubscriptionItem):
            period = self._current_period()
            data["current_period_start"] = period["start"]
            data["current_period_end"] = period["end"]
        if isinstance(self, ls.Subscription):
            data["discounts"] = [data["discount"]] if data.get("discount") else []
        if isinstance(self, ls.Invoice):
            data["number"] = "LS-" + self.id[-8:].upper()
            data["hosted_invoice_url"] = f"{_state['base']}/invoice/{self.id}"
            data["invoice_pdf"] = f"{_state['base']}/invoice/{self.id}"
            data["due_date"] = None
            owner = ls.store.get(f"subscription:{self.subscription}")
            if owner is not None:
                # Stripe copies the subscription's metadata onto its invoices.
                data["parent"] = {
                    "type": "subscription_details",
                    "subscription_details": {
                        "subscription": owner.id,
                        "metadata": dict(owner.metadata or {}),
                    },
                }
        return data

    return export


# Checkout ----------------------------------------------------------------------------------


async def checkout_create(request: web.Request) -> web.Response:
    data = await ls_server.get_post_data(request) or {}
    if data.get("mode") != "subscription":
        raise UserError(400, "Only mode=subscription is served here.")
    items = data.get("line_items") or []
    if not items or not isinstance(items, list) or not data.get("success_url"):
        raise UserError(400, "line_items and success_url are required")
    plan = _plan(items[0].get("price", ""))
    if data.get("customer"):
        ls.Customer._api_retrieve(data["customer"])
    discounts = data.get("discounts") or []
    coupon = discounts[0].get("coupon") if isinstance(discounts, list) and discounts else None
    if coupon:
        ls.Coupon._api_retrieve(coupon)
    session_id = "cs_test_" + ls.random_id(24)
    session = {
        "id": session_id,
        "object": "checkout.session",
        "mode": "subscription",
        "status": "open",
        "payment_status": "unpaid",
        "created": int(time.time()),
        "expires_at": int(time.time()) + 24 * 3600,
        "livemode": False,
        "url": f"{_state['base']}/checkout/pay/{session_id}",
        "success_url": data["success_url"],
        "cancel_url": data.get("cancel_url"),
        "client_reference_id": data.get("client_reference_id"),
        "customer": data.get("customer"),
        "customer_email": data.get("customer_email"),
        "metadata": data.get("metadata") or {},
        "subscription": None,
        "currency": plan.currency,
        "amount_total": plan.amount * int(items[0].get("quantity", 1)),
        "_price": plan.id,
        "_quantity": int(items[0].get("quantity", 1)),
        "_subscription_metadata": (data.get("subscription_data") or {}).get("metadata") or {},
        "_coupon": coupon,
    }
    _put("checkout", session_id, session)
    return _json(_public(session))


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in obj.items() if not key.startswith("_")}


async def checkout_retrieve(request: web.Request) -> web.Response:
    return _json(_public(_get("checkout", request.match_info["id"])))


_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;color:#1f2937}}
label{{display:block;margin:.75rem 0 .25rem}}input{{width:100%;padding:.5rem;font-size:1rem}}
button{{margin-top:1rem;padding:.6rem 1.2rem;font-size:1rem}}.error{{color:#b91c1c}}
td,th{{padding:.3rem .6rem;text-align:left}}</style></head><body>{body}</body></html>"""


def _page(title: str, body: str, status: int = 200) -> web.Response:
    return web.Response(
        text=_PAGE.format(title=html.escape(title), body=body),
        content_type="text/html",
        status=status,
    )


def _checkout_form(session: dict[str, Any], error: str = "") -> web.Response:
    amount = session["amount_total"] / 100
    email = html.escape(session.get("customer_email") or "")
    body = (
        "<h1>Local Stripe Checkout</h1>"
        f"<p>{amount:.2f} {html.escape(session['currency'].upper())} a period "
        f"for {session['_quantity']} seat(s).</p>"
        + (f'<p class="error" role="alert">{html.escape(error)}</p>' if error else "")
        + f'<form method="post" action="/checkout/pay/{session["id"]}">'
        '<label for="email">Email</label>'
        f'<input id="email" name="email" value="{email}">'
        '<label for="card">Card number</label>'
        '<input id="card" name="card" placeholder="4242 4242 4242 4242" autocomplete="off">'
        '<label for="exp">Expiry (MM/YY)</label><input id="exp" name="exp" value="12/34">'
        '<label for="cvc">CVC</label><input id="cvc" name="cvc" value="123">'
        '<button type="submit">Subscribe</button></form>'
        + (
            f'<p><a href="{html.escape(session["cancel_url"])}">Cancel</a></p>'
            if session.get("cancel_url")
            else ""
        )
    )
    return _page("Checkout", body, status=400 if error else 200)


async def checkout_page(request: web.Request) -> web.Response:
    session = _get("checkout", request.match_info["id"])
    if session["status"] != "open":
        raise web.HTTPFound(session["success_url"])
    return _checkout_form(session)


def _card(number: str, exp: str = "12/34", cvc: str = "123") -> Any:
    month, _, year = exp.partition("/")
    return ls.PaymentMethod(
        type="card",
        card={"number": number, "exp_month": month or "12", "exp_year": year or "34", "cvc": cvc},
    )


def _use_card(customer_id: str, card: Any) -> None:
    ls.PaymentMethod._api_attach(card.id, customer=customer_id)
    customer = ls.Customer._api_retrieve(customer_id)
    customer.invoice_settings["default_payment_method"] = card.id
    ls.store[f"customer:{customer_id}"] = customer


async def checkout_pay(request: web.Request) -> web.Response:
    session = _get("checkout", request.match_info["id"])
    if session["status"] != "open":
        raise web.HTTPFound(session["success_url"])
    form = await request.post()
    number = "".join(str(form.get("card", "")).split())
    if len(number) != 16 or not number.isdigit():
        return _checkout_form(session, "Your card number is incomplete.")
    try:
        card = _card(number, str(form.get("exp", "12/34")), str(form.get("cvc", "123")))
        customer_id = session.get("customer")
        if not customer_id:
            customer_id = ls.Customer(
                email=str(form.get("email") or session.get("customer_email") or "") or None,
                metadata={"client_reference_id": session.get("client_reference_id") or ""},
            ).id
        _use_card(customer_id, card)
    except UserError as exc:
        return _checkout_form(session, exc.body["error"].get("message", "Declined."))
    if card._charging_is_declined():
        # Stripe's Checkout refuses a card whose first charge is declined and stays open;
        # the customer it made is kept for the next try, with the card attached.
        session["customer"] = customer_id
        _put("checkout", session["id"], session)
        return _checkout_form(session, "Your card was declined.")
    subscription = ls.Subscription(
        customer=customer_id,
        items=[{"plan": session["_price"], "quantity": session["_quantity"]}],
        metadata=dict(session["_subscription_metadata"]),
    )
    if session["_coupon"]:
        _discount(subscription, {"coupon": session["_coupon"]})
    session.update(
        status="complete",
        payment_status="paid",
        customer=customer_id,
        subscription=subscription.id,
        customer_email=ls.Customer._api_retrieve(customer_id).email,
    )
    _put("checkout", session["id"], session)
    _send("checkout.session.completed", _Payload(_public(session)))
    target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
    raise web.HTTPSeeOther(target)


# The customer portal -----------------------------------------------------------------------


async def portal_create(request: web.Request) -> web.Response:
    data = await ls_server.get_post_data(request) or {}
    customer = ls.Customer._api_retrieve(str(data.get("customer", "")))
    session_id = "bps_" + ls.random_id(24)
    session = {
        "id": session_id,
        "object": "billing_portal.session",
        "created": int(time.time()),
        "customer": customer.id,
        "livemode": False,
        "return_url": data.get("return_url"),
        "url": f"{_state['base']}/portal/{session_id}",
    }
    _put("portal", session_id, session)
    return _json(session)


def _invoices_of(customer_id: str) -> list[Any]:
    return [
        value
        for key, value in ls.store.items()
        if key.startswith("invoice:") and value.customer == customer_id
    ]


def _portal(session: dict[str, Any], error: str = "") -> web.Response:
    rows = "".join(
        f'<tr><td><a href="/invoice/{inv.id}">LS-{inv.id[-8:].upper()}</a></td>'
        f"<td>{inv.total / 100:.2f} {html.escape(inv.currency.upper())}</td>"
        f"<td>{html.escape(inv.status)}</td><td>{_pay_form(session, inv)}</td></tr>"
        for inv in sorted(_invoices_of(session["customer"]), key=lambda i: -i.created)
    )
    back = html.escape(session.get("return_url") or "/")
    body = (
        "<h1>Local Stripe customer portal</h1>"
        + (f'<p class="error" role="alert">{html.escape(error)}</p>' if error else "")
        + "<h2>Invoices</h2><table><tr><th>Number</th><th>Total</th><th>Status</th>"
        f"<th></th></tr>{rows}</table>"
        f'<p><a href="{back}">Return</a></p>'
    )
    return _page("Billing portal", body, status=400 if error else 200)


def _pay_form(session: dict[str, Any], invoice: Any) -> str:
    """An open invoice's Pay button, with a card field (empty: the card on file)."""
    if invoice.status != "open":
        return ""
    field = f"card-{invoice.id}"
    return (
        f'<form method="post" action="/portal/{session["id"]}/invoices/{invoice.id}/pay">'
        f'<label for="{field}">Card number (empty: the card on file)</label>'
        f'<input id="{field}" name="card" placeholder="4242 4242 4242 4242" autocomplete="off">'
        f'<button type="submit" aria-label="Pay LS-{invoice.id[-8:].upper()}">Pay</button>'
        "</form>"
    )


async def portal_page(request: web.Request) -> web.Response:
    return _portal(_get("portal", request.match_info["id"]))


async def portal_pay(request: web.Request) -> web.Response:
    """Pay one open invoice of the session's customer, then back to the portal page."""
    session = _get("portal", request.match_info["id"])
    invoice = ls.Invoice._api_retrieve(request.match_info["invoice"])
    if invoice.customer != session["customer"]:
        raise UserError(404, f"No such invoice: '{invoice.id}'", {"code": "resource_missing"})
    back = web.HTTPSeeOther(f"/portal/{session['id']}")
    if invoice.status != "open":
        raise back  # paid meanwhile (or void): nothing to pay
    form = await request.post()
    number = "".join(str(form.get("card", "")).split())
    if number:
        if len(number) != 16 or not number.isdigit():
            return _portal(session, "Your card number is incomplete.")
        _use_card(session["customer"], _card(number))
    if not _pay(invoice):
        return _portal(session, "Your card was declined.")
    raise back


def _pay(invoice: Any) -> bool:
    """Charge an open invoice to its customer's default card, with the events Stripe sends
    (`invoice.paid` and the subscription back to active, or `invoice.payment_failed` and the
    subscription past due); True if it was paid."""
    try:
        ls.Invoice._api_pay_invoice(invoice.id)
    except UserError:
        pass  # no card on file: the invoice stays open, as a declined one does
    invoice = ls.Invoice._api_retrieve(invoice.id)
    subscription = ls.store.get(f"subscription:{invoice.subscription}")
    if subscription is not None:
        _after_payment(subscription, invoice)
    elif invoice.status == "paid":
        _send("invoice.paid", invoice)
    else:
        _send("invoice.payment_failed", invoice)
    return bool(invoice.status == "paid")


async def invoice_page(request: web.Request) -> web.Response:
    invoice = ls.Invoice._api_retrieve(request.match_info["id"])
    body = (
        f"<h1>Invoice LS-{invoice.id[-8:].upper()}</h1>"
        f"<p>{invoice.total / 100:.2f} {html.escape(invoice.currency.upper())}, "
        f"{html.escape(invoice.status)}</p>"
    )
    return _page("Invoice", body)


# Renewals on demand ------------------------------------------------------------------------


async def renew(request: web.Request) -> web.Response:
    """Start the subscription's next period now and charge it (outcome=fail: declined)."""
    subscription = ls.Subscription._api_retrieve(request.match_info["id"])
    data = await ls_server.get_post_data(request) or {}
    outcome = data.get("outcome", "succeed")
    if outcome not in ("fail", "succeed"):
        raise UserError(400, "outcome is fail or succeed")
    _use_card(subscription.customer, _card(DECLINED_CARD if outcome == "fail" else GOOD_CARD))
    open_invoices = [
        inv
        for inv in _invoices_of(subscription.customer)
        if inv.subscription == subscription.id and inv.status == "open"
    ]
    if outcome == "succeed" and open_invoices:
        for invoice in open_invoices:
            _pay(invoice)
        return _json(subscription._export())
    subscription.start_date = subscription.current_period_end
    subscription._create_invoice()
    invoice = ls.Invoice._api_retrieve(subscription.latest_invoice)
    _after_payment(subscription, invoice)
    return _json(subscription._export())


def _after_payment(subscription: Any, invoice: Any) -> None:
    """The events of a charge for `invoice` (localstripe sent `invoice.payment_succeeded`
    already for a paid one; Stripe sends `invoice.paid` beside it)."""
    if invoice.status == "paid":
        subscription.status = "active"
        _send("invoice.paid", invoice)
    else:
        subscription.status = "past_due"
        _send("invoice.payment_failed", invoice)
    ls.store[f"subscription:{subscription.id}"] = subscription
    _send("customer.subscription.updated", subscription)


# The application ---------------------------------------------------------------------------


@web.middleware
async def _save_store(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    finally:
        if request.method in ("PUT", "POST", "DELETE"):
            _dump()


@web.middleware
async def _public_pages(request: web.Request, handler: Any) -> web.StreamResponse:
    """Hosted pages are opened by a browser, without an API key (as on Stripe's own hosts)."""
    if request.path.startswith(("/checkout/", "/portal/", "/invoice/")):
        response: web.StreamResponse = await handler(request)
        return response
    authenticated: web.StreamResponse = await ls_server.auth_middleware(request, handler)
    return authenticated


def build_app(base: str, data: str = "") -> web.Application:
    """localstripe's routes behind ours, with the store kept in `data` (nothing when empty)."""
    _state["base"] = base.rstrip("/")
    _state["data"] = data
    ls.store.dump_to_disk = lambda: None
    ls.schedule_webhook = _schedule
    for cls in (ls.Subscription, ls.SubscriptionItem, ls.InvoiceLineItem, ls.Invoice):
        if not getattr(cls._export, "_with_prices", False):
            wrapped = _export_with_prices(cls._export)
            wrapped._with_prices = True
            cls._export = wrapped
    _load()
    app = web.Application(middlewares=[ls_server.error_middleware, _public_pages, _save_store])
    app.on_response_prepare.append(ls_server.add_cors_headers)
    routes = [
        ("POST", "/v1/prices", price_create),
        ("GET", "/v1/prices", price_list),
        ("GET", "/v1/prices/{id}", price_retrieve),
        ("POST", "/v1/prices/{id}", price_update),
        ("POST", "/v1/subscriptions", subscription_create),
        ("POST", "/v1/subscriptions/{id}", subscription_update),
        ("POST", "/v1/checkout/sessions", checkout_create),
        ("GET", "/v1/checkout/sessions/{id}", checkout_retrieve),
        ("POST", "/v1/billing_portal/sessions", portal_create),
        ("GET", "/checkout/pay/{id}", checkout_page),
        ("POST", "/checkout/pay/{id}", checkout_pay),
        ("GET", "/portal/{id}", portal_page),
        ("POST", "/portal/{id}/invoices/{invoice}/pay", portal_pay),
        ("GET", "/invoice/{id}", invoice_page),
        ("POST", "/_config/subscriptions/{id}/renew", renew),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    for route in ls_server.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        known = info.get("path") or info.get("formatter")
        if known:
            app.router.add_route(route.method, str(known), route.handler)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--data", default="", help="keep the state in this file")
    args = parser.parse_args()
    app = build_app(f"http://{args.host}:{args.port}", args.data)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    print(f"local stripe serving on {args.host}:{args.port}", flush=True)
    web.run_app(app, sock=sock, print=None, access_log=None)


if __name__ == "__main__":
    main()
