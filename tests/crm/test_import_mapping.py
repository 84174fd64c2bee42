"""Importing through a column mapping: proposed from the headings, chosen, remembered for the
next file with the same headings (in that organization only); leads and deals as well as
contacts; and dates read in the file's order, never guessed."""

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context
from hypothesis import given, settings
from hypothesis import strategies as st

from crm import imports, services
from crm.exceptions import ContactImportInvalid
from crm.models import (
    Company,
    Contact,
    ContactImport,
    CustomField,
    Deal,
    ImportMapping,
    Lead,
    Pipeline,
    Tag,
)
from crm.selectors.imports import import_mapping_get
from crm.services.pipelines import pipeline_create
from iam.models import User
from problems.exceptions import InvalidFields
from tenants.models import Tenant
from tests.conftest import host_of, token_client

pytestmark = pytest.mark.django_db


def _errors(caught: pytest.ExceptionInfo[InvalidFields]) -> dict[str, list[str]]:
    return caught.value.field_errors()


# The mapping ---------------------------------------------------------------------------


def test_the_proposal_matches_headings_whatever_their_case_spaces_and_accents(
    tenant_a: Tenant,
) -> None:
    headings = ["  Prénom ", "NOM", "E-Mail Address", "Téléphone", "Notes"]
    with tenant_context(tenant_a):
        proposal = imports.mapping_propose("contact", ["First-Name", "e_mail", "Nöte"])
    assert proposal == {"First-Name": "first_name", "e_mail": "email", "Nöte": ""}
    assert imports.mapping_propose("contact", headings)["E-Mail Address"] == "email"


def test_odd_headings_are_imported_by_the_mapping_given_and_other_columns_left_out(
    tenant_a: Tenant,
) -> None:
    text = "Vorname,Nachname,Elektropost,Notiz\nAda,Lovelace,ada@engine.test,private\n"
    mapping = {"Vorname": "first_name", "Nachname": "last_name", "Elektropost": "email"}
    with tenant_context(tenant_a):
        result = services.contact_import(by=None, content=text.encode(), mapping=mapping)
        ada = Contact.objects.get()
    assert (ada.first_name, ada.last_name, ada.email) == ("Ada", "Lovelace", "ada@engine.test")
    assert result.report["columns"] == mapping
    assert result.report["ignored_columns"] == ["Notiz"]


def test_a_column_the_proposal_would_fill_is_left_out_when_mapped_to_nothing(
    tenant_a: Tenant,
) -> None:
    text = "First name,Email,Phone\nAda,ada@engine.test,+44 1\n"
    mapping = {"First name": "first_name", "Email": "email", "Phone": ""}
    with tenant_context(tenant_a):
        services.contact_import(by=None, content=text.encode(), mapping=mapping)
        assert Contact.objects.get().phone == ""


def test_a_custom_field_is_a_target_by_its_key(tenant_a: Tenant) -> None:
    text = "Name,Badge\nAda Lovelace,B-7\n"
    with tenant_context(tenant_a):
        services.custom_field_create(by=None, entity="contact", label="Passport", type="text")
        targets = {t.name: t.label for t in imports.targets("contact", _definitions())}
        assert targets["custom.passport"] == "Passport"
        services.contact_import(
            by=None, content=text.encode(), mapping={"Name": "name", "Badge": "custom.passport"}
        )
        assert Contact.objects.get().custom == {"passport": "B-7"}


