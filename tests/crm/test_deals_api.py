"""The deals, pipelines and stages API: CRUD, filters, expand, moves, roles, isolation."""

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from crm.models import Deal, DealContact, DealStageChange, Pipeline, Stage, Tag
from iam.models import User
from tenants.models import Tenant
from tests.conftest import token_client

from .factories import CompanyFactory, ContactFactory, DealFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(tenant_a: Tenant, member_a: User) -> Client:
    return token_client(member_a, tenant_a)


@pytest.fixture
def owner_api(tenant_a: Tenant, owner_a: User) -> Client:
    return token_client(owner_a, tenant_a)


def stage_of(tenant: Tenant, name: str) -> Stage:
    with tenant_context(tenant):
        return Stage.objects.get(pipeline__is_default=True, name=name)


def post(client: Client, url: str, body: dict[str, object]) -> Any:
    return client.post(url, body, content_type="application/json")


def test_deal_crud_round_trip(api: Client, tenant_a: Tenant, member_a: User) -> None:
    with tenant_context(tenant_a):
        company = CompanyFactory(name="Initech")
        ada, bob = ContactFactory(first_name="Ada"), ContactFactory(first_name="Bob")
    created = api.post(
        "/api/v1/deals/",
        {
            "name": "Rollout",
            "company": company.pk,
            "contacts": [ada.pk, bob.pk],
            "primary_contact": bob.pk,
            "amount": "1250.50",
            "currency": "EUR",
            "expected_close_on": "2027-03-31",
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["owner_id"] == member_a.pk
    assert body["amount"] == "1250.50"
    assert body["stage"] == stage_of(tenant_a, "Lead in").pk
    assert body["primary_contact"] == bob.pk
    assert set(body["contacts"]) == {ada.pk, bob.pk}
    pk = body["id"]

    patched = api.patch(
        f"/api/v1/deals/{pk}/",
        {"contacts": [ada.pk], "primary_contact": ada.pk, "name": "Big rollout"},
        content_type="application/json",
    )
    assert patched.status_code == 200, patched.content
    assert (patched.json()["contacts"], patched.json()["name"]) == ([ada.pk], "Big rollout")
    assert api.get(f"/api/v1/deals/{pk}/").json()["primary_contact"] == ada.pk
    assert api.delete(f"/api/v1/deals/{pk}/").status_code == 204
    assert api.get(f"/api/v1/deals/{pk}/").status_code == 404
    with tenant_context(tenant_a):
        assert not Deal.objects.filter(pk=pk).exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", "-5"),
        ("amount", "1.234"),
        ("currency", "EURO"),
        ("currency", "ABC"),
        ("stage", 999999),
        ("expected_close_on", "31/03/2027"),
        ("expected_close_on", "soon"),
        ("contacts", [999999]),
        ("owner_id", 999999),
    ],
)
def test_bad_deal_fields_answer_400_naming_the_field_and_create_nothing(
    api: Client, tenant_a: Tenant, field: str, value: object
) -> None:
    answer = api.post(
        "/api/v1/deals/", {"name": "Rollout", field: value}, content_type="application/json"
    )
    assert answer.status_code == 400, answer.content
    assert answer["Content-Type"] == "application/problem+json"
    assert field in answer.json()["errors"]
    with tenant_context(tenant_a):
        assert not Deal.objects.exists()


def test_a_stage_of_another_pipeline_on_creation_is_a_field_error(
    api: Client, owner_api: Client, tenant_a: Tenant
) -> None:
    other = post(owner_api, "/api/v1/pipelines/", {"name": "Renewals"}).json()
    with tenant_context(tenant_a):
        default = Pipeline.objects.get(is_default=True)
    answer = api.post(
        "/api/v1/deals/",
        {"name": "X", "pipeline": default.pk, "stage": other["stages"][0]["id"]},
        content_type="application/json",
    )
    assert answer.status_code == 400
    assert "stage" in answer.json()["errors"]


def test_moving_a_deal_to_won_records_the_change_and_closes_it(
    api: Client, tenant_a: Tenant, member_a: User
) -> None:
    with tenant_context(tenant_a):
        deal = DealFactory()
    won = stage_of(tenant_a, "Won")
    moved = api.post(
        f"/api/v1/deals/{deal.pk}/move/",
        {"stage": won.pk, "position": 0},
        content_type="application/json",
    )
    assert moved.status_code == 200, moved.content
    assert moved.json()["stage"] == won.pk
    assert moved.json()["closed_at"] is not None
    history = api.get(f"/api/v1/deals/{deal.pk}/stage-changes/").json()["results"]
    assert [(h["from_stage_name"], h["to_stage_name"]) for h in history] == [("Lead in", "Won")]
    assert history[0]["by_id"] == member_a.pk


