"""Idempotency-Key on every POST: a retry gets the first response and changes nothing; the
same key with another request gets 422; a retry while the first runs gets 409."""

import json
import threading
from datetime import timedelta
from functools import partial

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from crm.models import Company, Contact, Lead
from iam.api import idempotency
from iam.models import IdempotentRequest, User
from iam.tasks import idempotency_keys_expire
from tenants.models import Tenant
from tests.conftest import token_client
from tests.support.connections import (
    committed_organization,
    run_on_own_connection,
    start_on_own_connection,
)

pytestmark = pytest.mark.django_db

KEY = "4c1f3a2e-7b9d-4e61-9a0b-2f5d8c6e1a37"


@pytest.fixture
def api(tenant_a: Tenant, member_a: User) -> Client:
    return token_client(member_a, tenant_a)


def _post(client: Client, path: str, body: dict[str, object], key: str = KEY) -> object:
    return client.post(path, json.dumps(body), "application/json", HTTP_IDEMPOTENCY_KEY=key)


def _companies(tenant: Tenant, name: str) -> int:
    with tenant_context(tenant):
        return Company.objects.filter(name=name).count()


def test_a_retry_gets_the_first_response_and_creates_nothing_more(
    api: Client, tenant_a: Tenant
) -> None:
    first = _post(api, "/api/v1/companies/", {"name": "Hooli"})
    again = _post(api, "/api/v1/companies/", {"name": "Hooli"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Content-Type"] == first["Content-Type"]
    assert again["Idempotent-Replayed"] == "true" and not first.has_header("Idempotent-Replayed")
    assert _companies(tenant_a, "Hooli") == 1


def test_the_same_key_with_another_body_gets_422_and_changes_nothing(
    api: Client, tenant_a: Tenant
) -> None:
    assert _post(api, "/api/v1/companies/", {"name": "Hooli"}).status_code == 201
    other = _post(api, "/api/v1/companies/", {"name": "Pied Piper"})
    assert other.status_code == 422
    assert other["Content-Type"].startswith("application/problem+json")
    assert other.json()["code"] == "idempotency-key-reused"
    assert _companies(tenant_a, "Pied Piper") == 0
    # ... and with another path.
    assert _post(api, "/api/v1/leads/", {"last_name": "Hooli"}).status_code == 422


def test_a_key_belongs_to_its_user_and_organization(
    api: Client, tenant_a: Tenant, owner_a: User, tenant_b: Tenant, owner_b: User
) -> None:
    assert _post(api, "/api/v1/companies/", {"name": "Hooli"}).status_code == 201
    colleague = _post(token_client(owner_a, tenant_a), "/api/v1/companies/", {"name": "Hooli"})
    elsewhere = _post(token_client(owner_b, tenant_b), "/api/v1/companies/", {"name": "Hooli"})
    assert colleague.status_code == elsewhere.status_code == 201
    assert not colleague.has_header("Idempotent-Replayed")
    assert not elsewhere.has_header("Idempotent-Replayed")
    assert _companies(tenant_a, "Hooli") == 2
    assert _companies(tenant_b, "Hooli") == 1


def test_a_failed_try_is_not_kept_so_the_corrected_retry_runs(
    api: Client, tenant_a: Tenant
) -> None:
    refused = _post(api, "/api/v1/companies/", {"name": ""})
    assert refused.status_code == 400
    assert _post(api, "/api/v1/companies/", {"name": ""}).status_code == 400
    assert _post(api, "/api/v1/companies/", {"name": "Hooli"}).status_code == 201
    assert _companies(tenant_a, "Hooli") == 1


def test_the_kept_response_is_sealed_with_the_organizations_key(
    api: Client, tenant_a: Tenant
) -> None:
    body = {"first_name": "Zoë", "last_name": "Müller", "email": "zoe.muller@example.com"}
    first = _post(api, "/api/v1/contacts/", body)
    assert first.status_code == 201
    kept = IdempotentRequest.objects.get(tenant=tenant_a, key=KEY)
    assert "zoe.muller" not in kept.body and "Müller" not in kept.body
    assert kept.headers["Content-Type"] == "application/json"
    again = _post(api, "/api/v1/contacts/", body)
    assert again.json()["email"] == "zoe.muller@example.com"
    with tenant_context(tenant_a):
        assert Contact.objects.filter(last_name="Müller").count() == 1


def test_a_retry_while_the_first_is_still_running_gets_409(
    api: Client, tenant_a: Tenant, member_a: User
) -> None:
    """The first try holds its key's lock until its transaction ends; here another
    connection holds it, as the first try's would."""
    held = idempotency.Claim(tenant_id=tenant_a.pk, user_id=member_a.pk, key=KEY, fingerprint="")
    locked, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first_try() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [idempotency.lock_id(held)])
            locked.set()
            release.wait(timeout=30)
            cursor.execute("SELECT pg_advisory_unlock(%s)", [idempotency.lock_id(held)])

    thread = start_on_own_connection(first_try, errors)
    try:
        assert locked.wait(timeout=30)
        running = _post(api, "/api/v1/companies/", {"name": "Hooli"})
    finally:
        release.set()
        thread.join(timeout=30)
    assert not errors, errors
    assert running.status_code == 409
    assert running.json()["code"] == "idempotency-key-in-use"
    assert _companies(tenant_a, "Hooli") == 0
    assert _post(api, "/api/v1/companies/", {"name": "Hooli"}).status_code == 201


def test_two_tries_at_once_have_one_effect() -> None:
    """Two clients send the same POST with the same key at the same moment, each on a
    connection of its own: one creates, the other is told it runs (409) or gets the
    first response; never two companies."""
    with committed_organization("idem") as tenant:
        owner = User.objects.get(email=f"owner@{tenant.slug}.test")
        clients: list[Client] = []
        run_on_own_connection(lambda: clients.extend(token_client(owner, tenant) for _ in "ab"))
        go = threading.Barrier(2)
        answers: list[tuple[int, bool]] = []
        errors: list[BaseException] = []

        def send(client: Client) -> None:
            go.wait(timeout=10)
            response = _post(client, "/api/v1/companies/", {"name": "Raced"})
            answers.append((response.status_code, response.has_header("Idempotent-Replayed")))

        threads = [start_on_own_connection(partial(send, c), errors) for c in clients]
        for thread in threads:
            thread.join(timeout=30)
        assert not errors, errors
        created = [a for a in answers if a == (201, False)]
        assert len(created) == 1 and len(answers) == 2
        assert answers[0] != answers[1]
        assert {a[0] for a in answers} <= {201, 409}
        counted: list[int] = []
        run_on_own_connection(lambda: counted.append(_companies(tenant, "Raced")))
        assert counted == [1]


def test_a_retried_action_with_if_match_gets_its_first_answer_not_412(
    api: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        lead = Lead.objects.create(first_name="Dana", last_name="Scully", company_name="FBI")
    url = f"/api/v1/leads/{lead.pk}/"
    etag = api.get(url)["ETag"]
    convert = partial(
        api.post,
        f"{url}convert/",
        json.dumps({"create_deal": False}),
        "application/json",
        HTTP_IF_MATCH=etag,
        HTTP_IDEMPOTENCY_KEY=KEY,
    )
    first, again = convert(), convert()
    assert first.status_code == 200, first.json()
    assert again.status_code == 200 and again.json() == first.json()
    with tenant_context(tenant_a):
        assert Contact.objects.filter(last_name="Scully").count() == 1


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "naïve"])
def test_a_malformed_key_is_a_400_naming_the_header(api: Client, key: str) -> None:
    response = _post(api, "/api/v1/companies/", {"name": "Hooli"}, key=key)
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency-key-invalid"
    assert "Idempotency-Key" in response.json()["errors"]


def test_keys_are_kept_for_24_hours_then_forgotten(api: Client, tenant_a: Tenant) -> None:
    assert _post(api, "/api/v1/companies/", {"name": "Hooli"}).status_code == 201
    IdempotentRequest.objects.filter(key=KEY).update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    later = _post(api, "/api/v1/companies/", {"name": "Hooli"})
    assert later.status_code == 201 and not later.has_header("Idempotent-Replayed")
    assert _companies(tenant_a, "Hooli") == 2
    IdempotentRequest.objects.filter(key=KEY).update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    assert idempotency_keys_expire.apply().get() == 1
    assert not IdempotentRequest.objects.filter(key=KEY).exists()


def test_the_schema_documents_the_key_on_every_post(api: Client) -> None:
    schema = api.get("/api/schema/?format=json").json()
    posts = [
        (path, item["post"])
        for path, item in schema["paths"].items()
        if path.startswith("/api/v1/") and "post" in item
    ]
    assert len(posts) > 10
    for path, operation in posts:
        names = {p["name"] for p in operation.get("parameters", [])}
        assert "Idempotency-Key" in names, path
        assert {"409", "422"} <= set(operation["responses"]), path