def _definitions() -> list[CustomField]:
    from crm.selectors import custom_field_list

    return list(custom_field_list(entity="contact"))


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"Name": "name", "Mail": "email", "Other": "email"}, "both fill E-mail"),
        ({"Name": "name", "Missing": "email"}, "The file has no column “Missing”."),
        ({"Name": "shoe_size"}, "“shoe_size” (for “Name”) is not a field of contacts"),
        (
            {"Mail": "", "Name": ""},
            "Map a column to the first name, last name, full name, e-mail or phone.",
        ),
    ],
)
def test_a_mapping_that_does_not_fit_the_file_is_a_mapping_error(
    tenant_a: Tenant, mapping: dict[str, str], message: str
) -> None:
    text = "Name,Mail,Other\nAda,ada@engine.test,x@y.test\n"
    with tenant_context(tenant_a), pytest.raises(InvalidFields) as caught:
        services.contact_import(by=None, content=text.encode(), mapping=mapping)
    assert any(message in m for m in _errors(caught)["mapping"]), _errors(caught)
    with tenant_context(tenant_a):
        assert not Contact.objects.exists()


def test_a_chosen_mapping_is_remembered_and_used_for_the_next_file_with_the_same_headings(
    tenant_a: Tenant,
) -> None:
    mapping = {"Who": "name", "Reach": "email", "Badge": ""}
    with tenant_context(tenant_a):
        services.contact_import(
            by=None, content=b"Who,Reach,Badge\nAda Lovelace,ada@engine.test,1\n", mapping=mapping
        )
        remembered = import_mapping_get(entity="contact", headings=["Badge", "Reach", "Who"])
        assert remembered is not None and remembered.mapping == mapping
        # The next file: the same headings in another order, no mapping sent.
        again = services.contact_import(
            by=None, content=b"Reach,Badge,Who\ngrace@cobol.test,2,Grace Hopper\n"
        )
        grace = Contact.objects.get(last_name="Hopper")
    assert again.report["columns"] == {"Reach": "email", "Who": "name"}
    assert (grace.first_name, grace.email) == ("Grace", "grace@cobol.test")


def test_a_dry_run_or_a_failed_import_remembers_nothing(tenant_a: Tenant) -> None:
    mapping = {"Who": "name", "Reach": "email"}
    with tenant_context(tenant_a):
        services.contact_import(
            by=None, content=b"Who,Reach\nAda,ada@engine.test\n", mapping=mapping, dry_run=True
        )
        with pytest.raises(ContactImportInvalid):
            services.contact_import(
                by=None, content=b"Who,Reach\nAda,not-an-address\n", mapping=mapping
            )
        assert not ImportMapping.objects.exists()


def test_a_mapping_remembered_in_one_organization_is_never_proposed_in_another(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    text = b"Who,Reach\nAda Lovelace,ada@engine.test\n"
    with tenant_context(tenant_a):
        services.contact_import(by=None, content=text, mapping={"Who": "name", "Reach": "email"})
        assert import_mapping_get(entity="contact", headings=["Who", "Reach"]) is not None
    with tenant_context(tenant_b):
        assert import_mapping_get(entity="contact", headings=["Who", "Reach"]) is None
        with pytest.raises(InvalidFields) as caught:
            services.contact_import(by=None, content=text)
        assert "none was recognised" in _errors(caught)["file"][0]
        assert not Contact.objects.exists()


def test_a_remembered_mapping_of_a_deleted_custom_field_falls_back_to_the_proposal(
    tenant_a: Tenant,
) -> None:
    with tenant_context(tenant_a):
        field = services.custom_field_create(by=None, entity="contact", label="Badge", type="text")
        mapping = {"Name": "name", "Number": "custom.badge"}
        services.contact_import(by=None, content=b"Name,Number\nAda L,1\n", mapping=mapping)
        services.custom_field_delete(field=field, by=None)
        result = services.contact_import(by=None, content=b"Name,Number\nBob M,2\n")
    assert result.report["columns"] == {"Name": "name"}
    assert result.report["ignored_columns"] == ["Number"]


# Dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "order"),
    [
        (["03/04/1920", "25/03/1990"], "DMY"),  # one value settles the whole column
        (["03/04/1920", "03/25/1990"], "MDY"),
        (["1990-03-25", "1920/04/03", ""], ""),  # year first needs no order
        (["05/05/1990", "12/12/2001"], ""),  # the same date whichever order
        (["03/04/1920", "05.06.1921"], None),  # every value ambiguous: asked
        (["25/03/1990", "03/25/1990"], None),  # both orders in one column: asked
    ],
)
def test_a_date_columns_order_is_settled_by_the_whole_column_or_left_open(
    values: list[str], order: str | None
) -> None:
    assert imports.date_order_detect(values)[0] == order


