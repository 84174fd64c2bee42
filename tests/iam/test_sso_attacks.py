"""Forged, replayed and misdirected single sign-on responses: each is a clear 4xx, and
nobody is created, changed or signed in."""

import base64
import datetime as dt
import re
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.test import Client

from iam.models import Membership, User
from iam.sso.exceptions import SsoFailed
from iam.sso.models import SamlAssertionSeen, SsoConnection
from iam.sso.services import assertion_use, connection_save
from tests.conftest import host_of
from tests.iam.test_sso_oidc import oidc_connection, verified
from tests.iam.test_sso_saml import post_response, saml_connection, saml_start
from tests.support.sso import (  # noqa: F401 - fixtures
    ForgingProvider,
    SamlIdp,
    dns,
    forging_provider,
    local_dns,
    oidc_authorize,
    oidc_provider,
    oidc_user_set,
    saml_idp,
)

pytestmark = pytest.mark.django_db

VICTIM = "victim@alpha.example"


def _refused(response: Any, client: Client, *, email: str = VICTIM) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    assert SESSION_KEY not in client.session
    assert not User.objects.filter(email=email).exists()


# SAML ------------------------------------------------------------------------------------


@pytest.fixture
def idp(tmp_path) -> SamlIdp:
    return saml_idp(tmp_path)


@pytest.fixture
def saml_a(tenant_a, dns, idp) -> SsoConnection:  # noqa: F811
    verified(tenant_a, dns)
    return saml_connection(tenant_a, idp)


def _decoded(saml_response: str) -> str:
    return base64.b64decode(saml_response).decode()


def _encoded(xml: str) -> str:
    return base64.b64encode(xml.encode()).decode()


def test_saml_unsigned_response_is_refused(tenant_a, saml_a, idp):
    client = Client(HTTP_HOST=host_of(tenant_a))
    url = saml_start(client, f"/auth/sso/{saml_a.pk}/start/")
    saml_response, relay, acs = idp.respond(
        authn_request_url=url, email=VICTIM, sign_assertion=False
    )
    assert "Signature" not in _decoded(saml_response)
    _refused(post_response(client, acs, saml_response, relay), client)


def test_saml_signed_with_sha1_is_refused_and_says_so(tenant_a, saml_a, idp):
    client = Client(HTTP_HOST=host_of(tenant_a))
    url = saml_start(client, f"/auth/sso/{saml_a.pk}/start/")
    saml_response, relay, acs = idp.respond(
        authn_request_url=url,
        email=VICTIM,
        sign_alg="http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        digest_alg="http://www.w3.org/2000/09/xmldsig#sha1",
    )
    assert "xmldsig#rsa-sha1" in _decoded(saml_response)
    refused = post_response(client, acs, saml_response, relay)
    _refused(refused, client)
    assert "RSA-SHA1" in refused.content.decode()


_ASSERTION = re.compile(r"<(?P<p>[\w]+):Assertion\b.*?</(?P=p):Assertion>", re.S)
_SIGNATURE = re.compile(r"<(?P<p>[\w]+):Signature\b.*?</(?P=p):Signature>", re.S)


def _evil_copy(signed_assertion: str, attacker: str) -> str:
    evil = _SIGNATURE.sub("", signed_assertion).replace(attacker, VICTIM)
    return re.sub(r'\bID="[^"]+"', 'ID="_evil"', evil, count=1)


@pytest.mark.parametrize("variant", ["evil-first", "signed-in-extensions"])
def test_saml_signature_wrapping_is_refused(tenant_a, saml_a, idp, variant):
    attacker = "attacker@alpha.example"
    client = Client(HTTP_HOST=host_of(tenant_a))
    url = saml_start(client, f"/auth/sso/{saml_a.pk}/start/")
    saml_response, relay, acs = idp.respond(authn_request_url=url, email=attacker)
    xml = _decoded(saml_response)
    signed = _ASSERTION.search(xml)
    assert signed is not None and "Signature" in signed.group(0)
    evil = _evil_copy(signed.group(0), attacker)
    if variant == "evil-first":  # an unsigned assertion before the signed one
        wrapped = xml.replace(signed.group(0), evil + signed.group(0))
    else:  # the signed assertion moved into Extensions, the unsigned one in its place
        prefix = re.match(r"<\?xml[^>]*>\s*<(\w+):Response", xml) or re.match(
            r"<(\w+):Response", xml
        )
        assert prefix is not None
        p = prefix.group(1)
        wrapped = xml.replace(signed.group(0), evil)
        wrapped = re.sub(
            rf"(<{p}:Status\b)",
            f"<{p}:Extensions>{signed.group(0)}</{p}:Extensions>\\1",
            wrapped,
            count=1,
        )
    _refused(post_response(client, acs, _encoded(wrapped), relay), client)
    assert not User.objects.filter(email=attacker).exists()


