"""The bulk API: creates, updates and deletes of contacts, companies, leads and deals in one
request, all or nothing, with errors by part and index; the 1,000-item limit; isolation
between organizations; and a statement count that grows no faster than the items."""

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from crm.models import Company, Contact, Deal, Lead
from iam.models import User
from tenants.models import Tenant
from tests.conftest import token_client

from .factories import CompanyFactory, ContactFactory, DealFactory, LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(tenant_a: Tenant, member_a: User) -> Client:
    return token_client(member_a, tenant_a)


def _bulk(client: Client, records: str, body: Any) -> Any:
    return client.post(f"/api/v1/{records}/bulk/", body, content_type="application/json")


def test_a_batch_creates_updates_and_deletes_contacts_at_once(
    api: Client, tenant_a: Tenant, owner_a: User
) -> None:
    with tenant_context(tenant_a):
        kept = ContactFactory(first_name="Kept")
        gone = ContactFactory(first_name="Gone")
    response = _bulk(
        api,
        "contacts",
        {
            "create": [
                {"first_name": "Ada", "email": "ada@example.com", "tags": ["vip"]},
                {"first_name": "Grace", "owner_id": owner_a.pk},
            ],
            "update": [{"id": kept.pk, "title": "CTO"}],
            "delete": [gone.pk],
        },
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert [c["first_name"] for c in body["created"]] == ["Ada", "Grace"]
    assert body["created"][0]["tags"] == ["vip"]
    assert body["created"][1]["owner_id"] == owner_a.pk
    assert body["updated"][0]["title"] == "CTO"
    assert body["deleted"] == [gone.pk]
    with tenant_context(tenant_a):
        assert Contact.objects.get(pk=kept.pk).title == "CTO"
        assert not Contact.objects.filter(pk=gone.pk).exists()
        assert Contact.objects.get(first_name="Ada").email == "ada@example.com"


def test_one_bad_item_writes_nothing_and_each_error_names_its_index(
    api: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        kept = ContactFactory(first_name="Kept", title="")
        ContactFactory(first_name="Taken", email="taken@example.com")
        before = Contact.objects.count()
    response = _bulk(
        api,
        "contacts",
        {
            "create": [
                {"first_name": "Fine"},
                {"first_name": ""},
                {"first_name": "Same", "email": "taken@example.com"},
                {"first_name": "Twin", "email": "twin@example.com"},
                {"first_name": "Twin too", "email": "TWIN@example.com"},
            ],
            "update": [{"id": kept.pk, "title": "CEO", "owner_id": 999_999}],
        },
    )
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    errors = response.json()["errors"]
    assert set(errors) == {
        "create.1.first_name",
        "create.2.email",
        "create.4.email",
        "update.0.owner_id",
    }
    with tenant_context(tenant_a):
        assert Contact.objects.count() == before
        assert Contact.objects.get(pk=kept.pk).title == ""
        assert not Contact.objects.filter(first_name="Fine").exists()


def test_custom_fields_follow_the_single_record_rules(api: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        from .factories import CustomFieldFactory

        CustomFieldFactory(entity="company", key="seats", label="Seats", type="number")
    response = _bulk(
        api,
        "companies",
        {
            "create": [
                {"name": "Acme", "custom": {"seats": 12}},
                {"name": "Bad", "custom": {"seats": "x"}},
            ]
        },
    )
    assert response.status_code == 400, response.content
    assert set(response.json()["errors"]) == {"create.1.custom.seats"}
    good = _bulk(api, "companies", {"create": [{"name": "Acme", "custom": {"seats": 12}}]})
    assert good.status_code == 200, good.content
    assert good.json()["created"][0]["custom"] == {"seats": 12}


def test_more_than_1000_items_are_refused(api: Client, tenant_a: Tenant) -> None:
    response = _bulk(api, "leads", {"create": [{"last_name": f"L{i}"} for i in range(1001)]})
    assert response.status_code == 400, response.content
    assert "1000" in " ".join(response.json()["errors"]["non_field_errors"])
    with tenant_context(tenant_a):
        assert not Lead.objects.exists()


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ([], "non_field_errors"),
        ({"create": "nope"}, "create"),
        ({"upsert": []}, "upsert"),
        ({}, "non_field_errors"),
        ({"delete": ["1"]}, "delete.0"),
        ({"update": [{"title": "no id"}]}, "update.0.id"),
    ],
)
def test_a_malformed_request_gets_a_field_error(api: Client, body: Any, key: str) -> None:
    response = _bulk(api, "contacts", body)
    assert response.status_code == 400, response.content
    assert key in response.json()["errors"]


def test_ids_of_another_organization_are_not_found_and_nothing_is_written(
    api: Client, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    with tenant_context(tenant_a):
        mine = CompanyFactory(name="Mine")
    with tenant_context(tenant_b):
        theirs = CompanyFactory(name="Theirs")
        if theirs.pk == mine.pk:  # each schema numbers its own rows: the ids must differ here
            theirs = CompanyFactory(name="Theirs")
        their_deal = DealFactory(name="Their deal")
    response = _bulk(
        api,
        "companies",
        {"update": [{"id": mine.pk, "name": "Renamed"}, {"id": theirs.pk, "name": "Stolen"}]},
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"update.1.id": ["Not found."]}
    deleted = _bulk(api, "deals", {"delete": [their_deal.pk]})
    assert deleted.json()["errors"] == {"delete.0": ["Not found."]}
    with tenant_context(tenant_a):
        assert Company.objects.get(pk=mine.pk).name == "Mine"
    with tenant_context(tenant_b):
        assert Company.objects.get(pk=theirs.pk).name == "Theirs"
        assert Deal.objects.filter(pk=their_deal.pk).exists()


def test_leads_and_deals_are_written_by_their_own_services(
    api: Client, tenant_a: Tenant, member_a: User
) -> None:
    with tenant_context(tenant_a):
        lead = LeadFactory(last_name="Old")
        deal = DealFactory(name="Deal")
    leads = _bulk(
        api,
        "leads",
        {
            "create": [{"last_name": "New", "status": "disqualified"}],
            "update": [{"id": lead.pk, "status": "working"}],
        },
    )
    assert leads.status_code == 400
    assert set(leads.json()["errors"]) == {"create.0.disqualified_reason"}
    deals = _bulk(
        api,
        "deals",
        {
            "create": [{"name": "Big", "amount": "1200.00", "currency": "EUR"}],
            "update": [{"id": deal.pk, "amount": "-5"}],
        },
    )
    assert deals.status_code == 400
    assert set(deals.json()["errors"]) == {"update.0.amount"}
    ok = _bulk(api, "deals", {"create": [{"name": "Big", "amount": "1200.00"}]})
    assert ok.status_code == 200, ok.content
    created = ok.json()["created"][0]
    assert (created["amount"], created["owner_id"]) == ("1200.00", member_a.pk)
    with tenant_context(tenant_a):
        assert Deal.objects.get(pk=created["id"]).stage_changes.count() == 1


def test_an_id_changed_twice_in_one_request_is_refused(api: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        contact = ContactFactory()
    response = _bulk(
        api, "contacts", {"update": [{"id": contact.pk, "title": "A"}], "delete": [contact.pk]}
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"delete.0"}
    with tenant_context(tenant_a):
        assert Contact.objects.filter(pk=contact.pk).exists()


@pytest.mark.parametrize("count", [10, 100])
def test_the_statements_of_a_batch_grow_by_a_fixed_few_per_item(
    api: Client, tenant_a: Tenant, count: int
) -> None:
    """A contact costs what its own service costs, and nothing more per item: a savepoint and
    its release, the e-mail lock and check, the insert (each row is encrypted on its own),
    its row in the audit log, and its tag (a savepoint and its release, the tag, its links,
    the insert): 11. The custom field definitions are locked and read once for the batch,
    the plan is asked once for room for all the contacts (its plan, its lock, the capped
    count: 3), the organization's access policies are read once to decide the batch, and
    the answer reads the records back in a fixed number of statements. The encryption key
    is read again whenever the process's copy is older than PII_KEY_CURRENT_SECONDS (half a
    second in tests), which depends on the machine's speed, not on the batch: not counted."""
    items = [
        {"first_name": f"P{i}", "email": f"p{i}@example.com", "tags": ["batch"]}
        for i in range(count)
    ]
    with CaptureQueriesContext(connection) as queries:
        response = _bulk(api, "contacts", {"create": items})
    assert response.status_code == 200, response.content
    counted = [q for q in queries.captured_queries if "pii_tenantkey" not in q["sql"]]
    assert len(counted) <= 24 + 11 * count, len(counted)


def test_a_null_character_in_an_item_is_a_field_error(api: Client, tenant_a: Tenant) -> None:
    response = _bulk(api, "leads", {"create": [{"last_name": "Ok"}, {"last_name": "Nul\u0000led"}]})
    assert response.status_code == 400, response.content
    assert set(response.json()["errors"]) == {"create.1.last_name"}
    with tenant_context(tenant_a):
        assert not Lead.objects.exists()
