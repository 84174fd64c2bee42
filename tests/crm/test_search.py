"""Search: what a new user types finds the record (accents, several words, prefixes, typos,
parts of an e-mail address), ranked and grouped by type; one statement; per organization;
e-mail words stored only as keyed digests."""

import re
from collections.abc import Iterator

import pytest
from django.db import connection
from django.test import Client
from django_tenants.utils import tenant_context

from crm.models import Contact, Lead
from crm.selectors import company_list, contact_list
from crm.selectors.search import search
from iam import authz
from iam.models import User
from iam.services import api_token_create
from pii.fields import email_tokens
from tenants.models import Tenant
from tests.conftest import host_of

from .factories import CompanyFactory, ContactFactory, DealFactory, LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(tenant_a: Tenant, member_a: User) -> Client:
    _, raw = api_token_create(user=member_a, tenant=tenant_a, name="tests")
    return Client(HTTP_HOST=host_of(tenant_a), HTTP_AUTHORIZATION=f"Bearer {raw}")


@pytest.fixture
def people(tenant_a: Tenant) -> Iterator[dict[str, Contact]]:
    with tenant_context(tenant_a):
        made = {
            "zoe": ContactFactory(
                first_name="Zoë", last_name="Müller", email="zoe.muller@example.com"
            ),
            "lodz": ContactFactory(
                first_name="Łucja",
                last_name="Łódź",
                email="lucja@firma.pl",
                phone="+48 42 123 4567",
            ),
            "other": ContactFactory(
                first_name="Peter", last_name="Gibbons", email="peter@initech.test"
            ),
        }
        yield made


def _names(text: str) -> list[str]:
    return [hit.title for hit in search(text=text)["contacts"]]


@pytest.mark.parametrize(
    "typed",
    [
        "Zoë Müller",  # first and last name together
        "zoe",  # no accent typed
        "ZOE MULLER",
        "müller zoë",  # any order
        "zo",  # a prefix
        "Zoe Mulller",  # a letter too many
        "Zoe Muler",  # a letter missing
        "Zoe Mullar",  # a letter wrong
        "zoe.muller",  # part of the e-mail address
        "example.com",  # its domain
        "zoe.muller@example.com",  # all of it
    ],
)
def test_what_people_type_finds_zoe(
    people: dict[str, Contact], tenant_a: Tenant, typed: str
) -> None:
    with tenant_context(tenant_a):
        assert _names(typed)[:1] == ["Zoë Müller"], typed