def test_saml_expired_assertion_is_refused(tenant_a, saml_a, idp):
    client = Client(HTTP_HOST=host_of(tenant_a))
    url = saml_start(client, f"/auth/sso/{saml_a.pk}/start/")
    with time_machine.travel(dt.datetime.now(dt.UTC) - dt.timedelta(hours=2), tick=False):
        saml_response, relay, acs = idp.respond(authn_request_url=url, email=VICTIM)
    _refused(post_response(client, acs, saml_response, relay), client)


def test_saml_wrong_audience_is_refused(tenant_a, saml_a, idp):
    client = Client(HTTP_HOST=host_of(tenant_a))
    url = saml_start(client, f"/auth/sso/{saml_a.pk}/start/")
    saml_response, relay, acs = idp.respond(
        authn_request_url=url, email=VICTIM, sp_entity_id="https://evil.example/sp"
    )
    assert "https://evil.example/sp" in _decoded(saml_response)
    _refused(post_response(client, acs, saml_response, relay), client)


def test_saml_replayed_assertion_is_refused(tenant_a, saml_a, idp):
    client = Client(HTTP_HOST=host_of(tenant_a))
    url = saml_start(client, f"/auth/sso/{saml_a.pk}/start/")
    request_id = next(iter(client.session["iam_sso_flows"].values()))["request_id"]
    saml_response, relay, acs = idp.respond(authn_request_url=url, email=VICTIM)
    assert post_response(client, acs, saml_response, relay).status_code == 302
    victim = User.objects.get(email=VICTIM)
    assert SamlAssertionSeen.objects.count() == 1

    # Posted again, in a fresh browser that even holds a flow for the same request.
    thief = Client(HTTP_HOST=host_of(tenant_a))
    saml_start(thief, f"/auth/sso/{saml_a.pk}/start/")
    session = thief.session
    flows = session["iam_sso_flows"]
    flow = next(iter(flows.values()))
    flows[relay] = {**flow, "request_id": request_id, "at": time.time()}
    session["iam_sso_flows"] = flows
    session.save()
    response = post_response(thief, acs, saml_response, relay)
    assert response.status_code == 400 and "used already" in response.content.decode()
    assert SESSION_KEY not in thief.session
    assert User.objects.filter(email=VICTIM).count() == 1 and victim.is_active


def test_a_seen_assertion_id_is_refused_until_it_expires(db):
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    assertion_use(assertion_id="_a1", expires_at=later)
    with pytest.raises(SsoFailed):
        assertion_use(assertion_id="_a1", expires_at=later)


def test_saml_assertion_of_a_posted_to_bs_acs_is_refused(tenant_a, tenant_b, saml_a, idp, dns):  # noqa: F811
    # The worst case: both organizations trust the same identity provider and domain owner.
    saml_b = saml_connection(tenant_b, idp)
    client = Client(HTTP_HOST=host_of(tenant_a))
    url = saml_start(client, f"/auth/sso/{saml_a.pk}/start/")
    saml_response, relay_a, _ = idp.respond(authn_request_url=url, email=VICTIM)

    at_b = Client(HTTP_HOST=host_of(tenant_b))
    saml_start(at_b, f"/auth/sso/{saml_b.pk}/start/")
    relay_b = next(iter(at_b.session["iam_sso_flows"]))
    response = at_b.post(
        f"/auth/sso/saml/{saml_b.pk}/acs/", {"SAMLResponse": saml_response, "RelayState": relay_b}
    )
    _refused(response, at_b)
    # Nor with A's relay state, whose flow lives in A's browser only.
    response = at_b.post(
        f"/auth/sso/saml/{saml_b.pk}/acs/",
        {"SAMLResponse": saml_response, "RelayState": relay_a, "_resent": "1"},
    )
    _refused(response, at_b)
    assert not Membership.objects.filter(tenant=tenant_b, user__email=VICTIM).exists()


# OpenID Connect --------------------------------------------------------------------------