def test_dates_that_read_the_same_either_way_are_imported_without_asking(
    tenant_a: Tenant,
) -> None:
    with tenant_context(tenant_a):
        services.contact_import(by=None, content=b"Name,Birthday\nAda L,05/05/1990\n")
        assert Contact.objects.get().birthday == dt.date(1990, 5, 5)


def test_a_date_column_settled_by_one_value_is_read_in_that_order(tenant_a: Tenant) -> None:
    text = "Name,Birthday\nAda Lovelace,03/04/1920\nGrace Hopper,25/03/1990\n"
    with tenant_context(tenant_a):
        result = services.contact_import(by=None, content=text.encode())
        birthdays = {c.first_name: c.birthday for c in Contact.objects.all()}
    assert birthdays == {"Ada": dt.date(1920, 4, 3), "Grace": dt.date(1990, 3, 25)}
    assert result.report["date_orders"] == {"Birthday": "DMY"}


def test_ambiguous_dates_are_never_guessed_the_order_is_asked_for(tenant_a: Tenant) -> None:
    text = b"Name,Birthday\nAda Lovelace,03/04/1920\nGrace Hopper,05/06/1906\n"
    with tenant_context(tenant_a), pytest.raises(InvalidFields) as caught:
        services.contact_import(by=None, content=text)
    message = _errors(caught)["date_order"][0]
    assert "“Birthday”" in message and "03/04/1920" in message
    with tenant_context(tenant_a):
        assert not Contact.objects.exists()
        services.contact_import(by=None, content=text, date_order="MDY")
        ada = Contact.objects.get(first_name="Ada")
    assert ada.birthday == dt.date(1920, 3, 4)


def test_the_date_order_chosen_with_a_mapping_is_remembered_with_it(tenant_a: Tenant) -> None:
    mapping = {"Name": "name", "Born": "birthday"}
    with tenant_context(tenant_a):
        services.contact_import(
            by=None,
            content=b"Name,Born\nAda Lovelace,03/04/1920\n",
            mapping=mapping,
            date_order="DMY",
        )
        services.contact_import(by=None, content=b"Name,Born\nGrace Hopper,05/06/1906\n")
        grace = Contact.objects.get(first_name="Grace")
    assert grace.birthday == dt.date(1906, 6, 5)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("31/02/1990", "“31/02/1990” is not a date; write it as DD/MM/YYYY or YYYY-MM-DD."),
        ("10th of December", "“10th of December” is not a date; write it as DD/MM/YYYY"),
        ("03/04/20", "“03/04/20” has a two-digit year; write it as DD/MM/YYYY"),
    ],
)
def test_a_bad_date_names_its_row_its_value_and_the_format_expected(
    tenant_a: Tenant, value: str, message: str
) -> None:
    text = f"Name,Birthday\nAda Lovelace,25/12/1815\nGrace Hopper,{value}\n"
    with tenant_context(tenant_a), pytest.raises(ContactImportInvalid) as caught:
        services.contact_import(by=None, content=text.encode())
    errors = _errors(caught)
    assert set(errors) == {"rows.3.birthday"}
    assert errors["rows.3.birthday"][0].startswith(message)