def test_moving_a_deal_to_a_stage_of_another_pipeline_answers_409(
    api: Client, owner_api: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        deal = DealFactory()
    other = post(owner_api, "/api/v1/pipelines/", {"name": "Renewals"}).json()
    answer = api.post(
        f"/api/v1/deals/{deal.pk}/move/",
        {"stage": other["stages"][0]["id"]},
        content_type="application/json",
    )
    assert answer.status_code == 409
    assert answer.json()["code"] == "stage-in-another-pipeline"
    with tenant_context(tenant_a):
        assert Deal.objects.get(pk=deal.pk).stage_id == deal.stage_id
        assert not DealStageChange.objects.filter(deal=deal).exists()


def test_deal_filters_narrow_the_list(api: Client, tenant_a: Tenant, member_a: User) -> None:
    with tenant_context(tenant_a):
        initech = CompanyFactory(name="Initech")
        ada = ContactFactory()
        hot = Tag.objects.create(name="hot")
        mine = DealFactory(
            name="Mine",
            owner_id=member_a.pk,
            amount="5000",
            expected_close_on=dt.date(2027, 1, 15),
            company=initech,
        )
        mine.tags.add(hot)
        DealContact.objects.create(deal=mine, contact=ada, is_primary=True)
        DealFactory(
            name="Other",
            amount="50",
            stage=Stage.objects.get(pipeline__is_default=True, name="Won"),
            expected_close_on=dt.date(2027, 6, 1),
        )

    def names(**params: str) -> list[str]:
        answer = api.get("/api/v1/deals/", params)
        assert answer.status_code == 200, answer.content
        return [d["name"] for d in answer.json()["results"]]

    assert names(mine="true") == ["Mine"]
    assert names(owner=str(member_a.pk)) == ["Mine"]
    assert names(tag="HOT") == ["Mine"]
    assert names(amount_min="1000") == ["Mine"]
    assert names(amount_max="100") == ["Other"]
    assert names(close_from="2027-02-01") == ["Other"]
    assert names(close_to="2027-02-01") == ["Mine"]
    assert names(company=str(initech.pk)) == ["Mine"]
    assert names(contact=str(ada.pk)) == ["Mine"]
    assert names(stage=str(stage_of(tenant_a, "Won").pk)) == ["Other"]
    assert names(ordering="amount") == ["Other", "Mine"]
    assert names(ordering="-amount") == ["Mine", "Other"]


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("close_from", "tomorrow"),
        ("amount_min", "x"),
        ("ordering", "owner"),
        ("expand", "tags"),
        ("expand", ""),
    ],
)
def test_bad_filters_answer_400_naming_the_parameter(api: Client, param: str, value: str) -> None:
    answer = api.get("/api/v1/deals/", {param: value})
    assert answer.status_code == 400
    assert param in answer.json()["errors"]


@pytest.mark.parametrize(
    "params",
    [
        {"pipeline": "0", "owner": "-3", "company": "274877906944"},
        {"amount_min": "1.234", "amount_max": "1e3"},
        {"search": "", "tag": ""},
    ],
)
def test_filters_the_schema_allows_answer_200(api: Client, params: dict[str, str]) -> None:
    assert api.get("/api/v1/deals/", params).status_code == 200


@pytest.mark.parametrize(
    ("url", "param"), [("/api/v1/deals/", "close_to"), ("/api/v1/stages/", "pipeline")]
)
def test_an_empty_value_for_a_typed_filter_answers_400(api: Client, url: str, param: str) -> None:
    answer = api.get(url, {param: ""})
    assert answer.status_code == 400
    assert param in answer.json()["errors"]


def test_stages_of_a_pipeline_that_does_not_exist_are_none(api: Client) -> None:
    answer = api.get("/api/v1/stages/", {"pipeline": "-34217753822"})
    assert (answer.status_code, answer.json()) == (200, [])


def _list_statements(api: Client, tenant: Tenant, deals: int, expand: str) -> int:
    with tenant_context(tenant):
        Deal.objects.all().delete()
        company = CompanyFactory()
        for _ in range(deals):
            deal = DealFactory(company=company)
            DealContact.objects.create(deal=deal, contact=ContactFactory(), is_primary=True)
    params = {"expand": expand, "page_size": "100"} if expand else {"page_size": "100"}
    api.get("/api/v1/deals/", params)  # the token's first use is recorded once
    with CaptureQueriesContext(connection) as queries:
        answer = api.get("/api/v1/deals/", params)
    assert answer.status_code == 200
    assert len(answer.json()["results"]) == deals
    return len(queries)


@pytest.mark.parametrize("expand", ["", "company", "contacts", "company,contacts"])
def test_the_deal_list_reads_a_fixed_number_of_statements_whatever_its_length(
    api: Client, tenant_a: Tenant, expand: str, django_assert_max_num_queries: object
) -> None:
    few = _list_statements(api, tenant_a, 2, expand)
    many = _list_statements(api, tenant_a, 30, expand)
    assert many == few
    # Token and membership, the page of deals (with stage, pipeline and company), their
    # contacts, their tags.
    with django_assert_max_num_queries(few):  # type: ignore[operator]
        api.get("/api/v1/deals/", {"expand": expand} if expand else {})
    assert few <= 8


