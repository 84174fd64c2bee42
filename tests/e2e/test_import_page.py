"""The import pages in a real browser: the columns are mapped after the upload, a dry run
shows the rows to fix beside everything else the file would do, and the file chosen for it
stays chosen for each step that follows (mapping, check, import)."""

import datetime as dt
import uuid
from typing import Any

import pytest
from django_tenants.utils import tenant_context

from crm.models import Contact
from tenants.models import Tenant

from .test_accessibility import serious_violations
from .test_journeys import _sign_up

pytestmark = pytest.mark.django_db

GOOD = (
    "Name;E-mail;Company\nAda Lovelace;ada@engine.test;Engines\n"
    "Grace Hopper;grace@cobol.test;\nAda again; ADA@engine.test ;\n"
)


@pytest.fixture
def slug() -> str:
    return f"e2e-{uuid.uuid4().hex[:8]}"


def _choose(page: Any, text: str) -> None:
    page.set_input_files(
        "input[name=file]", {"name": "people.csv", "mimeType": "text/csv", "buffer": text.encode()}
    )


def _chosen(page: Any) -> list[str]:
    return list(page.eval_on_selector("input[name=file]", "e => [...e.files].map(f => f.name)"))


@pytest.mark.parametrize(
    "viewport", [{"width": 1280, "height": 800}, {"width": 390, "height": 844}]
)
def test_a_dry_run_shows_the_whole_picture_and_the_same_file_is_then_imported(
    live_url: str, browser: Any, slug: str, viewport: dict[str, int]
) -> None:
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    _sign_up(page, live_url, slug, "Careful Importers")
    page.goto(f"{host}/contacts/import/")
    tenant = Tenant.objects.get(slug=slug)

    _choose(page, GOOD + "Bad Row;not-an-address;\n")
    page.click("[data-testid=import-upload]")
    page.wait_for_selector("[data-testid=import-mapping]")
    page.click("[data-testid=import-check]")
    page.wait_for_selector("[data-testid=row-errors]")
    assert "Row 5, E-mail" in page.inner_text("[data-testid=row-errors]")
    assert page.locator("[data-testid=import-counts]").is_visible()  # beside the errors
    assert page.inner_text("[data-count=created]") == "2"
    assert page.inner_text("[data-count=skipped]") == "1"
    assert "Same contact as row 2" in page.content()
    assert _chosen(page) == ["people.csv"]  # still chosen

    _choose(page, GOOD)  # the fixed file, with the same columns
    page.click("[data-testid=import-check]")
    page.wait_for_selector(":text('The file is ready to import')")
    with tenant_context(tenant):
        assert not Contact.objects.exists()
    assert _chosen(page) == ["people.csv"]

    page.click("[data-testid=import-now]")  # no need to choose the file again
    page.wait_for_selector(":text('Imported people.csv')")
    assert page.inner_text("[data-count=created]") == "2"
    with tenant_context(tenant):
        assert sorted(c.email for c in Contact.objects.all()) == [
            "ada@engine.test",
            "grace@cobol.test",
        ]
    context.close()


ODD = (
    "Wer;Elektropost;Geboren;Firma;Bemerkung\n"
    "Ada Lovelace;ada@engine.test;03/04/1915;Engines;first\n"
    "Grace Hopper;grace@cobol.test;05/06/1906;;\n"
)


@pytest.mark.parametrize(
    "viewport", [{"width": 1280, "height": 800}, {"width": 390, "height": 844}]
)
def test_odd_headings_are_mapped_the_date_order_chosen_then_checked_and_imported(
    live_url: str, browser: Any, slug: str, viewport: dict[str, int]
) -> None:
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    _sign_up(page, live_url, slug, "Mapping Importers")
    tenant = Tenant.objects.get(slug=slug)
    page.goto(f"{host}/contacts/")
    page.click("a[href='/contacts/import/']")
    page.wait_for_url(f"{host}/contacts/import/")

    _choose(page, ODD)
    page.click("[data-testid=import-upload]")
    page.wait_for_selector("[data-testid=import-mapping]")
    mapping = page.locator("[data-testid=import-mapping]")
    assert "ada@engine.test" in mapping.inner_text()  # a sample of each column
    assert "day first or month first" in page.inner_text("[data-testid=open-dates]")
    page.select_option("select[name=column-0]", "name")
    page.select_option("select[name=column-1]", "email")
    page.select_option("select[name=column-2]", "birthday")
    page.select_option("select[name=column-3]", "company")
    assert page.input_value("select[name=column-4]") == ""  # left out
    page.select_option("select[name=date_order]", "DMY")
    assert not serious_violations(page)  # the mapping step, as swapped in
    if viewport["width"] < 400:  # nothing wider than the phone
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], width

    page.click("[data-testid=import-check]")
    page.wait_for_selector(":text('The file is ready to import')")
    assert page.inner_text("[data-count=created]") == "2"
    with tenant_context(tenant):
        assert not Contact.objects.exists()

    page.click("[data-testid=import-now]")
    page.wait_for_selector(":text('Imported people.csv')")
    page.click("a:has-text('See contacts')")
    page.wait_for_url(f"{host}/contacts/")
    assert "Ada Lovelace" in page.content() and "Grace Hopper" in page.content()
    with tenant_context(tenant):
        born = {c.first_name: c.birthday for c in Contact.objects.select_related("company")}
        assert born == {"Ada": dt.date(1915, 4, 3), "Grace": dt.date(1906, 6, 5)}

    # The next file with these headings is mapped as this one was.
    page.goto(f"{host}/contacts/import/")
    _choose(page, ODD.replace("Ada Lovelace", "Ada Byron"))
    page.click("[data-testid=import-upload]")
    page.wait_for_selector("[data-testid=import-mapping]")
    assert page.input_value("select[name=column-2]") == "birthday"
    assert page.input_value("select[name=date_order]") == "DMY"
    context.close()


def test_deals_are_imported_from_their_list_page(live_url: str, browser: Any, slug: str) -> None:
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    _sign_up(page, live_url, slug, "Deal Importers")
    page.goto(f"{host}/deals/")
    page.click("a[href='/deals/import/']")
    _choose(page, "Deal name,Stage,Amount\nBig one,Negotiation,1200\n")
    page.click("[data-testid=import-upload]")
    page.wait_for_selector("[data-testid=import-mapping]")
    page.click("[data-testid=import-run]")
    page.wait_for_selector(":text('Imported people.csv')")
    assert page.inner_text("[data-count=created]") == "1"
    page.click("a:has-text('See deals')")
    page.wait_for_url(f"{host}/deals/")
    assert "Big one" in page.content()
    context.close()