@pytest.fixture
def forged(tenant_a, dns, forging_provider) -> SsoConnection:  # noqa: F811
    verified(tenant_a, dns)
    connection = connection_save(
        tenant=tenant_a,
        name="Forger",
        protocol="oidc",
        oidc_metadata=forging_provider.metadata(),
        oidc_client_id="mycrm",
        oidc_client_secret="s3cret",
    )
    connection.tested_at = connection.created_at
    connection.is_enabled = True
    connection.save()
    return connection


def _forged_flow(
    client: Client, connection: SsoConnection, provider: ForgingProvider, **changes: Any
) -> Any:
    """Start a sign-in, have the provider hand out an ID token with `changes` to the valid
    claims (`alg` picks the signature), and come back to our callback."""
    started = client.get(f"/auth/sso/{connection.pk}/start/")
    query = parse_qs(urlsplit(started["Location"]).query)
    now = int(time.time())
    claims = {
        "iss": provider.issuer,
        "aud": "mycrm",
        "sub": "victim",
        "email": VICTIM,
        "nonce": query["nonce"][0],
        "iat": now,
        "exp": now + 300,
    }
    alg = changes.pop("alg", "RS256")
    claims.update(changes)
    provider.next_id_token = provider.sign(claims, alg=alg)
    return client.get("/auth/sso/oidc/callback/", {"code": "c", "state": query["state"][0]})


def test_the_forging_provider_is_accepted_when_it_plays_by_the_rules(
    tenant_a,
    forged,
    forging_provider,  # noqa: F811
):
    client = Client(HTTP_HOST=host_of(tenant_a))
    response = _forged_flow(client, forged, forging_provider)
    assert response.status_code == 302
    assert User.objects.filter(email=VICTIM).exists()


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"nonce": "another-sign-in"}, id="wrong-nonce"),
        pytest.param({"iss": "https://evil.example"}, id="wrong-issuer"),
        pytest.param({"aud": "someone-else"}, id="wrong-audience"),
        pytest.param({"aud": ["mycrm", "other"], "azp": "other"}, id="audience-for-another"),
        pytest.param({"exp": int(time.time()) - 3600}, id="expired"),
        pytest.param({"alg": "none"}, id="alg-none"),
        pytest.param({"alg": "HS256"}, id="hs256-with-the-public-key"),
    ],
)
def test_a_forged_id_token_is_refused(tenant_a, forged, forging_provider, changes):  # noqa: F811
    client = Client(HTTP_HOST=host_of(tenant_a))
    _refused(_forged_flow(client, forged, forging_provider, **changes), client)


def test_oidc_wrong_state_is_refused(tenant_a, dns, oidc_provider):  # noqa: F811
    verified(tenant_a, dns)
    connection = oidc_connection(tenant_a, oidc_provider)
    oidc_user_set(oidc_provider, "victim", {"email": VICTIM})
    client = Client(HTTP_HOST=host_of(tenant_a))
    started = client.get(f"/auth/sso/{connection.pk}/start/")
    back = urlsplit(oidc_authorize(started["Location"], "victim"))
    query = parse_qs(back.query)
    response = client.get(back.path, {"code": query["code"][0], "state": "forged-state"})
    _refused(response, client)
    # The real state still works once (the forged attempt consumed nothing).
    assert client.get(back.path, dict(query)).status_code == 302
    # ...and only once.
    assert client.get(back.path, dict(query)).status_code == 400


def test_oidc_code_and_session_of_a_used_at_b_are_refused(
    tenant_a,
    tenant_b,
    dns,  # noqa: F811
    oidc_provider,  # noqa: F811
):
    verified(tenant_a, dns)
    connection = oidc_connection(tenant_a, oidc_provider)
    oidc_connection(tenant_b, oidc_provider)
    oidc_user_set(oidc_provider, "victim", {"email": VICTIM})
    client = Client(HTTP_HOST=host_of(tenant_a))
    started = client.get(f"/auth/sso/{connection.pk}/start/")
    back = urlsplit(oidc_authorize(started["Location"], "victim"))
    # The same browser session and code, at B's host.
    at_b = Client(HTTP_HOST=host_of(tenant_b))
    at_b.cookies = client.cookies
    response = at_b.get(back.path, dict(parse_qs(back.query)))
    assert response.status_code == 400 and "another organization" in response.content.decode()
    assert not User.objects.filter(email=VICTIM).exists()
    assert not Membership.objects.filter(tenant=tenant_b, user__email=VICTIM).exists()