def test_a_date_custom_field_is_read_in_the_files_order(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        services.custom_field_create(by=None, entity="contact", label="Renewal", type="date")
        services.contact_import(
            by=None, content=b"Name,Renewal\nAda L,12/31/2027\nBob M,01/02/2027\n"
        )
        renewals = {c.first_name: c.custom["renewal"] for c in Contact.objects.all()}
    assert renewals == {"Ada": "2027-12-31", "Bob": "2027-01-02"}


# Leads ---------------------------------------------------------------------------------


def test_leads_are_imported_with_their_source_status_owner_and_tags(
    tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    text = (
        "Full name,Work email,Company,Lead source,Status,Owner,Tags\n"
        "Ada Lovelace,ada@engine.test,Engines,Referral,working,OWNER@alpha.test,vip; eu\n"
        "Grace Hopper,grace@cobol.test,,,,,\n"
        "Ada twin,ADA@engine.test,,,,,\n"
    )
    with tenant_context(tenant_a):
        result = services.lead_import(by=member_a, content=text.encode())
        ada = Lead.objects.get(last_name="Lovelace")
        grace = Lead.objects.get(last_name="Hopper")
        assert sorted(t.name for t in ada.tags.all()) == ["eu", "vip"]
    assert (result.entity, result.records_created, result.rows_skipped) == ("lead", 2, 1)
    assert result.report["skipped"] == [{"row": 4, "reason": "duplicate-row", "of_row": 2}]
    assert (ada.first_name, ada.company_name, ada.email) == ("Ada", "Engines", "ada@engine.test")
    assert (ada.source, ada.status, ada.owner_id) == ("referral", "working", owner_a.pk)
    assert (grace.source, grace.status, grace.owner_id) == ("import", "new", member_a.pk)


def test_bad_lead_rows_are_named_and_nothing_is_imported(tenant_a: Tenant) -> None:
    text = (
        "Last name,Email,Source,Owner,Status\n"
        "Lovelace,ada@engine.test,Friend,,\n"
        "Hopper,grace@cobol.test,,stranger@else.test,\n"
        ",nobody@x.test,,,\n"
        "Turing,alan@x.test,,,disqualified\n"
    )
    with tenant_context(tenant_a), pytest.raises(ContactImportInvalid) as caught:
        services.lead_import(by=None, content=text.encode())
    errors = _errors(caught)
    assert set(errors) == {
        "rows.2.source",
        "rows.3.owner",
        "rows.4.last_name",
        "rows.5.disqualified_reason",
    }
    assert errors["rows.2.source"][0].startswith("“Friend” is not a source; use one of: Website")
    assert errors["rows.3.owner"] == ["“stranger@else.test” is not the e-mail address of a member."]
    with tenant_context(tenant_a):
        assert not Lead.objects.exists()
    assert caught.value.summary.records_created == 0


def test_a_lead_already_there_is_skipped(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        old = services.leads.lead_create(by=None, last_name="Old", email="old@x.test")
        result = services.lead_import(by=None, content=b"Name,Email\nOld Again,OLD@x.test\n")
        assert Lead.objects.count() == 1
    assert result.report["skipped"] == [{"row": 2, "reason": "existing-lead", "lead": old.pk}]


# Deals ---------------------------------------------------------------------------------


def test_deals_are_imported_into_the_pipeline_and_stage_they_name(
    tenant_a: Tenant, owner_a: User
) -> None:
    text = (
        "Deal,Account,Value,Currency,Pipeline,Deal stage,Close date,Owner,Tags\n"
        "Engines for Ada,Engines,1250.50,eur,Partners,Signed,31/12/2027,owner@alpha.test,big\n"
        "Cobol,,300,,,negotiation,01/02/2027,,\n"
        "Bare,,,,,,,,\n"
    )
    with tenant_context(tenant_a):
        partners = pipeline_create(by=None, name="Partners", stages=["Talking", "Signed"])
        result = services.deal_import(by=None, content=text.encode())
        engines = Deal.objects.select_related("stage", "company").get(name="Engines for Ada")
        cobol = Deal.objects.select_related("stage").get(name="Cobol")
        bare = Deal.objects.select_related("stage").get(name="Bare")
        sales = Pipeline.objects.get(is_default=True)
        assert [t.name for t in engines.tags.all()] == ["big"]
        assert Company.objects.get().name == "Engines"
    assert (result.entity, result.records_created, result.companies_created) == ("deal", 3, 1)
    assert (engines.pipeline_id, engines.stage.name) == (partners.pk, "Signed")
    assert (engines.amount, engines.currency) == (Decimal("1250.50"), "EUR")
    assert engines.expected_close_on == dt.date(2027, 12, 31)
    assert engines.owner_id == owner_a.pk
    assert (cobol.pipeline_id, cobol.stage.name) == (sales.pk, "Negotiation")
    assert cobol.expected_close_on == dt.date(2027, 2, 1)
    assert (bare.pipeline_id, bare.stage.position, bare.amount) == (sales.pk, 0, Decimal(0))


def test_an_unknown_stage_pipeline_or_currency_is_named_with_its_row(tenant_a: Tenant) -> None:
    text = (
        "Name,Stage,Pipeline,Currency,Amount\n"
        "Good,Won,,,10\n"
        "Dreaming,Daydream,,,\n"
        "Elsewhere,,Moonshots,,\n"
        "Coins,,,XYZ,-5\n"
    )
    with tenant_context(tenant_a), pytest.raises(ContactImportInvalid) as caught:
        services.deal_import(by=None, content=text.encode())
    errors = _errors(caught)
    assert set(errors) == {"rows.3.stage", "rows.4.pipeline", "rows.5.currency", "rows.5.amount"}
    assert errors["rows.3.stage"] == [
        "The pipeline “Sales” has no stage “Daydream”; choose one of: Lead in, Qualified, "
        "Proposal sent, Negotiation, Won, Lost."
    ]
    assert errors["rows.4.pipeline"] == ["There is no pipeline “Moonshots”; choose one of: Sales."]
    with tenant_context(tenant_a):
        assert not Deal.objects.exists()
    assert caught.value.summary.records_created == 1


def test_a_deal_file_without_a_name_column_is_refused(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a), pytest.raises(InvalidFields) as caught:
        services.deal_import(by=None, content=b"Amount,Stage\n10,Won\n")
    assert "deal name column" in _errors(caught)["file"][0]


def test_imports_of_each_kind_are_listed_apart(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        services.deal_import(by=None, content=b"Name\nOne deal\n", filename="deals.csv")
        services.lead_import(by=None, content=b"Name\nOne Lead\n", filename="leads.csv")
        kinds = dict(ContactImport.objects.values_list("filename", "entity"))
    assert kinds == {"deals.csv": "deal", "leads.csv": "lead"}


# The API -------------------------------------------------------------------------------


@pytest.fixture
def api(tenant_a: Tenant, member_a: User) -> Client:
    return token_client(member_a, tenant_a)


def _post(api: Client, url: str, text: str, **fields: Any) -> Any:
    upload = SimpleUploadedFile("file.csv", text.encode(), "text/csv")
    return api.post(url, {"file": upload, **fields})


def test_the_api_imports_by_the_mapping_sent_and_remembers_it(
    api: Client, tenant_a: Tenant
) -> None:
    text = "Who,Reach,Born\nAda Lovelace,ada@engine.test,1815-12-10\n"
    mapping = json.dumps({"Who": "name", "Reach": "email", "Born": "birthday"})
    response = _post(api, "/api/v1/contacts/import/", text, mapping=mapping)
    assert response.status_code == 201, response.content
    assert response.json()["report"]["columns"] == {
        "Who": "name",
        "Reach": "email",
        "Born": "birthday",
    }
    again = _post(api, "/api/v1/contacts/import/", "Born,Who\n1906-12-09,Grace Hopper\n")
    assert again.status_code == 400  # other headings: nothing remembered, nothing recognised
    same = _post(api, "/api/v1/contacts/import/", "Born,Who,Reach\n1906-12-09,Grace Hopper,\n")
    assert same.status_code == 201, same.content
    with tenant_context(tenant_a):
        assert Contact.objects.get(first_name="Grace").birthday == dt.date(1906, 12, 9)


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"mapping": "not json"}, "mapping"),
        ({"mapping": '["Name"]'}, "mapping"),
        ({"mapping": '{"Name": "salary"}'}, "mapping"),
        ({"date_order": "DDMMYY"}, "date_order"),
    ],
)
def test_a_bad_mapping_or_date_order_is_a_field_error(
    api: Client, fields: dict[str, str], name: str
) -> None:
    response = _post(api, "/api/v1/contacts/import/", "Name\nAda L\n", **fields)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert set(response.json()["errors"]) == {name}