def test_lodz_finds_the_polish_name(people: dict[str, Contact], tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        assert _names("lodz") == ["Łucja Łódź"]
        assert _names("lucja lodz") == ["Łucja Łódź"]


def test_a_whole_phone_number_finds_the_contact(
    people: dict[str, Contact], tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        assert _names("+48 (42) 123-4567") == ["Łucja Łódź"]
        assert _names("123 4567") == []  # part of a number is not looked up


def test_unrelated_text_finds_nothing(people: dict[str, Contact], tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        assert _names("Xavier") == []
        assert _names("muller.zoe@example.org") == []
        assert _names("zoe example.org") == []


def test_an_exact_name_ranks_above_a_prefix_and_a_typo(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        ContactFactory(first_name="Annabelle", last_name="Smithers")
        ContactFactory(first_name="Ann", last_name="Smyth")
        ContactFactory(first_name="Ann", last_name="Smith")
        ContactFactory(first_name="Ana", last_name="Smith-Jones")
        ranked = _names("ann smith")
    assert ranked[0] == "Ann Smith"
    assert ranked.index("Annabelle Smithers") < ranked.index("Ann Smyth")


def test_results_are_grouped_by_type_in_one_statement(
    tenant_a: Tenant, django_assert_num_queries: object
) -> None:
    with tenant_context(tenant_a):
        company = CompanyFactory(name="Nordwind Logistik", domain="nordwind.example")
        ContactFactory(first_name="Nora", last_name="Nordwind", company=company)
        LeadFactory(first_name="Nils", last_name="Berg", company_name="Nordwind Logistik")
        DealFactory(name="Nordwind renewal")
        ContactFactory(first_name="Unrelated", last_name="Person")
        with django_assert_num_queries(1):  # type: ignore[operator]
            found = search(text="nordwind", limit=5)
    assert [h.title for h in found["contacts"]] == ["Nora Nordwind"]
    assert [h.title for h in found["companies"]] == ["Nordwind Logistik"]
    assert [h.title for h in found["leads"]] == ["Nils Berg"]
    assert [h.title for h in found["deals"]] == ["Nordwind renewal"]


def test_the_api_answers_grouped_results_with_types_and_limit(
    api: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        for n in range(4):
            ContactFactory(first_name=f"Quentin{n}", last_name="Quarry")
        CompanyFactory(name="Quarry Works", domain="quarry.example")
    body = api.get("/api/v1/search/", {"q": "quarry", "limit": 3}).json()
    assert body["q"] == "quarry"
    assert set(body["results"]) == {"contacts", "companies", "leads", "deals"}
    assert len(body["results"]["contacts"]) == 3
    assert body["results"]["companies"][0]["title"] == "Quarry Works"
    assert body["results"]["companies"][0]["url"].endswith(
        f"/api/v1/companies/{body['results']['companies'][0]['id']}/"
    )
    only = api.get("/api/v1/search/", {"q": "quarry", "types": "companies"}).json()
    assert list(only["results"]) == ["companies"]


@pytest.mark.parametrize(
    "params",
    [{}, {"q": ""}, {"q": "x" * 201}, {"q": "a", "types": "people"}, {"q": "a", "limit": 0}],
)
def test_bad_search_parameters_get_field_errors(api: Client, params: dict[str, object]) -> None:
    response = api.get("/api/v1/search/", params)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["errors"]


def test_search_needs_a_member(tenant_a: Tenant) -> None:
    anonymous = Client(HTTP_HOST=host_of(tenant_a))
    assert anonymous.get("/api/v1/search/", {"q": "a"}).status_code in (401, 403)


def test_one_organization_never_finds_anothers_records(
    tenant_a: Tenant, tenant_b: Tenant, owner_b: User
) -> None:
    with tenant_context(tenant_a):
        ContactFactory(
            first_name="Secretive", last_name="Alphaperson", email="secret@alpha.example"
        )
        tokens_a = Contact.objects.get(last_name="Alphaperson").email_tokens
    with tenant_context(tenant_b):
        ContactFactory(first_name="Bea", last_name="Beta", email="secret@alpha.example")
        tokens_b = Contact.objects.get(last_name="Beta").email_tokens
        assert search(text="Secretive")["contacts"] == []
    beta = Client(HTTP_HOST=host_of(tenant_b))
    _, raw = api_token_create(user=owner_b, tenant=tenant_b, name="tests")
    found = beta.get(
        "/api/v1/search/", {"q": "alphaperson"}, HTTP_AUTHORIZATION=f"Bearer {raw}"
    ).json()
    assert all(hits == [] for hits in found["results"].values())
    # The same address gives other digests in another organization: its words are keyed.
    assert tokens_a and tokens_b and not set(tokens_a) & set(tokens_b)


def test_email_words_are_stored_as_keyed_digests_only(
    people: dict[str, Contact], tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a), connection.cursor() as cursor:
        cursor.execute(
            "SELECT email, email_tokens::text FROM crm_contact WHERE id = %s",
            [people["zoe"].pk],
        )
        email, tokens = cursor.fetchone()
    # The address is a ciphertext; its words are 128-bit digests in hex, nothing else.
    assert email.startswith("v1.") and "zoe.muller" not in email and "example.com" not in email
    assert re.fullmatch(r"\{[0-9a-f]{32}(,[0-9a-f]{32})*\}", tokens), tokens
    assert len(people["zoe"].email_tokens) == len(email_tokens("zoe.muller@example.com")) == 3


def test_changing_the_address_reindexes_its_words(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        contact = ContactFactory(first_name="Ada", last_name="Byron", email="ada@old.example")
        contact.email = "ada.lovelace@new.example"
        contact.save()
        assert _names("old.example") == []
        assert _names("lovelace") == ["Ada Byron"]
        contact.email = ""
        contact.save()
        assert Contact.objects.get(pk=contact.pk).email_tokens == []


def test_leads_are_found_by_name_company_and_email(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        LeadFactory(
            first_name="Øyvind", last_name="Hansen", company_name="Fjord AS", email="oh@fjord.no"
        )
        assert [h.title for h in search(text="oyvind")["leads"]] == ["Øyvind Hansen"]
        assert [h.title for h in search(text="fjord.no")["leads"]] == ["Øyvind Hansen"]
        assert [h.title for h in search(text="hansen fjord")["leads"]] == ["Øyvind Hansen"]
        assert Lead.objects.get(last_name="Hansen").email_tokens


def test_the_lists_search_boxes_use_the_same_engine(
    people: dict[str, Contact], tenant_a: Tenant, client_a: Client, member_a: User
) -> None:
    principal = authz.principal_for(user=member_a, tenant=tenant_a)
    with tenant_context(tenant_a):
        CompanyFactory(name="Société Générale", domain="societe.example")
        found = contact_list(principal=principal, search="zoe muler")
        assert [c.last_name for c in found] == ["Müller"]
        companies = company_list(principal=principal, search="societe")
        assert [c.name for c in companies] == ["Société Générale"]
    page = client_a.get("/contacts/", {"q": "lodz"}).content.decode()
    assert "Łódź" in page and "Müller" not in page
    assert "Société" in client_a.get("/companies/", {"q": "generale"}).content.decode()


def test_the_search_box_answers_grouped_links(people: dict[str, Contact], client_a: Client) -> None:
    partial = client_a.get("/search/", {"q": "zoe mullr"}, HTTP_HX_REQUEST="true")
    body = partial.content.decode()
    assert "<html" not in body
    assert f'href="/contacts/{people["zoe"].pk}/"' in body
    assert "Contacts" in body and 'role="option"' in body
    whole = client_a.get("/search/", {"q": "zoe"}).content.decode()
    assert "<html" in whole and f'href="/contacts/{people["zoe"].pk}/"' in whole


def test_rows_written_before_the_word_index_are_indexed_by_pii_reencrypt(
    tenant_a: Tenant,
) -> None:
    from pii.services import values_reseal

    with tenant_context(tenant_a):
        contact = ContactFactory(first_name="Grace", last_name="Hopper", email="grace@navy.example")
        Contact.objects.filter(pk=contact.pk).update(email_tokens=None)
        assert _names("navy.example") == []
        list(values_reseal())
        assert _names("navy.example") == ["Grace Hopper"]


@pytest.mark.parametrize(
    "typed", ["%?{", "%s", "'", "\\", "a & b | !c", "(x)", "zoe:*", "::", "@", "."]
)
def test_any_text_is_searched_safely(api: Client, people: dict[str, Contact], typed: str) -> None:
    response = api.get("/api/v1/search/", {"q": typed})
    assert response.status_code == 200, response.content


def test_the_lead_and_deal_lists_search_with_the_same_engine(tenant_a: Tenant) -> None:
    from crm.selectors.deals import DealFilters, deal_list
    from crm.selectors.leads import LeadFilters, lead_list

    with tenant_context(tenant_a):
        LeadFactory(first_name="Øyvind", last_name="Hansen", company_name="Fjord AS")
        LeadFactory(first_name="Other", last_name="Person", company_name="Elsewhere")
        fjord = CompanyFactory(name="Fjordkraft", domain="fjordkraft.example")
        DealFactory(name="Nordic rollout", company=fjord)
        DealFactory(name="Fjörd renewal")
        DealFactory(name="Unrelated")
        leads = lead_list(filters=LeadFilters(q="oyvind hansen"))
        assert [lead.last_name for lead in leads] == ["Hansen"]
        deals = deal_list(filters=DealFilters(search="fjord"))
        assert sorted(d.name for d in deals) == ["Fjörd renewal", "Nordic rollout"]


def test_an_address_changed_through_the_api_is_found_by_its_new_words(
    api: Client, tenant_a: Tenant, member_a: User
) -> None:
    with tenant_context(tenant_a):
        contact = ContactFactory(first_name="Alan", last_name="Turing", email="alan@old.example")
        lead = LeadFactory(first_name="Joan", last_name="Clarke", email="joan@old.example")
    for url in (f"/api/v1/contacts/{contact.pk}/", f"/api/v1/leads/{lead.pk}/"):
        changed = api.patch(
            url, {"email": "codes@bletchley.example"}, content_type="application/json"
        )
        assert changed.status_code == 200, changed.content
    with tenant_context(tenant_a):
        found = search(text="bletchley.example")
        assert [h.title for h in found["contacts"]] == ["Alan Turing"]
        assert [h.title for h in found["leads"]] == ["Joan Clarke"]
        assert search(text="old.example")["contacts"] == []
        principal = authz.principal_for(user=member_a, tenant=tenant_a)
        found_by_email = contact_list(principal=principal, email="codes@bletchley.example")
        assert found_by_email.get().pk == contact.pk