def test_expand_gives_the_company_and_contacts_in_place_of_their_ids(
    api: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        company = CompanyFactory(name="Initech", domain="initech.test")
        deal = DealFactory(company=company)
        ada = ContactFactory(first_name="Ada", last_name="Lovelace")
        DealContact.objects.create(deal=deal, contact=ada, is_primary=True)
    body = api.get(f"/api/v1/deals/{deal.pk}/", {"expand": "company,contacts"}).json()
    assert body["company"] == {"id": company.pk, "name": "Initech", "domain": "initech.test"}
    assert body["contacts"] == [
        {"id": ada.pk, "first_name": "Ada", "last_name": "Lovelace", "is_primary": True}
    ]
    plain = api.get(f"/api/v1/deals/{deal.pk}/").json()
    assert (plain["company"], plain["contacts"]) == (company.pk, [ada.pk])


def test_members_read_pipelines_but_only_owners_and_admins_change_them(
    api: Client, owner_api: Client, tenant_a: Tenant
) -> None:
    listing = api.get("/api/v1/pipelines/")
    assert listing.status_code == 200
    assert [s["name"] for s in listing.json()[0]["stages"]][-2:] == ["Won", "Lost"]
    assert post(api, "/api/v1/pipelines/", {"name": "Mine"}).status_code == 403
    pipeline = listing.json()[0]["id"]
    assert post(api, "/api/v1/stages/", {"pipeline": pipeline, "name": "X"}).status_code == 403

    created = post(
        owner_api,
        "/api/v1/stages/",
        {"pipeline": pipeline, "name": "Demo", "probability": 40, "position": 1},
    )
    assert created.status_code == 201, created.content
    stage = created.json()
    assert stage["position"] == 1
    renamed = owner_api.patch(
        f"/api/v1/stages/{stage['id']}/",
        {"name": "Demo given", "is_won": True, "is_lost": True},
        content_type="application/json",
    )
    assert renamed.status_code == 400
    assert "is_lost" in renamed.json()["errors"]


def test_a_stage_with_deals_is_removed_only_by_moving_them(
    owner_api: Client, tenant_a: Tenant
) -> None:
    doomed, target = stage_of(tenant_a, "Qualified"), stage_of(tenant_a, "Negotiation")
    with tenant_context(tenant_a):
        deal = DealFactory(stage=doomed)
    refused = post(owner_api, f"/api/v1/stages/{doomed.pk}/archive/", {})
    assert refused.status_code == 409
    assert refused.json()["code"] == "stage-has-deals"
    done = post(owner_api, f"/api/v1/stages/{doomed.pk}/archive/", {"move_deals_to": target.pk})
    assert done.status_code == 200, done.content
    assert done.json()["is_archived"] is True
    with tenant_context(tenant_a):
        assert Deal.objects.get(pk=deal.pk).stage_id == target.pk


def test_deals_and_stages_of_another_organization_answer_404(
    tenant_a: Tenant, tenant_b: Tenant, owner_a: User, owner_b: User
) -> None:
    from crm.services.pipelines import pipeline_create

    with tenant_context(tenant_a):
        deal = DealFactory(name="Alpha secret")
        pipeline = pipeline_create(by=owner_a, name="Alpha only")
        stage = pipeline.stages.first()
        assert stage is not None
    with tenant_context(tenant_b):
        assert not Deal.objects.filter(pk=deal.pk).exists()
        assert not Stage.objects.filter(pk=stage.pk).exists()
        assert not Pipeline.objects.filter(pk=pipeline.pk).exists()
    b = token_client(owner_b, tenant_b)
    assert "Alpha secret" not in b.get("/api/v1/deals/").content.decode()
    for url in (
        f"/api/v1/deals/{deal.pk}/",
        f"/api/v1/deals/{deal.pk}/stage-changes/",
        f"/api/v1/stages/{stage.pk}/",
        f"/api/v1/pipelines/{pipeline.pk}/",
    ):
        answer = b.get(url)
        assert answer.status_code == 404, url
        assert answer["Content-Type"] == "application/problem+json"
    assert post(b, f"/api/v1/deals/{deal.pk}/move/", {"stage": 1}).status_code == 404
    assert (
        b.patch(
            f"/api/v1/deals/{deal.pk}/", {"name": "x"}, content_type="application/json"
        ).status_code
        == 404
    )
    assert b.delete(f"/api/v1/deals/{deal.pk}/").status_code == 404
    assert post(b, f"/api/v1/stages/{stage.pk}/archive/", {}).status_code == 404
    with tenant_context(tenant_a):
        assert Deal.objects.filter(pk=deal.pk, name="Alpha secret").exists()