def test_the_api_asks_for_the_date_order_naming_the_column(api: Client, tenant_a: Tenant) -> None:
    text = "Deal name,Close date\nOne,03/04/2027\nTwo,05/06/2027\n"
    asked = _post(api, "/api/v1/deals/import/", text)
    assert asked.status_code == 400
    message = asked.json()["errors"]["date_order"][0]
    assert "“Close date”" in message and "03/04/2027" in message
    done = _post(api, "/api/v1/deals/import/", text, date_order="DMY")
    assert done.status_code == 201, done.content
    body = done.json()
    assert (body["entity"], body["records_created"]) == ("deal", 2)
    assert body["report"]["date_orders"] == {"Close date": "DMY"}
    with tenant_context(tenant_a):
        assert Deal.objects.get(name="One").expected_close_on == dt.date(2027, 4, 3)


def test_the_api_imports_leads_with_a_dry_run_first(api: Client, tenant_a: Tenant) -> None:
    text = "Name,Email,Stage\nAda Lovelace,ada@engine.test,Qualified\n"
    dry = _post(api, "/api/v1/leads/import/", text, dry_run="true")
    assert dry.status_code == 200, dry.content
    assert (dry.json()["dry_run"], dry.json()["records_created"]) == (True, 1)
    with tenant_context(tenant_a):
        assert not Lead.objects.exists()
    done = _post(api, "/api/v1/leads/import/", text)
    assert done.status_code == 201
    with tenant_context(tenant_a):
        assert Lead.objects.get().status == "qualified"


@pytest.mark.parametrize("url", ["/api/v1/leads/import/", "/api/v1/deals/import/"])
def test_a_token_of_one_organization_cannot_import_leads_or_deals_into_another(
    tenant_a: Tenant, tenant_b: Tenant, member_a: User, url: str
) -> None:
    at_b = token_client(member_a, tenant_a, host=tenant_b)
    assert _post(at_b, url, "Name\nIntruder\n").status_code == 401
    with tenant_context(tenant_b):
        assert not Lead.objects.exists() and not Deal.objects.exists()


@pytest.mark.parametrize("url", ["/api/v1/leads/import/", "/api/v1/deals/import/"])
def test_a_lead_or_deal_import_refuses_an_oversized_body_unread(api: Client, url: str) -> None:
    big = SimpleUploadedFile("big.csv", b"Name\n" + b"x" * (6 * 1024 * 1024), "text/csv")
    response = api.post(url, {"file": big})
    assert response.status_code == 400
    assert response.json()["errors"]["file"] == ["The file is larger than 5 MB; split it."]


# The pages -----------------------------------------------------------------------------


def _page_step(client: Client, url: str, text: str, **fields: Any) -> Any:
    upload = SimpleUploadedFile("file.csv", text.encode(), "text/csv")
    return client.post(url, {"file": upload, "on_duplicate": "skip", **fields})


def _chosen(step: Any) -> dict[str, str]:
    return {c["heading"]: c["chosen"] for c in step.columns}


def test_the_mapping_step_shows_each_column_with_samples_and_a_proposal(
    client_a: Client,
) -> None:
    text = "Vorname,E-Mail,Notiz\nAda,ada@engine.test,first\nGrace,grace@cobol.test,\n"
    page = _page_step(client_a, "/contacts/import/", text, step="map")
    assert page.status_code == 200
    step = page.context["mapping_step"]
    assert _chosen(step) == {"Vorname": "", "E-Mail": "email", "Notiz": ""}
    assert [c["samples"] for c in step.columns] == [
        ["Ada", "Grace"],
        ["ada@engine.test", "grace@cobol.test"],
        ["first"],
    ]
    content = page.content.decode()
    assert '<select id="column-1" name="column-1">' in content
    assert '<option value="email" selected>E-mail</option>' in content
    with tenant_context(Tenant.objects.get(slug="alpha")):
        assert not Contact.objects.exists()  # reading the columns imports nothing


def test_the_page_proposes_the_mapping_chosen_last_time_for_the_same_headings(
    client_a: Client, tenant_a: Tenant
) -> None:
    text = "Vorname,Mail\nAda,ada@engine.test\n"
    first = _page_step(client_a, "/contacts/import/", text, step="map").context["mapping_step"]
    done = _page_step(
        client_a,
        "/contacts/import/",
        text,
        step="import",
        headings_digest=first.digest,
        **{"column-0": "first_name", "column-1": "email"},
    )
    assert done.status_code == 200, done.context.get("row_errors")
    again = _page_step(client_a, "/contacts/import/", "Mail,Vorname\nx@y.test,Bob\n", step="map")
    step = again.context["mapping_step"]
    assert _chosen(step) == {"Mail": "email", "Vorname": "first_name"}
    assert "as last time" in step.note


def test_the_page_asks_for_the_date_order_and_imports_with_it(
    client_a: Client, tenant_a: Tenant
) -> None:
    text = "Deal,Close date\nOne,03/04/2027\n"
    step = _page_step(client_a, "/deals/import/", text, step="map").context["mapping_step"]
    assert "“Close date”" in step.date_order_asked
    mapping = {"column-0": "name", "column-1": "expected_close_on"}
    asked = _page_step(
        client_a, "/deals/import/", text, step="check", headings_digest=step.digest, **mapping
    )
    assert asked.status_code == 400
    assert "day first or month first" in asked.context["mapping_step"].date_order_errors[0]
    done = _page_step(
        client_a,
        "/deals/import/",
        text,
        step="import",
        headings_digest=step.digest,
        date_order="MDY",
        **mapping,
    )
    assert done.status_code == 200
    assert done.context["result"].records_created == 1
    with tenant_context(tenant_a):
        assert Deal.objects.get().expected_close_on == dt.date(2027, 3, 4)


def test_a_file_with_other_columns_goes_back_to_the_mapping_step(client_a: Client) -> None:
    first = _page_step(client_a, "/leads/import/", "Name\nAda L\n", step="map")
    other = _page_step(
        client_a,
        "/leads/import/",
        "Name,Email\nAda L,a@x.test\n",
        step="import",
        headings_digest=first.context["mapping_step"].digest,
        **{"column-0": "name"},
    )
    assert other.context["result"] is None
    assert "other columns" in other.context["mapping_step"].note


def test_the_lead_page_imports_leads(client_a: Client, tenant_a: Tenant) -> None:
    text = "Name,Email\nAda Lovelace,ada@engine.test\n"
    step = _page_step(client_a, "/leads/import/", text, step="map").context["mapping_step"]
    done = _page_step(
        client_a,
        "/leads/import/",
        text,
        step="import",
        headings_digest=step.digest,
        **{f"column-{c['index']}": c["chosen"] for c in step.columns},
    )
    assert done.status_code == 200
    assert b"Leads added" in done.content
    with tenant_context(tenant_a):
        assert Lead.objects.get().email == "ada@engine.test"
    listed = client_a.get("/leads/import/").content.decode()
    assert "Recent imports" in listed and "file.csv" in listed
    assert "file.csv" not in client_a.get("/deals/import/").content.decode()


@pytest.mark.parametrize("url", ["/leads/import/", "/deals/import/"])
def test_a_signed_in_non_member_gets_403_on_the_lead_and_deal_import_pages(
    tenant_b: Tenant, member_a: User, url: str
) -> None:
    client = Client(HTTP_HOST=host_of(tenant_b))
    client.force_login(member_a)
    assert client.get(url).status_code == 403
    upload = SimpleUploadedFile("x.csv", b"Name\nX\n", "text/csv")
    assert client.post(url, {"file": upload, "step": "import"}).status_code == 403
    with tenant_context(tenant_b):
        assert not Lead.objects.exists() and not Deal.objects.exists()


def test_the_lists_link_to_their_import_pages(client_a: Client) -> None:
    assert 'href="/leads/import/"' in client_a.get("/leads/").content.decode()
    assert 'href="/deals/import/"' in client_a.get("/deals/").content.decode()


_dates = st.lists(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31)))


@settings(max_examples=200, deadline=None)
@given(dates=_dates, order=st.sampled_from(["DMY", "MDY"]), separator=st.sampled_from("/.-"))
def test_a_column_of_dates_is_read_back_as_written_or_its_order_is_asked_for(
    dates: list[dt.date], order: str, separator: str
) -> None:
    """Whatever the dates, a column written day first or month first is either read back
    exactly, or (when no value settles it) its order is asked for: never read the other way."""

    def written(date: dt.date) -> str:
        day, month = f"{date.day:02}", f"{date.month:02}"
        first, second = (day, month) if order == "DMY" else (month, day)
        return f"{first}{separator}{second}{separator}{date.year}"

    values = [written(d) for d in dates]
    detected, _ = imports.date_order_detect(values)
    settles = any(d.day > 12 and d.day != d.month for d in dates)
    if settles:
        assert detected == order
        assert [imports.date_read(v, detected) for v in values] == dates
    else:
        assert detected in (None, "")  # asked for, or nothing to settle (no values)
        assert detected == ("" if not dates or all(d.day == d.month for d in dates) else None)


def test_the_import_page_reads_its_recent_imports_in_one_statement(
    client_a: Client, tenant_a: Tenant, django_assert_max_num_queries: Any
) -> None:
    with tenant_context(tenant_a):
        services.lead_import(by=None, content=b"Name\nOne Lead\n", filename="one.csv")
    client_a.get("/leads/import/")  # warm: the session, the membership, the tenant
    with CaptureQueriesContext(connection) as one:
        assert client_a.get("/leads/import/").status_code == 200
    with tenant_context(tenant_a):
        for i in range(4):
            services.lead_import(by=None, content=f"Name\nLead {i}\n".encode(), filename=f"{i}")
    with django_assert_max_num_queries(len(one.captured_queries)):
        page = client_a.get("/leads/import/")
    assert page.content.decode().count("<tr><td>") == 5


def test_tags_are_held_to_their_rules_and_shared_across_rows(tenant_a: Tenant) -> None:
    long = "x" * 51
    with tenant_context(tenant_a), pytest.raises(ContactImportInvalid) as caught:
        services.deal_import(by=None, content=f"Name,Tags\nOne,vip\nTwo,{long}\n".encode())
    assert set(_errors(caught)) == {"rows.3.tags"}
    with tenant_context(tenant_a):
        services.lead_import(by=None, content=b"Name,Tags\nAda L,VIP;eu\nBob M,vip\n")
        services.deal_import(by=None, content=b"Name,Tags\nBig,Vip\n")
        assert set(Tag.objects.values_list("name", flat=True)) == {"eu", "VIP"}
        assert {
            lead.last_name: sorted(t.name for t in lead.tags.all()) for lead in Lead.objects.all()
        } == {
            "L": ["VIP", "eu"],
            "M": ["VIP"],
        }
        assert [t.name for t in Deal.objects.get().tags.all()] == ["VIP"]
